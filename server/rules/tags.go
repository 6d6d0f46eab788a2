package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors about a set of tags. They are wrapped with the names involved.
var (
	ErrInvalidName  = errors.New("rules: invalid tag name")
	ErrDuplicateTag = errors.New("rules: duplicate tag")
	ErrUnknownTag   = errors.New("rules: unknown tag")
	ErrCycle        = errors.New("rules: tag reference cycle")
)

// MaxNameLen is the longest tag name.
const MaxNameLen = 64

// Tag is a named rule. A nil Rule matches no node.
type Tag struct {
	Name string
	Rule *Rule
}

// ValidName checks a tag name: 1 to 64 bytes of ASCII letters, digits and
// "_", ".", "-", "+", "=", "%", starting with a letter, a digit or "_".
// Names are case-sensitive. Every system tag is a valid name, so that a
// policy can require one.
func ValidName(name string) error {
	if p := nameProblem(name); p != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, p)
	}
	return nil
}

// nameProblem says what is wrong with a tag name, or "" if nothing is.
func nameProblem(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("longer than %d bytes", MaxNameLen)
	}
	if !nameStart(name[0]) {
		return `must start with a letter, a digit or "_"`
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return `may contain only letters, digits and "_.-+=%"`
		}
	}
	return ""
}

func nameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_'
}

func nameByte(c byte) bool {
	return nameStart(c) || strings.IndexByte(".-+=%", c) >= 0
}

// CheckCycles validates a complete set of tags, as it would be after a
// create, update or delete: every name valid and used once, every
// ["tag", name] reference naming a tag of the set (ErrUnknownTag), and no
// chain of references leading back to where it started (ErrCycle, with the
// cycle spelled out: "a -> b -> a"). Problems are reported in the order of
// tags, first problem first.
func CheckCycles(tags []Tag) error {
	_, err := checkTags(tags, true)
	return err
}

// checkTags indexes tags by name and checks references; names are checked
// too when checkNames is set.
func checkTags(tags []Tag, checkNames bool) (map[string]*Rule, error) {
	index := make(map[string]*Rule, len(tags))
	for _, t := range tags {
		if checkNames {
			if err := ValidName(t.Name); err != nil {
				return nil, err
			}
		}
		if _, dup := index[t.Name]; dup {
			return nil, fmt.Errorf("%w %q", ErrDuplicateTag, t.Name)
		}
		index[t.Name] = t.Rule
	}
	for _, t := range tags {
		for _, ref := range t.Rule.refsView() {
			if _, ok := index[ref]; !ok {
				return nil, fmt.Errorf("%w %q referenced by tag %q", ErrUnknownTag, ref, t.Name)
			}
		}
	}
	// Depth-first search; a reference back to a tag on the current path
	// is a cycle.
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]uint8, len(tags))
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case onPath:
			start := slices.Index(path, name)
			cycle := append(slices.Clone(path[start:]), name)
			return fmt.Errorf("%w: %s", ErrCycle, strings.Join(cycle, " -> "))
		}
		state[name] = onPath
		path = append(path, name)
		for _, ref := range index[name].refsView() {
			if err := visit(ref); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, t := range tags {
		if err := visit(t.Name); err != nil {
			return nil, err
		}
	}
	return index, nil
}

// refsView returns the references without copying them.
func (r *Rule) refsView() []string {
	if r == nil {
		return nil
	}
	return r.refs
}

