package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile spec from costing much.
const (
	maxSpecSize  = 1 << 20
	maxExtends   = 8
	maxNodeVisit = 100000
)

// Options adjust Load.
type Options struct {
	// Variant, when not empty, overrides the spec's variant.
	Variant string
	// AuthorizedKeysFiles are added to ssh.authorized_keys_files (relative
	// to the working directory); the errors name them "--authorized-keys".
	AuthorizedKeysFiles []string
	// Home is the directory "~/" stands for; empty means os.UserHomeDir.
	Home string
}

// Load reads the spec at path (and the specs it extends), applies Options
// and the defaults, and validates it. Every error wraps ErrSpec and names
// file, line and key; several problems are joined.
func Load(path string, o Options) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpec, err)
	}
	if o.Home == "" {
		o.Home, _ = os.UserHomeDir()
	}
	s := &Spec{Path: abs, pos: map[string]Pos{}}
	if err := s.loadLayer(abs, o, nil); err != nil {
		return nil, err
	}
	return s, s.finish(o)
}

// Parse reads one spec document from data as if it were the file at path
// (relative file names are taken relative to path's directory). An
// extends key is followed on disk.
func Parse(data []byte, path string, o Options) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpec, err)
	}
	s := &Spec{Path: abs, pos: map[string]Pos{}}
	if err := s.parseLayer(data, abs, o, nil); err != nil {
		return nil, err
	}
	return s, s.finish(o)
}

func (s *Spec) finish(o Options) error {
	if o.Variant != "" {
		s.Variant = o.Variant
		s.pos["variant"] = Pos{File: "--variant"}
	}
	for i, f := range o.AuthorizedKeysFiles {
		if a, err := filepath.Abs(expandHome(f, o.Home)); err == nil {
			f = a
		}
		key := fmt.Sprintf("ssh.authorized_keys_files[%d]", len(s.SSH.AuthorizedKeysFiles))
		s.SSH.AuthorizedKeysFiles = append(s.SSH.AuthorizedKeysFiles, f)
		s.pos[key] = Pos{File: fmt.Sprintf("--authorized-keys[%d]", i)}
	}
	// Alternatives set in different files: the child's choice replaces
	// the parent's (a dev spec may take a local kernel .deb where its
	// parent names the apt package).
	s.preferLater("debian.kernel", "debian.kernel_deb", &s.Debian.Kernel, &s.Debian.KernelDeb)
	s.preferLater("debian.busybox", "debian.busybox_deb", &s.Debian.Busybox, &s.Debian.BusyboxDeb)
	s.preferLater("agent.path", "agent.source", &s.Agent.Path, &s.Agent.Source)
	s.applyDefaults()
	return s.Validate()
}

// preferLater clears whichever of two exclusive keys an earlier layer set
// when a later layer set the other.
func (s *Spec) preferLater(ka, kb string, a, b *string) {
	if *a == "" || *b == "" {
		return
	}
	la, lb := s.layerOf(ka), s.layerOf(kb)
	switch {
	case la < lb:
		*a = ""
	case lb < la:
		*b = ""
	}
}

func (s *Spec) layerOf(key string) int {
	p, ok := s.pos[key]
	if !ok {
		return -1
	}
	for i, l := range s.Layers {
		if l.Path == p.File {
			return i
		}
	}
	return len(s.Layers)
}

func (s *Spec) loadLayer(path string, o Options, chain []string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{Pos: Pos{File: path}, Msg: err.Error()}
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxSpecSize+1)); err != nil {
		return &Error{Pos: Pos{File: path}, Msg: err.Error()}
	}
	if buf.Len() > maxSpecSize {
		return &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf("larger than %d bytes", maxSpecSize)}
	}
	return s.parseLayer(buf.Bytes(), path, o, chain)
}

func (s *Spec) parseLayer(data []byte, path string, o Options, chain []string) error {
	if len(data) > maxSpecSize {
		return &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf("larger than %d bytes", maxSpecSize)}
	}
	for _, c := range chain {
		if c == path {
			return &Error{Pos: Pos{File: chain[len(chain)-1]}, Key: "extends", Msg: fmt.Sprintf("cycle: %s", strings.Join(append(chain, path), " → "))}
		}
	}
	if len(chain) >= maxExtends {
		return &Error{Pos: Pos{File: path}, Key: "extends", Msg: fmt.Sprintf("more than %d levels of extends", maxExtends)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{Pos: Pos{File: path, Line: yamlErrLine(err)}, Msg: yamlErrText(err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return &Error{Pos: Pos{File: path}, Msg: "empty spec"}
		}
		root = root.Content[0]
	}
	if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		return &Error{Pos: Pos{File: path}, Msg: "empty spec"}
	}
	if root.Kind != yaml.MappingNode {
		return &Error{Pos: Pos{File: path, Line: root.Line}, Msg: "a spec is a mapping of keys (name:, base:, …)"}
	}
	// The parent comes first, so that this file's keys override it.
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "extends" {
			continue
		}
		v := root.Content[i+1]
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return &Error{Pos: Pos{File: path, Line: v.Line}, Key: "extends", Msg: "want the path of a parent spec"}
		}
		parent := expandHome(v.Value, o.Home)
		if !filepath.IsAbs(parent) {
			parent = filepath.Join(filepath.Dir(path), parent)
		}
		if fi, err := os.Stat(parent); err != nil || !fi.Mode().IsRegular() {
			return &Error{Pos: Pos{File: path, Line: v.Line}, Key: "extends", Msg: fmt.Sprintf("%s: not a readable file", parent)}
		}
		if err := s.loadLayer(parent, o, append(chain, path)); err != nil {
			return err
		}
	}
	// A level belongs to its compression: a layer that picks another
	// compression without a level gets that compression's default, not
	// the parent's level (zstd 19 is no gzip level).
	if hasKey(root, "initrd", "compression") && !hasKey(root, "initrd", "level") {
		s.Initrd.Level = 0
	}
	d := &decoder{file: path, dir: filepath.Dir(path), home: o.Home, pos: s.pos}
	d.decode(root, reflect.ValueOf(s).Elem(), "")
	if len(d.errs) > 0 {
		return joinSorted(d.errs)
	}
	// The strict decoder of yaml.v3 as a second opinion: anything it
	// refuses that the walk above accepted is still an error.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var scratch Spec
	if err := dec.Decode(&scratch); err != nil {
		return &Error{Pos: Pos{File: path, Line: yamlErrLine(err)}, Msg: yamlErrText(err)}
	}
	sum := sha256.Sum256(data)
	s.Layers = append(s.Layers, Layer{Path: path, SHA256: hex.EncodeToString(sum[:])})
	return nil
}

