package tinycore

import (
	"bytes"
	"fmt"
	"strings"
)

// Limits of the sidecar files; real ones are far smaller.
const (
	maxInfoFile = 256 << 10
	maxListFile = 16 << 20
)

// info is NAME.tcz.info: "Key:<TAB>value" lines, continuation lines
// indented with blanks joined to the previous value with a newline.
type info map[string]string

// parseInfo parses a .info file. Lines before the first key and lines
// that are neither "Key: value" nor continuations are an error naming
// the line.
func parseInfo(data []byte) (info, error) {
	if len(data) > maxInfoFile {
		return nil, fmt.Errorf("%w: .info larger than %d bytes", ErrBadSidecar, maxInfoFile)
	}
	info := info{}
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
func (i info) Version() string { return i["Version"] }
