package initsys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenConsole opens path (normally /dev/console) for reading and writing
// without making it init's controlling terminal (a ^C there must not
// reach PID 1), and makes it the process's stdin, stdout and stderr.
func OpenConsole(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("initsys: opening %s: %w", path, err)
	}
	for _, std := range []int{0, 1, 2} {
		if err := unix.Dup3(fd, std, 0); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("initsys: %s as fd %d: %w", path, std, err)
		}
	}
	return os.NewFile(uintptr(fd), path), nil
}
