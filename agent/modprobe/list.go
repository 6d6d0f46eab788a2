package modprobe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/razor-mk/razor-mk/kmod"
)

// ErrBadList: a line of a module list is malformed.
var ErrBadList = errors.New("modprobe: malformed module list line")

// maxListLine bounds one line of a module list.
const maxListLine = 64 << 10

// Request is a module asked for by name, with parameters.
type Request struct {
	Name   string
	Params string
}

// ParseModulesList reads a module list in the format of /etc/modules: one
// module per line, optionally followed by its parameters; blank lines and
// lines starting with '#' or ';' are ignored.
func ParseModulesList(r io.Reader) ([]Request, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxListLine)
	var out []Request
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		name, params, _ := strings.Cut(line, " ")
		if !ValidName(name) {
			return nil, fmt.Errorf("%w: module list line %d: bad module name %q", ErrBadList, n, name)
		}
		out = append(out, Request{Name: kmod.Name(name), Params: strings.TrimSpace(params)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modprobe: reading module list: %w", err)
	}
	return out, nil
}

// ValidName reports whether s can be a module name: letters, digits, '_'
// and '-', at most 55 bytes (the kernel's MODULE_NAME_LEN less the NUL).
func ValidName(s string) bool {
	if s == "" || len(s) > 55 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
