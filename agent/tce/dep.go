package tce

import (
	"bytes"
	"errors"
	"github.com/razor-mk/razor-mk/tcz"
	"strings"
)

// Errors of this package; callers test them with errors.Is.
var (
	// ErrBadName: not a valid extension file name.
	ErrBadName = tcz.ErrBadName
	// ErrNotFound: the extension is not in the directory or on the mirror.
	ErrNotFound = errors.New("tce: extension not found")
	// ErrBadSidecar: a .dep or .md5.txt file does not parse.
	ErrBadSidecar = tcz.ErrBadSidecar
	// ErrChecksum: an extension does not match its .md5.txt.
	ErrChecksum = errors.New("tce: checksum mismatch")
	// ErrCycle: extensions depend on each other in a cycle.
	ErrCycle = errors.New("tce: dependency cycle")
	// ErrDependency: a dependency failed, so its dependents are not loaded.
	ErrDependency = errors.New("tce: dependency failed")
	// ErrScript: the extension's tce.installed script failed.
	ErrScript = errors.New("tce: install script failed")
)

// maxClosure bounds the extensions one install resolves to.
const maxClosure = 2000

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
		n, err := tcz.CanonicalName(strings.Trim(f, `"'`))
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

func truncate(s string, n int) string { return tcz.Truncate(s, n) }
