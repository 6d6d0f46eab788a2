// Package modules chooses the kernel modules of an image without kmod or
// depmod: it indexes a kernel's modules directory, reads each chosen
// module's .modinfo (package kmod), closes a selection of names and globs
// over depends= and softdep=, collects their firmware= names, and renders
// modules.dep, modules.alias and modules.softdep for the subset in
// depmod's text format (package kmod's writers), which the agent reads
// at boot.
package modules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/razor-mk/razor-mk/kmod"
)

// ErrNoModule: a selected name, glob or dependency matches no module.
var ErrNoModule = errors.New("modules: no such module")

// Tree is a kernel's modules directory (the content of
// /lib/modules/<kver>): which module files it holds and which modules are
// built into the kernel (modules.builtin). Module contents are read only
// when a module is resolved.
type Tree struct {
	fsys    fs.FS
	paths   map[string]string // module name → path in fsys
	builtin map[string]bool
}

// OpenTree indexes the module files under fsys by name. When two files
// give one name, one under updates/ wins (as with depmod's default
// search order), otherwise the lexically first path.
func OpenTree(fsys fs.FS) (*Tree, error) {
	t := &Tree{fsys: fsys, paths: map[string]string{}, builtin: map[string]bool{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 && p != "." {
			return nil // build/ and source/ point outside the tree
		}
		if d.IsDir() || !kmod.IsModuleFile(p) {
			return nil
		}
		n := kmod.Name(p)
		if old, ok := t.paths[n]; !ok || better(p, old) {
			t.paths[n] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules: index modules: %w", err)
	}
	if data, err := fs.ReadFile(fsys, "modules.builtin"); err == nil {
		names, err := kmod.ParseBuiltin(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("modules: %w", err)
		}
		for _, n := range names {
			t.builtin[n] = true
		}
	}
	return t, nil
}

func better(p, old string) bool {
	pu, ou := strings.HasPrefix(p, "updates/"), strings.HasPrefix(old, "updates/")
	if pu != ou {
		return pu
	}
	return p < old
}

// Len is the number of module files in the tree.
func (t *Tree) Len() int { return len(t.paths) }

// Path returns the path of module name in the tree.
func (t *Tree) Path(name string) (string, bool) {
	p, ok := t.paths[kmod.Normalize(name)]
	return p, ok
}

// IsBuiltin reports whether name is built into the kernel.
func (t *Tree) IsBuiltin(name string) bool { return t.builtin[kmod.Normalize(name)] }

// FS is the tree's file system.
func (t *Tree) FS() fs.FS { return t.fsys }

// Module is one resolved module.
type Module struct {
	Name      string // canonical name
	Path      string // path in the tree, possibly compressed (kernel/…/x.ko.xz)
	ImagePath string // path in the image, always plain (kernel/…/x.ko)
	Info      kmod.Info
	Data      []byte // the plain ELF image
	Explicit  bool   // selected by the spec, not only as a dependency
}

// Set is a dependency-closed selection of modules.
type Set struct {
	Modules  []*Module // sorted by name
	Builtin  []string  // selected names built into the kernel, sorted
	Firmware []string  // firmware= of every module, deduplicated, sorted
	byName   map[string]*Module
}

// Resolve selects the modules that patterns name and closes the selection
// over depends= and the softdep= modules the tree has. A pattern is a
// module name ("virtio_net", "-" and "_" equal), a glob over names
// ("mlx5_*"), or, when it holds a "/", a glob over paths in the tree
// without the extension ("kernel/drivers/net/ethernet/intel/*") or a
// directory prefix ("kernel/drivers/net/ethernet/intel"). Modules matching
// an exclude pattern are dropped from the selection but still pulled in
// when another module depends on them. A pattern that matches nothing,
// not even a built-in module, is an error wrapping ErrNoModule.
func (t *Tree) Resolve(patterns, exclude []string) (*Set, error) {
	s := &Set{byName: map[string]*Module{}}
	var queue []string
	builtin := map[string]bool{}
	for _, p := range patterns {
		names := t.match(p)
		if len(names) == 0 {
			if t.IsBuiltin(p) {
				builtin[kmod.Normalize(p)] = true
				continue
			}
			return nil, fmt.Errorf("%w: %q matches no module file and no built-in module", ErrNoModule, p)
		}
		for _, n := range names {
			if !t.excluded(n, exclude) {
				queue = append(queue, n)
			}
		}
	}
	explicit := map[string]bool{}
	for _, n := range queue {
		explicit[n] = true
	}
	// Breadth-first closure; bounded by the number of module files.
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if _, done := s.byName[n]; done {
			continue
		}
		m, err := t.load(n)
		if err != nil {
			return nil, err
		}
		m.Explicit = explicit[n]
		s.byName[n] = m
		for _, d := range m.Info.Depends {
			if _, ok := t.paths[d]; !ok {
				if t.IsBuiltin(d) {
					continue
				}
				return nil, fmt.Errorf("%w: %s depends on %s, which the kernel's modules do not have", ErrNoModule, n, d)
			}
			queue = append(queue, d)
		}
		for _, d := range slices.Concat(m.Info.SoftdepPre, m.Info.SoftdepPost) {
			if _, ok := t.paths[d]; ok {
				queue = append(queue, d)
			}
		}
	}
	fw := map[string]bool{}
	for _, m := range s.byName {
		s.Modules = append(s.Modules, m)
		for _, f := range m.Info.Firmware {
			fw[f] = true
		}
	}
	sort.Slice(s.Modules, func(i, j int) bool { return s.Modules[i].Name < s.Modules[j].Name })
	for n := range builtin {
		s.Builtin = append(s.Builtin, n)
	}
	sort.Strings(s.Builtin)
	for f := range fw {
		s.Firmware = append(s.Firmware, f)
	}
	sort.Strings(s.Firmware)
	return s, nil
}

func (t *Tree) match(p string) []string {
	var out []string
	if strings.Contains(p, "/") {
		p = strings.TrimSuffix(p, "/")
		for n, fp := range t.paths {
			bare := strings.TrimSuffix(fp, kmod.Suffix(fp))
			if ok, _ := path.Match(p, bare); ok || strings.HasPrefix(fp, p+"/") {
				out = append(out, n)
			}
		}
	} else if strings.ContainsAny(p, "*?[") {
		np := kmod.Normalize(p)
		for n := range t.paths {
			if ok, _ := path.Match(np, n); ok {
				out = append(out, n)
			}
		}
	} else if _, ok := t.paths[kmod.Normalize(p)]; ok {
		out = append(out, kmod.Normalize(p))
	}
	sort.Strings(out)
	return out
}

func (t *Tree) excluded(name string, exclude []string) bool {
	for _, e := range exclude {
		if slices.Contains(t.match(e), name) {
			return true
		}
	}
	return false
}

func (t *Tree) load(name string) (*Module, error) {
	p := t.paths[name]
	raw, err := fs.ReadFile(t.fsys, p)
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	data, err := kmod.Decompress(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("modules: %s: %w", p, err)
	}
	in, err := kmod.ReadInfo(data)
	if err != nil {
		return nil, fmt.Errorf("modules: %s: %w", p, err)
	}
	if in.Name == "" {
		in.Name = name
	}
	if kmod.Normalize(in.Name) != name {
		return nil, fmt.Errorf("modules: %s: .modinfo name %q does not match the file name", p, in.Name)
	}
	return &Module{Name: name, Path: p, ImagePath: kmod.PlainPath(p), Info: in, Data: data}, nil
}

// Get returns the resolved module name.
func (s *Set) Get(name string) (*Module, bool) {
	m, ok := s.byName[kmod.Normalize(name)]
	return m, ok
}

// Names returns the resolved module names, sorted.
func (s *Set) Names() []string {
	out := make([]string, len(s.Modules))
	for i, m := range s.Modules {
		out[i] = m.Name
	}
	return out
}

// LoadOrder returns the modules name needs before it, deepest first, as
// modprobe loads them (name itself excluded).
func (s *Set) LoadOrder(name string) []string {
	var order []string
	seen := map[string]bool{}
	var visit func(n string, depth int)
	visit = func(n string, depth int) {
		if seen[n] || depth > len(s.Modules) {
			return
		}
		seen[n] = true
		m, ok := s.byName[n]
		if !ok {
			return
		}
		deps := slices.Clone(m.Info.Depends)
		sort.Strings(deps)
		for _, d := range deps {
			visit(d, depth+1)
		}
		order = append(order, n)
	}
	visit(kmod.Normalize(name), 0)
	if len(order) > 0 {
		order = order[:len(order)-1]
	}
	return order
}

// ModulesDep renders modules.dep for the set: one line per module, sorted
// by path, with every transitive dependency, each before its own
// dependencies (modprobe loads the list from the end), paths relative to
// /lib/modules/<kver>/.
func (s *Set) ModulesDep() []byte {
	var lines []kmod.DepLine
	for _, m := range s.byPath() {
		l := kmod.DepLine{Path: m.ImagePath}
		order := s.LoadOrder(m.Name)
		for i := len(order) - 1; i >= 0; i-- {
			l.Deps = append(l.Deps, s.byName[order[i]].ImagePath)
		}
		lines = append(lines, l)
	}
	return kmod.FormatDep(lines)
}

// ModulesAlias renders modules.alias: every alias= of every module, in
// module-path order.
func (s *Set) ModulesAlias() []byte {
	var as []kmod.Alias
	for _, m := range s.byPath() {
		for _, a := range m.Info.Aliases {
			as = append(as, kmod.Alias{Pattern: a, Module: m.Name})
		}
	}
	return kmod.FormatAlias(as)
}

// ModulesSoftdep renders modules.softdep, in module-path order.
func (s *Set) ModulesSoftdep() []byte {
	var ds []kmod.Softdep
	for _, m := range s.byPath() {
		ds = append(ds, kmod.Softdep{Module: m.Name, Pre: m.Info.SoftdepPre, Post: m.Info.SoftdepPost})
	}
	return kmod.FormatSoftdep(ds)
}

func (s *Set) byPath() []*Module {
	out := slices.Clone(s.Modules)
	sort.Slice(out, func(i, j int) bool { return out[i].ImagePath < out[j].ImagePath })
	return out
}