// hasKey reports whether the mapping n has the key path.
func hasKey(n *yaml.Node, path ...string) bool {
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

var (
	yamlLineRE   = regexp.MustCompile(`line (\d+)`)
	yamlPrefixRE = regexp.MustCompile(`(?m)^\s*(yaml: )?line \d+: `)
)

func yamlErrLine(err error) int {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n := 0
	fmt.Sscanf(m[1], "%d", &n)
	return n
}

func yamlErrText(err error) string {
	t := err.Error()
	t = strings.TrimPrefix(t, "yaml: unmarshal errors:\n")
	t = strings.TrimPrefix(t, "yaml: ")
	t = yamlPrefixRE.ReplaceAllString(t, "")
	return strings.Join(strings.Fields(t), " ")
}

// decoder walks a YAML node tree into a Spec by reflection, so that every
// key's position is known and every error names its key path.
type decoder struct {
	file, dir, home string
	pos             map[string]Pos
	errs            []error
	visits          int
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: Pos{File: d.file, Line: n.Line}, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	d.visits++
	if d.visits > maxNodeVisit {
		if d.visits == maxNodeVisit+1 {
			d.fail(n, key, "spec too large (more than %d nodes, counting aliases)", maxNodeVisit)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(n, key, "unresolved alias")
			return
		}
		n = n.Alias
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	switch {
	case v.Type() == reflect.TypeOf(Mode(0)):
		d.scalar(n, v, key)
	case v.Kind() == reflect.Struct:
		if isNull {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n, key, "want a mapping of keys, got %s", describe(n))
			return
		}
		d.mapping(n, v, key)
	case v.Kind() == reflect.Slice:
		if isNull {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.fail(n, key, "want a list, got %s", describe(n))
			return
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			k := fmt.Sprintf("%s[%d]", key, i)
			d.pos[k] = Pos{File: d.file, Line: item.Line}
			d.decode(item, out.Index(i), k)
		}
		v.Set(out)
	case v.Kind() == reflect.Pointer:
		if isNull {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), key)
		v.Set(p)
	default:
		d.scalar(n, v, key)
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, key, "want a single value, got %s", describe(n))
		return
	}
	if v.Kind() == reflect.String && n.Tag != "!!str" && n.Tag != "!!null" {
		// "name: 12" or "variant: yes" is a typo far more often than intent.
		d.fail(n, key, "want a string, got %s %q (quote it if you mean the text)", strings.TrimPrefix(n.Tag, "!!"), n.Value)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, key, "%s", yamlErrText(err))
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "an alias"
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string) {
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = i
		known = append(known, name)
	}
	sort.Strings(known)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		sub := kn.Value
		if key != "" {
			sub = key + "." + kn.Value
		}
		idx, ok := fields[kn.Value]
		if kn.Kind != yaml.ScalarNode || !ok {
			d.fail(kn, sub, "unknown key (known keys here: %s)", strings.Join(known, ", "))
			continue
		}
		d.pos[sub] = Pos{File: d.file, Line: kn.Line}
		fv := v.Field(idx)
		d.decode(vn, fv, sub)
		if t.Field(idx).Tag.Get("spec") == "path" {
			d.resolvePaths(fv)
		}
	}
}

// resolvePaths makes the path (or paths) in v absolute relative to the
// file that set them, after "~/" expansion.
func (d *decoder) resolvePaths(v reflect.Value) {
	fix := func(p string) string {
		if p == "" {
			return p
		}
		p = expandHome(p, d.home)
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.dir, p)
		}
		return filepath.Clean(p)
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fix(v.String()))
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			v.Index(i).SetString(fix(v.Index(i).String()))
		}
	}
}

func expandHome(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return p
}

func joinSorted(errs []error) error {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].(*Error), errs[j].(*Error)
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		return a.Pos.Line < b.Pos.Line
	})
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
