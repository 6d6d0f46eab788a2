package kmod

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Alias is one line of modules.alias: a glob pattern over modalias strings
// and the module that serves devices matching it.
type Alias struct {
	Pattern string
	Module  string // canonical name (see Name)
	prefix  string // literal head of Pattern, a cheap pre-filter
}

// maxIndexLine bounds one line of an index file; depmod's lines are short.
const maxIndexLine = 64 << 10

// ParseAliases reads modules.alias ("alias <pattern> <module>" per line,
// '#' comments), as depmod writes it.
func ParseAliases(r io.Reader) ([]Alias, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxIndexLine)
	var out []Alias
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return nil, fmt.Errorf("%w: modules.alias line %d: want \"alias PATTERN MODULE\", got %q", ErrBadIndex, n, line)
		}
		out = append(out, Alias{Pattern: f[1], Module: Name(f[2]), prefix: literalPrefix(f[1])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kmod: reading modules.alias: %w", err)
	}
	return out, nil
}

// literalPrefix returns the part of pattern before its first special
// character.
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// Match reports whether modalias matches the glob pattern with the
// semantics modprobe uses (fnmatch(3) without flags): '*' matches any
// run of characters including '/', '?' any one character, "[...]" a
// character class with ranges and '!' or '^' negation, and '\' quotes the
// next character. A '[' without a closing ']' is an ordinary character.
func Match(pattern, modalias string) bool {
	p, s := 0, 0
	// Backtracking point for the most recent '*': resume the pattern after
	// it, with the string one character further on.
	starP, starS := -1, 0
	for s < len(modalias) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starS = p, s
				p++
				continue
			case '?':
				p++
				s++
				continue
			case '[':
				if ok, next, valid := matchClass(pattern, p, modalias[s]); valid {
					if ok {
						p = next
						s++
						continue
					}
					break
				}
				if modalias[s] == '[' {
					p++
					s++
					continue
				}
			case '\\':
				if p+1 < len(pattern) {
					if pattern[p+1] == modalias[s] {
						p += 2
						s++
						continue
					}
					break
				}
				if modalias[s] == '\\' {
					p++
					s++
					continue
				}
			default:
				if c == modalias[s] {
					p++
					s++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		p, s = starP+1, starS
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the bracket expression starting at
// pattern[open] == '['. It returns whether c is in the class, the index
// after the closing ']', and whether the expression is well formed.
func matchClass(pattern string, open int, c byte) (ok bool, next int, valid bool) {
	i := open + 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(pattern) {
		lo := pattern[i]
		if lo == ']' && !first {
			return ok != negate, i + 1, true
		}
		first = false
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			if hi == '\\' && i+3 < len(pattern) {
				hi = pattern[i+3]
				i++
			}
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, 0, false
}

// Lookup returns the modules whose alias patterns match modalias, in
// modules.alias order, without duplicates.
func Lookup(aliases []Alias, modalias string) []string {
	var out []string
	for _, a := range aliases {
		if !strings.HasPrefix(modalias, a.prefix) || !Match(a.Pattern, modalias) {
			continue
		}
		dup := false
		for _, m := range out {
			if m == a.Module {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a.Module)
		}
	}
	return out
}
