//go:build !unix

package runlock

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// flock is a no-op where flock(2) does not exist: razor-netboot serves
// on Linux; elsewhere a second server is not detected.
func flock(*os.File) error { return nil }
