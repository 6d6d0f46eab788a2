// Package kmod holds the Linux kernel-module formats that the image
// builder and the agent both read: module file names (.ko and its
// compressed forms), the .modinfo ELF section (name=, depends=, alias=,
// firmware=, softdep=), module decompression, and depmod's text indexes
// modules.dep, modules.alias, modules.softdep and modules.builtin, which
// the builder writes for the modules it puts in an image and the agent
// reads at boot. What only one side does lives on that side: choosing
// modules and their firmware (builder/modules), loading them and the
// coldplug (agent/modprobe).
//
// Why not u-root's pkg/kmodule: it loads a module with its dependencies
// from modules.dep, which covers a part of agent/modprobe, but it has no
// modules.alias matching (the coldplug's whole job), does not read
// .modinfo or write indexes (the builder's), and chooses decompression by
// file name; the agent also needs the loader injectable for tests and its
// errors typed. The formats here are small and fuzzed, and keeping them in
// one package is what makes the builder's output and the agent's input
// provably the same format (index_test.go).
package kmod

import (
	"errors"
	"path"
	"strings"
)

// Errors the package returns; callers test them with errors.Is.
var (
	// ErrNotModule: the file is not an ELF kernel module with a .modinfo section.
	ErrNotModule = errors.New("kmod: not a kernel module")
	// ErrBadIndex: a line of modules.dep, modules.alias or modules.softdep
	// is malformed.
	ErrBadIndex = errors.New("kmod: malformed index line")
	// ErrTooLarge: a module decompresses to more than MaxModuleSize.
	ErrTooLarge = errors.New("kmod: decompressed module too large")
)

// Suffixes are the module file endings kmod tools accept, compressed ones
// first, in the order they are tried when stripping.
var Suffixes = []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"}

// Suffix returns the module suffix (.ko, .ko.xz, …) name ends with, or "".
func Suffix(name string) string {
	for _, s := range Suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return s
		}
	}
	return ""
}

// IsModuleFile reports whether name looks like a module file (.ko, .ko.xz,
// .ko.zst, .ko.gz).
func IsModuleFile(name string) bool { return Suffix(name) != "" }

// Name returns the canonical module name of a module name or a path such
// as kernel/drivers/net/virtio_net.ko.xz, the way the kernel and kmod
// derive it: the base name without .ko[.xz|.zst|.gz], "-" → "_".
func Name(p string) string {
	b := path.Base(p)
	return Normalize(strings.TrimSuffix(b, Suffix(b)))
}

// Normalize maps a module name to its canonical form ("-" → "_").
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// PlainPath returns p with a compression suffix removed ("x.ko.xz" → "x.ko").
func PlainPath(p string) string {
	s := Suffix(p)
	if s == "" || s == ".ko" {
		return p
	}
	return strings.TrimSuffix(p, s) + ".ko"
}
