package tinycore

import (
	"context"
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"strings"
)

// defaultMaxExtensions bounds a dependency closure (the largest real
// closures, desktop environments, have a few hundred members).
const defaultMaxExtensions = 2000

// depsFunc returns the direct dependencies of extension name (a
// canonical name with the kernel placeholder already replaced), as its
// .dep file lists them (placeholders kept). It returns an error wrapping
// ErrUnknownExtension when the extension does not exist.
type depsFunc func(ctx context.Context, name string) ([]string, error)

// cycleError is a dependency cycle; Cycle starts and ends with the same
// extension.
type cycleError struct {
	Cycle []string
}

func (e *cycleError) Error() string {
	return fmt.Sprintf("%v: %s", ErrCycle, strings.Join(e.Cycle, " → "))
}

// Unwrap makes errors.Is(err, ErrCycle) true.
func (e *cycleError) Unwrap() error { return ErrCycle }

// resolver orders extensions after their dependencies.
type resolver struct {
	// Deps reads an extension's dependencies; required.
	Deps depsFunc
	// KernelVersion replaces "-KERNEL.tcz" (uname -r of the image's kernel).
	KernelVersion string
	// Skip, when set, reports extensions that are already present: they
	// are left out together with their dependencies (as tce-load skips
	// what is installed).
	Skip func(name string) bool
	// Max bounds the closure; 0 means defaultMaxExtensions.
	Max int
}

// Resolve returns roots and their dependencies, each once, every
// extension after the ones it depends on, in the order tce-load would
// load them (depth first, in .dep order). An unknown extension is an
// error that names the chain that required it; a cycle is a *cycleError.
func (r *resolver) Resolve(ctx context.Context, roots []string) ([]string, error) {
	max := r.Max
	if max <= 0 {
		max = defaultMaxExtensions
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order, stack []string
	var visit func(name string) error
	visit = func(name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := len(stack) - 1
			for i > 0 && stack[i] != name {
				i--
			}
			cycle := append(append([]string{}, stack[i:]...), name)
			return &cycleError{Cycle: cycle}
		}
		if r.Skip != nil && r.Skip(name) {
			state[name] = done
			return nil
		}
		if len(state) >= max {
			return fmt.Errorf("%w: more than %d in the dependency closure", ErrTooMany, max)
		}
		state[name] = visiting
		stack = append(stack, name)
		deps, err := r.Deps(ctx, name)
		if err != nil {
			if len(stack) > 1 {
				return fmt.Errorf("%w (required by %s)", err, strings.Join(stack[:len(stack)-1], " → "))
			}
			return err
		}
		for _, d := range deps {
			d, err := tcz.CanonicalName(d)
			if err != nil {
				return fmt.Errorf("%s.dep: %w", name, err)
			}
			if err := visit(tcz.WithKernel(d, r.KernelVersion)); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, root := range roots {
		n, err := tcz.CanonicalName(root)
		if err != nil {
			return nil, err
		}
		if err := visit(tcz.WithKernel(n, r.KernelVersion)); err != nil {
			return nil, err
		}
	}
	return order, nil
}
