package kmod

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
)

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
		if d.IsDir() || !IsModuleFile(p) {
			return nil
		}
		n := NameOf(p)
		if old, ok := t.paths[n]; !ok || better(p, old) {
			t.paths[n] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kmod: index modules: %w", err)
	}
	if data, err := fs.ReadFile(fsys, "modules.builtin"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				t.builtin[NameOf(l)] = true
			}
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
	p, ok := t.paths[Normalize(name)]
	return p, ok
}

// IsBuiltin reports whether name is built into the kernel.
func (t *Tree) IsBuiltin(name string) bool { return t.builtin[Normalize(name)] }

// FS is the tree's file system.
func (t *Tree) FS() fs.FS { return t.fsys }

// Module is one resolved module.
type Module struct {
	Name      string // canonical name
	Path      string // path in the tree, possibly compressed (kernel/…/x.ko.xz)
	ImagePath string // path in the image, always plain (kernel/…/x.ko)
	Info      Info
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
				builtin[Normalize(p)] = true
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
			bare := strings.TrimSuffix(fp, moduleSuffix(fp))
			if ok, _ := path.Match(p, bare); ok || strings.HasPrefix(fp, p+"/") {
				out = append(out, n)
			}
		}
	} else if strings.ContainsAny(p, "*?[") {
		np := Normalize(p)
		for n := range t.paths {
			if ok, _ := path.Match(np, n); ok {
				out = append(out, n)
			}
		}
	} else if _, ok := t.paths[Normalize(p)]; ok {
		out = append(out, Normalize(p))
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
		return nil, fmt.Errorf("kmod: %w", err)
	}
	data, err := Decompress(p, raw)
	if err != nil {
		return nil, err
	}
	in, err := ReadInfo(data)
	if err != nil {
		return nil, fmt.Errorf("kmod: %s: %w", p, err)
	}
	if in.Name == "" {
		in.Name = name
	}
	if Normalize(in.Name) != name {
		return nil, fmt.Errorf("kmod: %s: .modinfo name %q does not match the file name", p, in.Name)
	}
	return &Module{Name: name, Path: p, ImagePath: PlainPath(p), Info: in, Data: data}, nil
}

// Get returns the resolved module name.
func (s *Set) Get(name string) (*Module, bool) {
	m, ok := s.byName[Normalize(name)]
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
	visit(Normalize(name), 0)
	if len(order) > 0 {
		order = order[:len(order)-1]
	}
	return order
}

// ModulesDep renders modules.dep for the set: one line per module, sorted
// by path, "path: dep dep…" with every transitive dependency, each before
// its own dependencies (modprobe loads the list from the end), paths
// relative to /lib/modules/<kver>/.
func (s *Set) ModulesDep() []byte {
	var b bytes.Buffer
	for _, m := range s.byPath() {
		b.WriteString(m.ImagePath + ":")
		order := s.LoadOrder(m.Name)
		for i := len(order) - 1; i >= 0; i-- {
			b.WriteString(" " + s.byName[order[i]].ImagePath)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ModulesAlias renders modules.alias: "alias PATTERN NAME" for every
// alias= of every module, in module-path order.
func (s *Set) ModulesAlias() []byte {
	var b bytes.Buffer
	b.WriteString("# Aliases extracted from modules themselves.\n")
	for _, m := range s.byPath() {
		for _, a := range m.Info.Aliases {
			fmt.Fprintf(&b, "alias %s %s\n", a, m.Name)
		}
	}
	return b.Bytes()
}

// ModulesSoftdep renders modules.softdep: "softdep NAME pre: … post: …".
func (s *Set) ModulesSoftdep() []byte {
	var b bytes.Buffer
	b.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, m := range s.byPath() {
		if len(m.Info.SoftdepPre)+len(m.Info.SoftdepPost) == 0 {
			continue
		}
		b.WriteString("softdep " + m.Name)
		if len(m.Info.SoftdepPre) > 0 {
			b.WriteString(" pre: " + strings.Join(m.Info.SoftdepPre, " "))
		}
		if len(m.Info.SoftdepPost) > 0 {
			b.WriteString(" post: " + strings.Join(m.Info.SoftdepPost, " "))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (s *Set) byPath() []*Module {
	out := slices.Clone(s.Modules)
	sort.Slice(out, func(i, j int) bool { return out[i].ImagePath < out[j].ImagePath })
	return out
}
