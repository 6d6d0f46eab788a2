package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"strings"
)

// Info is what a module's .modinfo section declares.
type Info struct {
	Name        string   // name=, or derived from the file name
	Depends     []string // depends=, comma-separated module names
	Aliases     []string // alias=, in section order
	Firmware    []string // firmware=, paths relative to /lib/firmware
	SoftdepPre  []string // softdep= "pre:" names
	SoftdepPost []string // softdep= "post:" names
	Vermagic    string   // vermagic=
	License     string   // license=
}

// ParseModinfo parses the content of a .modinfo section: NUL-separated
// key=value strings. Empty strings (section padding) are skipped; a
// string without "=" is an error.
func ParseModinfo(sec []byte) (Info, error) {
	var in Info
	for _, f := range bytes.Split(sec, []byte{0}) {
		if len(f) == 0 {
			continue
		}
		k, v, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			return Info{}, fmt.Errorf("%w: .modinfo entry %q is not key=value", ErrNotModule, truncate(string(f), 64))
		}
		switch k {
		case "name":
			in.Name = v
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					in.Depends = append(in.Depends, Normalize(d))
				}
			}
		case "alias":
			in.Aliases = append(in.Aliases, v)
		case "firmware":
			in.Firmware = append(in.Firmware, v)
		case "softdep":
			pre, post := parseSoftdep(v)
			in.SoftdepPre = append(in.SoftdepPre, pre...)
			in.SoftdepPost = append(in.SoftdepPost, post...)
		case "vermagic":
			in.Vermagic = v
		case "license":
			in.License = v
		}
	}
	return in, nil
}

// parseSoftdep parses "pre: a b post: c" (either part optional).
func parseSoftdep(v string) (pre, post []string) {
	var cur *[]string
	for _, w := range strings.Fields(v) {
		switch w {
		case "pre:":
			cur = &pre
		case "post:":
			cur = &post
		default:
			if cur != nil {
				*cur = append(*cur, Normalize(w))
			}
		}
	}
	return pre, post
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ReadInfo reads the .modinfo section of a module's ELF image (already
// decompressed).
func ReadInfo(data []byte) (in Info, err error) {
	// debug/elf is hardened against malformed input, but a module file is
	// untrusted input to a build: never let a parser bug take the build down.
	defer func() {
		if r := recover(); r != nil {
			in, err = Info{}, fmt.Errorf("%w: malformed ELF (%v)", ErrNotModule, r)
		}
	}()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrNotModule, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return Info{}, fmt.Errorf("%w: no .modinfo section", ErrNotModule)
	}
	if s.Size > uint64(len(data)) {
		return Info{}, fmt.Errorf("%w: .modinfo larger than the file", ErrNotModule)
	}
	sec, err := s.Data()
	if err != nil {
		return Info{}, fmt.Errorf("%w: .modinfo: %v", ErrNotModule, err)
	}
	return ParseModinfo(sec)
}
