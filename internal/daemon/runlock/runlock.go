// Package runlock keeps two razor-netboot servers off one data directory
// or SQLite file. A lock is an flock(2) on a file beside the thing it
// guards: the kernel drops it when the holder exits, however it exits, so
// a stale file never blocks a restart (unlike a PID file). The holder
// writes who it is into the file so that the one refused can name it.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrHeld is wrapped when another process holds the lock.
var ErrHeld = errors.New("runlock: in use")

// Lock is a held lock; Release drops it.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock at path without waiting, creating the file, and
// records holder (a line naming this process) in it. When another process
// holds it, the error wraps ErrHeld and quotes that process's record.
func Acquire(path, holder string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runlock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who, _ := os.ReadFile(path)
			w := strings.TrimSpace(string(who))
			if w == "" {
				w = "another process (it has not said which yet)"
			}
			return nil, fmt.Errorf("%w: %s is locked by %s", ErrHeld, path, w)
		}
		return nil, fmt.Errorf("runlock: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release drops the lock; the file stays (removing it would race with a
// process that has it open and is about to lock it).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}
