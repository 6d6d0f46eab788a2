package tinycore

import (
	"errors"
	"github.com/razor-mk/razor-mk/tcz"
	"io/fs"
)

// Errors of this package; callers test them with errors.Is. Errors that
// wrap them name the extension, file or URL concerned.
var (
	// ErrBadName: an extension name is not a valid file name.
	ErrBadName = tcz.ErrBadName
	// ErrBadSidecar: a .md5.txt, .dep or .info file does not parse.
	ErrBadSidecar = tcz.ErrBadSidecar
	// ErrNotFound: the mirror has no such file.
	ErrNotFound = errors.New("tinycore: not on the mirror")
	// ErrUnknownExtension: the mirror has no such extension (no .tcz.md5.txt).
	ErrUnknownExtension = errors.New("tinycore: unknown extension")
	// ErrChecksum: a download does not match its .md5.txt.
	ErrChecksum = errors.New("tinycore: checksum mismatch")
	// ErrCycle: extensions depend on each other in a cycle.
	ErrCycle = errors.New("tinycore: dependency cycle")
	// ErrTooMany: a dependency closure larger than the limit.
	ErrTooMany = errors.New("tinycore: too many extensions")
	// ErrNotTinyCore: an initrd that lacks Tiny Core's boot scripts.
	ErrNotTinyCore = errors.New("tinycore: not a Tiny Core root file system")
	// ErrRelease: a release whose files are missing or inconsistent.
	ErrRelease = errors.New("tinycore: bad release")
)

func truncate(s string, n int) string { return tcz.Truncate(s, n) }

func permOf(p uint32) fs.FileMode { return fs.FileMode(p) & fs.ModePerm }
