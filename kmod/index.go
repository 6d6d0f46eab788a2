package kmod

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// maxIndexLine bounds one line of an index file; depmod's lines are short.
const maxIndexLine = 64 << 10

// DepLine is one line of modules.dep: a module file, relative to the
// modules directory /lib/modules/<release>/, and every module file it
// needs, each listed before its own dependencies (modprobe loads the list
// from its end).
type DepLine struct {
	Path string
	Deps []string
}

// scanLines calls fn with each line of r that is neither blank nor a '#'
// comment, trimmed, and its line number; a line longer than maxIndexLine
// is an error.
func scanLines(r io.Reader, index string, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxIndexLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("kmod: reading %s: %w", index, err)
	}
	return nil
}

// ParseDep reads modules.dep ("PATH: DEP-PATH DEP-PATH …" per line) as
// depmod writes it.
func ParseDep(r io.Reader) ([]DepLine, error) {
	var out []DepLine
	err := scanLines(r, "modules.dep", func(n int, line string) error {
		file, deps, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if !ok || file == "" || strings.ContainsAny(file, " \t") || Name(file) == "" {
			return fmt.Errorf("%w: modules.dep line %d: want \"PATH: DEPS...\", got %q", ErrBadIndex, n, line)
		}
		l := DepLine{Path: file}
		if f := strings.Fields(deps); len(f) > 0 {
			l.Deps = f
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// FormatDep renders modules.dep, one line per entry in the order given.
func FormatDep(lines []DepLine) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l.Path + ":")
		for _, d := range l.Deps {
			b.WriteString(" " + d)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Alias is one line of modules.alias: a glob pattern over modalias
// strings and the module that serves devices matching it.
type Alias struct {
	Pattern string
	Module  string // canonical name (see Name)
}

// ParseAliases reads modules.alias ("alias PATTERN MODULE" per line, '#'
// comments), as depmod writes it.
func ParseAliases(r io.Reader) ([]Alias, error) {
	var out []Alias
	err := scanLines(r, "modules.alias", func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("%w: modules.alias line %d: want \"alias PATTERN MODULE\", got %q", ErrBadIndex, n, line)
		}
		out = append(out, Alias{Pattern: f[1], Module: Name(f[2])})
		return nil
	})
	return out, err
}

// FormatAlias renders modules.alias with depmod's header comment.
func FormatAlias(aliases []Alias) []byte {
	var b bytes.Buffer
	b.WriteString("# Aliases extracted from modules themselves.\n")
	for _, a := range aliases {
		fmt.Fprintf(&b, "alias %s %s\n", a.Pattern, a.Module)
	}
	return b.Bytes()
}

// Softdep is one line of modules.softdep: modules to load before (Pre)
// and after (Post) Module.
type Softdep struct {
	Module    string
	Pre, Post []string
}

// ParseSoftdep reads modules.softdep ("softdep MODULE pre: A B post: C",
// either part optional).
func ParseSoftdep(r io.Reader) ([]Softdep, error) {
	var out []Softdep
	err := scanLines(r, "modules.softdep", func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" || strings.HasSuffix(f[1], ":") {
			return fmt.Errorf("%w: modules.softdep line %d: want \"softdep MODULE pre: … post: …\", got %q", ErrBadIndex, n, line)
		}
		d := Softdep{Module: Name(f[1])}
		d.Pre, d.Post = parseSoftdep(strings.Join(f[2:], " "))
		out = append(out, d)
		return nil
	})
	return out, err
}

// FormatSoftdep renders modules.softdep with depmod's header comment;
// entries with neither pre nor post modules are left out.
func FormatSoftdep(deps []Softdep) []byte {
	var b bytes.Buffer
	b.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, d := range deps {
		if len(d.Pre)+len(d.Post) == 0 {
			continue
		}
		b.WriteString("softdep " + d.Module)
		if len(d.Pre) > 0 {
			b.WriteString(" pre: " + strings.Join(d.Pre, " "))
		}
		if len(d.Post) > 0 {
			b.WriteString(" post: " + strings.Join(d.Post, " "))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseBuiltin reads modules.builtin (one module path per line) and
// returns the canonical names of the modules built into the kernel.
func ParseBuiltin(r io.Reader) ([]string, error) {
	var out []string
	err := scanLines(r, "modules.builtin", func(_ int, line string) error {
		out = append(out, Name(line))
		return nil
	})
	return out, err
}