// Evaluate returns the tags a node with these facts carries: the names of
// the tags whose rules match, plus SystemTags(facts), sorted and without
// duplicates. ["tag", name] references resolve against the other tags, each
// tag evaluated at most once. A set of tags with a duplicate name, a
// reference to a tag not in the set or a reference cycle is an error
// (ErrDuplicateTag, ErrUnknownTag, ErrCycle) naming the tags, whatever the
// facts; tag names themselves are not checked here (see CheckCycles).
func Evaluate(tags []Tag, facts map[string]string) ([]string, error) {
	index, err := checkTags(tags, false)
	if err != nil {
		return nil, err
	}
	ev := &evaluation{index: index, facts: facts, result: make(map[string]bool, len(tags))}
	out := SystemTags(facts)
	for _, t := range tags {
		ok, err := ev.tag(t.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, t.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// evaluation memoises tag results for one Evaluate call.
type evaluation struct {
	index   map[string]*Rule
	facts   map[string]string
	result  map[string]bool
	pending []string // tags being evaluated, outermost first
}

// tag evaluates the named tag once and remembers the result.
func (ev *evaluation) tag(name string) (bool, error) {
	if ok, seen := ev.result[name]; seen {
		return ok, nil
	}
	r, known := ev.index[name]
	if !known {
		return false, fmt.Errorf("%w %q", ErrUnknownTag, name)
	}
	if i := slices.Index(ev.pending, name); i >= 0 {
		cycle := append(slices.Clone(ev.pending[i:]), name)
		return false, fmt.Errorf("%w: %s", ErrCycle, strings.Join(cycle, " -> "))
	}
	ev.pending = append(ev.pending, name)
	ok, err := r.Match(ev.facts, ev.tag)
	ev.pending = ev.pending[:len(ev.pending)-1]
	if err != nil {
		return false, fmt.Errorf("tag %q: %w", name, err)
	}
	ev.result[name] = ok
	return ok, nil
}

// Dependents returns name and every tag whose rule references it,
// directly or through other tags, in the order of tags (name first): the
// tags whose results can change when name's rule does.
func Dependents(tags []Tag, name string) []string {
	// Reverse references: who refers to whom.
	by := make(map[string][]string, len(tags))
	for _, t := range tags {
		for _, ref := range t.Rule.refsView() {
			by[ref] = append(by[ref], t.Name)
		}
	}
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, d := range by[n] {
			if !seen[d] {
				seen[d] = true
				queue = append(queue, d)
			}
		}
	}
	out := []string{name}
	for _, t := range tags {
		if t.Name != name && seen[t.Name] {
			out = append(out, t.Name)
		}
	}
	return out
}

// Set is a checked set of tags, ready to evaluate many nodes without
// checking the set again for each.
type Set struct {
	index map[string]*Rule
}

// Prepare checks tags as Evaluate does (duplicates, unknown references,
// cycles) and returns the set.
func Prepare(tags []Tag) (*Set, error) {
	index, err := checkTags(tags, false)
	if err != nil {
		return nil, err
	}
	return &Set{index: index}, nil
}

// EvaluateOnly evaluates the named tags of the set for facts (and, as
// needed, the tags they reference) and returns the names that match,
// sorted. System tags are not included. A name not in the set is
// ErrUnknownTag.
func (s *Set) EvaluateOnly(names []string, facts map[string]string) ([]string, error) {
	ev := &evaluation{index: s.index, facts: facts, result: make(map[string]bool, len(names))}
	var out []string
	for _, n := range names {
		ok, err := ev.tag(n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// EvaluateOnly is Prepare(tags) then Set.EvaluateOnly.
func EvaluateOnly(tags []Tag, names []string, facts map[string]string) ([]string, error) {
	s, err := Prepare(tags)
	if err != nil {
		return nil, err
	}
	return s.EvaluateOnly(names, facts)
}

// Facts returns the fact names the named tags read, and those the tags
// they reference read, sorted: what an evaluation of those tags needs of
// a node's facts.
func (s *Set) Facts(names []string) []string {
	seen := map[string]bool{}
	facts := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		r := s.index[name]
		if r == nil {
			return
		}
		walkFacts(r.root, facts)
		for _, ref := range r.refs {
			visit(ref)
		}
	}
	for _, n := range names {
		visit(n)
	}
	out := make([]string, 0, len(facts))
	for f := range facts {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func walkFacts(n *node, into map[string]bool) {
	if n == nil {
		return
	}
	if n.op == opFact {
		into[n.text] = true
	}
	for _, a := range n.args {
		walkFacts(a, into)
	}
}
