// Package rules is the tag rule language of the checkin server: a JSON
// expression tree in the style of razor-server's matcher, evaluated against
// a node's facts (a flat string map).
//
// A rule is a JSON array whose first element names an operator and whose
// other elements are its arguments, themselves literals or expressions:
//
//	["and", ["=", ["fact", "processorcount"], "2"],
//	        ["like", ["fact", "manufacturer"], "^Dell"]]
//
// Operators: and, or, not (tests); =, !=, in, like, >, >=, <, <= (compare
// values); fact, num, str, lower, upper (produce values); tag (another tag's
// result). Literals are JSON strings, numbers and booleans. Parse checks a
// rule completely before it is stored: operator names, arities, argument
// types, regular expressions and size limits, and reports the first problem
// with the JSON path of the bad sub-expression. Evaluation never fails on
// any fact values: a missing fact or a value that is not a number makes the
// comparison that uses it false. Only tag references can fail (an unknown
// tag, a reference cycle). the README ("Tags and the rule language") describes the language for
// operators, with the exact semantics of every operator and of the system
// tags (cpus_N, memsize_XGiB, nics_N, <virtual>_vm, bus vendor) that
// SystemTags derives from facts.
//
// A parsed *Rule is immutable and safe for concurrent use.
package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on a rule, checked by Parse.
const (
	// MaxBytes is the largest rule document Parse accepts.
	MaxBytes = 64 << 10
	// MaxDepth is how deeply expressions may nest; the outermost array is
	// at depth 1.
	MaxDepth = 32
	// MaxNodes is how many expressions (arrays and literal arguments; the
	// operator names are not counted) one rule may hold.
	MaxNodes = 1024
	// MaxPatternBytes is the longest regular expression "like" accepts.
	MaxPatternBytes = 1024
	// MaxFactNameBytes is the longest fact name ["fact", name] accepts.
	MaxFactNameBytes = 256
)

// ErrInvalid is the sentinel every *Error wraps: errors.Is(err, ErrInvalid)
// tells a rejected rule from other failures.
var ErrInvalid = errors.New("rules: invalid rule")

// Error is why Parse rejected a rule.
type Error struct {
	// Path locates the bad sub-expression by JSON array indices from the
	// outermost array: "" is the whole rule, "[2]" its third element (the
	// second argument, as [0] is the operator), "[2][1]" the first argument
	// of that element.
	Path string
	// Msg says what is wrong, in words meant for the operator who wrote
	// the rule.
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Path == "" {
		return ErrInvalid.Error() + ": " + e.Msg
	}
	return ErrInvalid.Error() + " at " + e.Path + ": " + e.Msg
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// Rule is a parsed, validated rule. The zero Rule (and a nil *Rule)
// matches nothing, references nothing and marshals as JSON null; every
// other Rule comes from Parse.
type Rule struct {
	root  *node
	canon []byte   // canonical JSON, computed once by Parse
	refs  []string // sorted, unique tag references
}

// Parse parses and validates a rule. The error is an *Error naming the bad
// sub-expression; nothing about the input can make Parse panic.
func Parse(data []byte) (*Rule, error) {
	if len(data) > MaxBytes {
		return nil, &Error{Msg: "rule is " + strconv.Itoa(len(data)) + " bytes, at most " + strconv.Itoa(MaxBytes) + " are allowed"}
	}
	if !utf8.Valid(data) {
		// RFC 8259 §8.1: JSON text is UTF-8. encoding/json would quietly
		// replace bad bytes, changing the rule.
		return nil, &Error{Msg: "rule is not valid UTF-8"}
	}
	raw, err := decode(data)
	if err != nil {
		return nil, err
	}
	c := compiler{refs: map[string]bool{}}
	root, err := c.rule(raw)
	if err != nil {
		return nil, err
	}
	r := &Rule{root: root}
	for name := range c.refs {
		r.refs = append(r.refs, name)
	}
	slices.Sort(r.refs)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Rules are shown to operators and compared byte for byte; "<" and ">"
	// are operators here, not HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root.tree()); err != nil {
		return nil, &Error{Msg: "cannot encode rule: " + err.Error()}
	}
	r.canon = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(r.canon) > MaxBytes {
		// Possible when the canonical form spells numbers out (1e20) or
		// escapes U+2028; the stored form must itself parse.
		return nil, &Error{Msg: "rule is " + strconv.Itoa(len(r.canon)) + " bytes in canonical form, at most " + strconv.Itoa(MaxBytes) + " are allowed"}
	}
	return r, nil
}

// MarshalJSON returns the rule's canonical JSON: compact, numbers in their
// shortest form, strings without HTML escaping. Parse of the result gives a
// rule with the same canonical JSON.
func (r *Rule) MarshalJSON() ([]byte, error) {
	if r == nil || r.root == nil {
		return []byte("null"), nil
	}
	return bytes.Clone(r.canon), nil
}

// UnmarshalJSON replaces r with the rule Parse makes of data; on error r is
// unchanged. Unlike most decoders it rejects JSON null: a rule is required.
func (r *Rule) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*r = *p
	return nil
}

// String returns the canonical JSON, or "null" for the zero Rule.
func (r *Rule) String() string {
	b, _ := r.MarshalJSON()
	return string(b)
}

// Refs returns the names of the tags the rule references with
// ["tag", name], sorted and without duplicates.
func (r *Rule) Refs() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.refs...)
}

// formatPath renders JSON array indices as "[i][j]...".
func formatPath(path []int) string {
	var b strings.Builder
	for _, i := range path {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(']')
	}
	return b.String()
}

// errAt builds an *Error for the sub-expression at path.
func errAt(path []int, msg string) *Error {
	return &Error{Path: formatPath(path), Msg: msg}
}
