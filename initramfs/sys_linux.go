package initramfs

import (
	"io/fs"
	"syscall"
)

// statIDs returns the inode identity, link count and device number of a
// file from its Lstat result.
func statIDs(fi fs.FileInfo) (dev, ino, nlink, rdev uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, 0, false
	}
	return st.Dev, st.Ino, uint64(st.Nlink), st.Rdev, true
}

// mknodat creates a device node, fifo or socket named base in the
// directory open as dirfd, without following a symlink at base.
func mknodat(dirfd uintptr, base string, mode uint32, major, minor uint32) error {
	return syscall.Mknodat(int(dirfd), base, mode, int(mkdev(major, minor)))
}
