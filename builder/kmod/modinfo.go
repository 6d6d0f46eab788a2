// Package kmod resolves Linux kernel modules for an image without kmod or
// depmod: it reads each module's .modinfo ELF section (name=, depends=,
// alias=, firmware=, softdep=), closes a selection of names and globs over
// their dependencies, and writes modules.dep, modules.alias and
// modules.softdep for the subset in depmod's text format.
package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Errors the package returns; callers test them with errors.Is.
var (
	// ErrNotModule: the file is not an ELF kernel module with a .modinfo section.
	ErrNotModule = errors.New("kmod: not a kernel module")
	// ErrNoModule: a selected name, glob or dependency matches no module.
	ErrNoModule = errors.New("kmod: no such module")
)

// maxModuleSize bounds a (decompressed) module: the largest in-tree
// modules are tens of MB.
const maxModuleSize = 512 << 20

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

// Compressed suffixes a module file may carry, with the plain ".ko".
var suffixes = []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"}

// IsModuleFile reports whether name looks like a module file (.ko, .ko.xz,
// .ko.zst, .ko.gz).
func IsModuleFile(name string) bool {
	return moduleSuffix(name) != ""
}

func moduleSuffix(name string) string {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return s
		}
	}
	return ""
}

// NameOf returns the module name of a file path the way the kernel and
// kmod derive it: the base name without .ko[.xz|.zst|.gz], "-" → "_".
func NameOf(p string) string {
	b := path.Base(p)
	return Normalize(strings.TrimSuffix(b, moduleSuffix(b)))
}

// Normalize maps a module name to its canonical form ("-" → "_").
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// PlainPath returns p with a compression suffix removed ("x.ko.xz" → "x.ko").
func PlainPath(p string) string {
	s := moduleSuffix(p)
	if s == "" || s == ".ko" {
		return p
	}
	return strings.TrimSuffix(p, s) + ".ko"
}

// Decompress returns the plain ELF image of a module file, decompressing
// .ko.xz, .ko.zst and .ko.gz by name; plain .ko data is returned as is.
func Decompress(name string, data []byte) ([]byte, error) {
	var r io.Reader
	switch moduleSuffix(name) {
	case ".ko", "":
		return data, nil
	case ".ko.xz":
		zr, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("kmod: %s: %w", name, err)
		}
		r = zr
	case ".ko.zst":
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModuleSize))
		if err != nil {
			return nil, fmt.Errorf("kmod: %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	case ".ko.gz":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("kmod: %s: %w", name, err)
		}
		r = zr
	}
	out, err := io.ReadAll(io.LimitReader(r, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("kmod: %s: %w", name, err)
	}
	if len(out) > maxModuleSize {
		return nil, fmt.Errorf("kmod: %s: over %d bytes decompressed", name, maxModuleSize)
	}
	return out, nil
}
