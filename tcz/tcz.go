// Package tcz holds the Tiny Core extension file formats that both the
// image builder (builder/tinycore) and the agent's installer (agent/tce)
// read: extension names, the "-KERNEL" placeholder, NAME.tcz.dep and
// NAME.tcz.md5.txt. It depends on the standard library only, so that it
// costs the agent nothing and builds wherever mkbuild does.
package tcz

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Errors; callers test them with errors.Is. Errors that wrap them name
// the extension or file concerned.
var (
	// ErrBadName: an extension name is not a valid file name.
	ErrBadName = errors.New("tcz: bad extension name")
	// ErrBadSidecar: a .md5.txt or .dep file does not parse.
	ErrBadSidecar = errors.New("tcz: bad sidecar file")
)

// KernelPlaceholder is the suffix .dep files and tce-load use for the
// kernel-version-specific extension: "scsi-KERNEL.tcz".
const KernelPlaceholder = "-KERNEL.tcz"

// Limits; real files are far smaller.
const (
	MaxNameLen = 200
	MaxMD5File = 4 << 10
	MaxDepFile = 64 << 10
	MaxDeps    = 1000
)

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
		return "", fmt.Errorf("%w: %q (want a file name such as openssh.tcz: letters, digits, . _ + -)", ErrBadName, Truncate(name, 60))
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

// ParseMD5 parses NAME.tcz.md5.txt, md5sum's output for one file: 32 hex
// digits, blanks (or " *", md5sum's binary mode) and the file's base name,
// which must be name. It returns the digest in lower case.
func ParseMD5(data []byte, name string) (string, error) {
	if len(data) > MaxMD5File {
		return "", fmt.Errorf("%w: %s.md5.txt: larger than %d bytes", ErrBadSidecar, name, MaxMD5File)
	}
	line, rest, _ := bytes.Cut(data, []byte("\n"))
	if len(bytes.TrimSpace(rest)) > 0 {
		return "", fmt.Errorf("%w: %s.md5.txt: more than one line", ErrBadSidecar, name)
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return "", fmt.Errorf("%w: %s.md5.txt: empty", ErrBadSidecar, name)
	}
	sum := strings.ToLower(f[0])
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 16 {
		return "", fmt.Errorf("%w: %s.md5.txt: %q is not an md5 digest (32 hex digits)", ErrBadSidecar, name, Truncate(f[0], 40))
	}
	if len(f) > 2 {
		return "", fmt.Errorf("%w: %s.md5.txt: want \"<md5>  %s\"", ErrBadSidecar, name, name)
	}
	if len(f) == 2 && strings.TrimPrefix(f[1], "*") != name {
		return "", fmt.Errorf("%w: %s.md5.txt: names %q, want %q", ErrBadSidecar, name, Truncate(f[1], 60), name)
	}
	return sum, nil
}

// FormatMD5 renders a .md5.txt file as md5sum writes it.
func FormatMD5(sum, name string) []byte {
	return []byte(sum + "  " + name + "\n")
}

// ParseDep parses NAME.tcz.dep as tce-load reads it ("for d in $(cat
// NAME.tcz.dep)"): the file split on blanks and newlines, so blank lines,
// lines of blanks, a missing final newline, CRLF and an empty file are
// all fine, and two names on a line are two dependencies. Names are taken
// as they are: one without ".tcz" is an error (tce-load would look for a
// file of exactly that name), as is one that is not a valid extension
// file name; the error names the line. Each name comes once; the
// "-KERNEL.tcz" placeholder is kept (see WithKernel).
func ParseDep(data []byte) ([]string, error) {
	if len(data) > MaxDepFile {
		return nil, fmt.Errorf("%w: .dep larger than %d bytes", ErrBadSidecar, MaxDepFile)
	}
	var out []string
	seen := map[string]bool{}
	n := 0
	for line := range bytes.Lines(data) {
		n++
		for _, f := range strings.Fields(string(line)) {
			if !strings.HasSuffix(f, ".tcz") {
				return nil, fmt.Errorf("%w: .dep line %d: %q has no .tcz (tce-load would look for a file of exactly that name)", ErrBadSidecar, n, Truncate(f, 60))
			}
			name, err := CanonicalName(f)
			if err != nil {
				return nil, fmt.Errorf("%w: .dep line %d: %w", ErrBadSidecar, n, err)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, name)
			if len(out) > MaxDeps {
				return nil, fmt.Errorf("%w: .dep has more than %d dependencies", ErrBadSidecar, MaxDeps)
			}
		}
	}
	return out, nil
}

// Truncate shortens s to n bytes for an error message.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
