package tinycore

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// Errors of this package; callers test them with errors.Is. Errors that
// wrap them name the extension, file or URL concerned.
var (
	// ErrBadName: an extension name is not a valid file name.
	ErrBadName = errors.New("tinycore: bad extension name")
	// ErrBadSidecar: a .md5.txt, .dep or .info file does not parse.
	ErrBadSidecar = errors.New("tinycore: bad sidecar file")
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

// KernelPlaceholder is the suffix .dep files and tce-load use for the
// kernel-version-specific extension: "scsi-KERNEL.tcz".
const KernelPlaceholder = "-KERNEL.tcz"

// MaxNameLen bounds an extension's file name.
const MaxNameLen = 200

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]*\.tcz$`)

// CanonicalName returns name as an extension file name: surrounding blanks
// removed and ".tcz" appended when missing, as tce-load does. Names with
// a slash, blanks inside, control characters or that are empty are
// refused.
func CanonicalName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n != "" && !strings.HasSuffix(n, ".tcz") {
		n += ".tcz"
	}
	if len(n) > MaxNameLen || !nameRE.MatchString(n) {
		return "", fmt.Errorf("%w: %q (want a file name such as openssh.tcz: letters, digits, . _ + -)", ErrBadName, truncate(name, 60))
	}
	return n, nil
}

// WithKernel replaces the "-KERNEL.tcz" placeholder of name by the kernel
// release: WithKernel("scsi-KERNEL.tcz", "6.1.2-tinycore64") is
// "scsi-6.1.2-tinycore64.tcz". Other names are returned as they are.
func WithKernel(name, kver string) string {
	if kver == "" || !strings.HasSuffix(name, KernelPlaceholder) {
		return name
	}
	return strings.TrimSuffix(name, KernelPlaceholder) + "-" + kver + ".tcz"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func permOf(p uint32) fs.FileMode { return fs.FileMode(p) & fs.ModePerm }
