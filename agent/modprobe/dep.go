package modprobe

import (
	"fmt"
	"io"
	"strings"

	"github.com/razor-mk/razor-mk/kmod"
)

// Module is one line of modules.dep: a module file (relative to the
// modules directory, or absolute) and the files it depends on.
type Module struct {
	Name string   // canonical name
	Path string   // e.g. kernel/drivers/net/virtio_net.ko
	Deps []string // canonical names of the modules it needs
}

// ParseDep reads modules.dep and returns the modules by canonical name.
func ParseDep(r io.Reader) (map[string]Module, error) {
	lines, err := kmod.ParseDep(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Module, len(lines))
	for _, l := range lines {
		m := Module{Name: kmod.Name(l.Path), Path: l.Path}
		for _, d := range l.Deps {
			m.Deps = append(m.Deps, kmod.Name(d))
		}
		out[m.Name] = m
	}
	return out, nil
}

// LoadOrder returns the modules to load for name, dependencies first and
// name last, each once. It follows each dependency's own modules.dep line,
// so the result does not rely on the order depmod listed them in.
func LoadOrder(deps map[string]Module, name string) ([]Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var out []Module
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("%w: %s", ErrDependencyCycle, strings.Join(append(chain, n), " -> "))
		}
		m, ok := deps[n]
		if !ok {
			if len(chain) > 0 {
				return fmt.Errorf("%w: %s (needed by %s)", ErrUnknownModule, n, chain[len(chain)-1])
			}
			return fmt.Errorf("%w: %s", ErrUnknownModule, n)
		}
		state[n] = visiting
		// modprobe loads a dependency list from its end: depmod puts the
		// deepest dependencies last.
		for i := len(m.Deps) - 1; i >= 0; i-- {
			if err := visit(m.Deps[i], append(chain, n)); err != nil {
				return err
			}
		}
		state[n] = done
		out = append(out, m)
		return nil
	}
	if err := visit(kmod.Name(name), nil); err != nil {
		return nil, err
	}
	return out, nil
}
