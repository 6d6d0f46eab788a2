package modprobe

import (
	"io"
	"strings"

	"github.com/razor-mk/razor-mk/kmod"
)

// Alias is one line of modules.alias with the literal head of its
// pattern, a cheap pre-filter for Lookup.
type Alias struct {
	kmod.Alias
	prefix string
}

// ParseAliases reads modules.alias (see kmod.ParseAliases) for Lookup.
func ParseAliases(r io.Reader) ([]Alias, error) {
	as, err := kmod.ParseAliases(r)
	if err != nil {
		return nil, err
	}
	out := make([]Alias, len(as))
	for i, a := range as {
		out[i] = Alias{Alias: a, prefix: literalPrefix(a.Pattern)}
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
