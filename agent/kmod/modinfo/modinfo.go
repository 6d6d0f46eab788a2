// Package modinfo reads the .modinfo section of Linux kernel module files
// (the key=value strings modinfo(8) prints) and writes the depmod text
// indexes modules.dep and modules.alias for a set of modules. The agent
// itself only reads those indexes (package kmod); this package is for
// tools and tests that assemble a modules directory.
package modinfo

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/agent/kmod"
)

// ErrNoModinfo means the file is an ELF object without a .modinfo section.
var ErrNoModinfo = errors.New("modinfo: no .modinfo section")

// Info is what a module declares about itself.
type Info struct {
	Name     string   // from name=, else from the file name
	Depends  []string // canonical module names
	Aliases  []string // modalias patterns
	Firmware []string
	Fields   []string // every key=value string, in section order
}

// Parse reads the .modinfo section of an (uncompressed) module image.
func Parse(image []byte) (Info, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return Info{}, fmt.Errorf("modinfo: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return Info{}, ErrNoModinfo
	}
	data, err := sec.Data()
	if err != nil {
		return Info{}, fmt.Errorf("modinfo: reading .modinfo: %w", err)
	}
	var in Info
	for _, kv := range bytes.Split(data, []byte{0}) {
		if len(kv) == 0 {
			continue
		}
		s := string(kv)
		in.Fields = append(in.Fields, s)
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			in.Name = kmod.Name(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					in.Depends = append(in.Depends, kmod.Name(d))
				}
			}
		case "alias":
			in.Aliases = append(in.Aliases, v)
		case "firmware":
			in.Firmware = append(in.Firmware, v)
		}
	}
	return in, nil
}

// ReadFile parses a module file, decompressing .ko.xz, .ko.zst and .ko.gz.
func ReadFile(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("modinfo: %w", err)
	}
	defer f.Close()
	image, err := kmod.Decompress(f)
	if err != nil {
		return Info{}, fmt.Errorf("modinfo: %s: %w", path, err)
	}
	in, err := Parse(image)
	if err != nil {
		return Info{}, fmt.Errorf("modinfo: %s: %w", path, err)
	}
	if in.Name == "" {
		in.Name = kmod.Name(path)
	}
	return in, nil
}

// WriteIndexes scans dir (a /lib/modules/<release> directory) for module
// files and writes dir/modules.dep and dir/modules.alias in depmod's text
// format, with paths relative to dir. Every dependency's own dependencies
// are included on each line, deepest last, as depmod does. A dependency
// missing from dir is an error naming both modules.
func WriteIndexes(dir string) error {
	infos := map[string]Info{}
	paths := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isModule(p) {
			return nil
		}
		in, err := ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		infos[in.Name] = in
		paths[in.Name] = filepath.ToSlash(rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("modinfo: %w", err)
	}
	names := make([]string, 0, len(infos))
	for n := range infos {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(paths[a], paths[b]) })

	var dep, alias bytes.Buffer
	for _, n := range names {
		closure, err := closure(infos, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(&dep, "%s:", paths[n])
		for _, d := range closure {
			fmt.Fprintf(&dep, " %s", paths[d])
		}
		dep.WriteByte('\n')
		for _, a := range infos[n].Aliases {
			fmt.Fprintf(&alias, "alias %s %s\n", a, n)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), dep.Bytes(), 0o644); err != nil {
		return fmt.Errorf("modinfo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.alias"), alias.Bytes(), 0o644); err != nil {
		return fmt.Errorf("modinfo: %w", err)
	}
	return nil
}

// closure returns n's transitive dependencies, deepest last (the order
// depmod writes and modprobe loads from the end).
func closure(infos map[string]Info, n string) ([]string, error) {
	var post []string
	state := map[string]int{}
	var visit func(m, from string) error
	visit = func(m, from string) error {
		switch state[m] {
		case 1:
			return fmt.Errorf("modinfo: dependency cycle through %s", m)
		case 2:
			return nil
		}
		in, ok := infos[m]
		if !ok {
			return fmt.Errorf("modinfo: %s depends on %s, which is missing", from, m)
		}
		state[m] = 1
		for _, d := range in.Depends {
			if err := visit(d, m); err != nil {
				return err
			}
		}
		state[m] = 2
		post = append(post, m)
		return nil
	}
	if err := visit(n, n); err != nil {
		return nil, err
	}
	// post is dependencies-first ending with n; depmod lists them
	// nearest-first, deepest last.
	post = post[:len(post)-1]
	slices.Reverse(post)
	return post, nil
}

func isModule(p string) bool {
	for _, s := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}
