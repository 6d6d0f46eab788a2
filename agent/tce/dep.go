package tce

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Errors of this package; callers test them with errors.Is.
var (
	// ErrBadName: not a valid extension file name.
	ErrBadName = errors.New("tce: bad extension name")
	// ErrNotFound: the extension is not in the directory or on the mirror.
	ErrNotFound = errors.New("tce: extension not found")
	// ErrBadSidecar: a .dep or .md5.txt file does not parse.
	ErrBadSidecar = errors.New("tce: bad sidecar file")
	// ErrChecksum: an extension does not match its .md5.txt.
	ErrChecksum = errors.New("tce: checksum mismatch")
	// ErrCycle: extensions depend on each other in a cycle.
	ErrCycle = errors.New("tce: dependency cycle")
	// ErrDependency: a dependency failed, so its dependents are not loaded.
	ErrDependency = errors.New("tce: dependency failed")
	// ErrScript: the extension's tce.installed script failed.
	ErrScript = errors.New("tce: install script failed")
)

// Limits.
const (
	maxNameLen  = 200
	maxDepFile  = 64 << 10
	maxMD5File  = 4 << 10
	maxDeps     = 1000
	maxClosure  = 2000
	kernelToken = "-KERNEL.tcz"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]*\.tcz$`)

// CanonicalName returns name with ".tcz" appended when missing, as
// tce-load does, or an error wrapping ErrBadName.
func CanonicalName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n != "" && !strings.HasSuffix(n, ".tcz") {
		n += ".tcz"
	}
	if len(n) > maxNameLen || !nameRE.MatchString(n) {
		return "", fmt.Errorf("%w: %q", ErrBadName, truncate(name, 60))
	}
	return n, nil
}

// WithKernel replaces the "-KERNEL.tcz" placeholder by the kernel
// release: scsi-KERNEL.tcz → scsi-6.1.0-26-amd64.tcz.
func WithKernel(name, release string) string {
	if release == "" || !strings.HasSuffix(name, kernelToken) {
		return name
	}
	return strings.TrimSuffix(name, kernelToken) + "-" + release + ".tcz"
}

// ParseDep parses a .dep file as tce-load reads it: one name a line,
// spaces and tabs deleted, blank lines skipped, ".tcz" added when
// missing, each name once.
func ParseDep(data []byte) ([]string, error) {
	if len(data) > maxDepFile {
		return nil, fmt.Errorf("%w: .dep larger than %d bytes", ErrBadSidecar, maxDepFile)
	}
	var out []string
	seen := map[string]bool{}
	n := 0
	for line := range bytes.Lines(data) {
		n++
		s := strings.NewReplacer(" ", "", "\t", "", "\r", "", "\n", "").Replace(string(line))
		if s == "" {
			continue
		}
		name, err := CanonicalName(s)
		if err != nil {
			return nil, fmt.Errorf("%w: .dep line %d: %w", ErrBadSidecar, n, err)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
		if len(out) > maxDeps {
			return nil, fmt.Errorf("%w: .dep has more than %d entries", ErrBadSidecar, maxDeps)
		}
	}
	return out, nil
}

// ParseMD5 parses a .md5.txt file for name ("<md5>  <name>").
func ParseMD5(data []byte, name string) (string, error) {
	if len(data) > maxMD5File {
		return "", fmt.Errorf("%w: %s.md5.txt larger than %d bytes", ErrBadSidecar, name, maxMD5File)
	}
	f := strings.Fields(string(data))
	if len(f) == 0 || len(f) > 2 {
		return "", fmt.Errorf("%w: %s.md5.txt: want \"<md5>  %s\"", ErrBadSidecar, name, name)
	}
	sum := strings.ToLower(f[0])
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 16 {
		return "", fmt.Errorf("%w: %s.md5.txt: %q is not an md5 digest", ErrBadSidecar, name, truncate(f[0], 40))
	}
	if len(f) == 2 && strings.TrimPrefix(f[1], "*") != name {
		return "", fmt.Errorf("%w: %s.md5.txt names %q", ErrBadSidecar, name, truncate(f[1], 60))
	}
	return sum, nil
}

// ParseList parses onboot.lst or an install list of extensions: one name
// a line (the first field), "#" comments, YAML list dashes ("- x.tcz")
// and blank lines skipped. Invalid names are returned separately.
func ParseList(data []byte) (names []string, bad []string) {
	seen := map[string]bool{}
	for line := range bytes.Lines(data) {
		s := string(line)
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		s = strings.TrimSpace(strings.TrimPrefix(s, "- "))
		if s == "" || s == "---" || s == "[]" || s == "-" {
			continue
		}
		f := strings.Fields(s)[0]
		n, err := CanonicalName(strings.Trim(f, `"'`))
		if err != nil {
			bad = append(bad, truncate(f, 60))
			continue
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names, bad
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
