//go:build !linux

package initramfs

import (
	"fmt"
	"io/fs"
)

func statIDs(fs.FileInfo) (dev, ino, nlink, rdev uint64, ok bool) { return 0, 0, 0, 0, false }

func mknodat(uintptr, string, uint32, uint32, uint32) error {
	return fmt.Errorf("%w: creating device nodes is implemented for Linux only", ErrUnsupported)
}
