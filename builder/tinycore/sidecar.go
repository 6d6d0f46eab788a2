package tinycore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// Limits of the sidecar files; real ones are far smaller.
const (
	MaxMD5File  = 4 << 10
	MaxDepFile  = 64 << 10
	MaxInfoFile = 256 << 10
	MaxListFile = 16 << 20
	MaxDeps     = 1000
)

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
		return "", fmt.Errorf("%w: %s.md5.txt: %q is not an md5 digest (32 hex digits)", ErrBadSidecar, name, truncate(f[0], 40))
	}
	if len(f) > 2 {
		return "", fmt.Errorf("%w: %s.md5.txt: want \"<md5>  %s\"", ErrBadSidecar, name, name)
	}
	if len(f) == 2 && strings.TrimPrefix(f[1], "*") != name {
		return "", fmt.Errorf("%w: %s.md5.txt: names %q, want %q", ErrBadSidecar, name, truncate(f[1], 60), name)
	}
	return sum, nil
}

// FormatMD5 renders a .md5.txt file as md5sum writes it.
func FormatMD5(sum, name string) []byte {
	return []byte(sum + "  " + name + "\n")
}

// ParseDep parses NAME.tcz.dep: one dependency a line, as tce-load reads
// it: spaces and tabs are deleted, blank lines skipped, a missing final
// newline and an empty file allowed. Names without ".tcz" get it. The
// "-KERNEL.tcz" placeholder is kept (see WithKernel). A name that is not a
// valid extension file name is an error naming its line.
func ParseDep(data []byte) ([]string, error) {
	if len(data) > MaxDepFile {
		return nil, fmt.Errorf("%w: .dep larger than %d bytes", ErrBadSidecar, MaxDepFile)
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
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
		if len(out) > MaxDeps {
			return nil, fmt.Errorf("%w: .dep has more than %d dependencies", ErrBadSidecar, MaxDeps)
		}
	}
	return out, nil
}

// Info is NAME.tcz.info: "Key:<TAB>value" lines, continuation lines
// indented with blanks joined to the previous value with a newline.
type Info map[string]string

// ParseInfo parses a .info file. Lines before the first key and lines
// that are neither "Key: value" nor continuations are an error naming
// the line.
func ParseInfo(data []byte) (Info, error) {
	if len(data) > MaxInfoFile {
		return nil, fmt.Errorf("%w: .info larger than %d bytes", ErrBadSidecar, MaxInfoFile)
	}
	info := Info{}
	last := ""
	n := 0
	for line := range bytes.Lines(data) {
		n++
		s := strings.TrimRight(string(line), "\r\n")
		if strings.TrimSpace(s) == "" {
			continue
		}
		if s[0] == ' ' || s[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("%w: .info line %d: continuation before any key", ErrBadSidecar, n)
			}
			info[last] += "\n" + strings.TrimSpace(s)
			continue
		}
		k, v, ok := strings.Cut(s, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%w: .info line %d: want \"Key: value\"", ErrBadSidecar, n)
		}
		info[k] = strings.TrimSpace(v)
		last = k
	}
	return info, nil
}

// Version is the Version field, or "".
func (i Info) Version() string { return i["Version"] }
