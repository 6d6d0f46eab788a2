package initramfs

import (
	"fmt"
	"syscall"
)

func cmpDev(rdev uint64) string { return fmt.Sprintf("%d,%d", devMajor(rdev), devMinor(rdev)) }

func ownerOf(st *syscall.Stat_t) string { return fmt.Sprintf("%d:%d", st.Uid, st.Gid) }
