package tinycore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeDeps is a depsFunc over a map; a name that is missing is unknown.
func fakeDeps(m map[string][]string) depsFunc {
	return func(_ context.Context, name string) ([]string, error) {
		d, ok := m[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownExtension, name)
		}
		return d, nil
	}
}

func TestResolve(t *testing.T) {
	repo := map[string][]string{
		"open-vm-tools.tcz": {"fuse.tcz", "glib2.tcz", "libdnet.tcz", "procps.tcz"},
		"glib2.tcz":         {"libffi.tcz", "pcre.tcz"},
		"procps.tcz":        {"ncurses.tcz"},
		"ncurses.tcz":       {"ncurses-common.tcz"},
		"fuse.tcz":          nil, "libdnet.tcz": nil, "libffi.tcz": nil, "pcre.tcz": nil, "ncurses-common.tcz": nil,
		"disk.tcz":                  {"scsi-KERNEL.tcz", "ncurses.tcz"},
		"scsi-6.6.8-tinycore64.tcz": nil,
		"a.tcz":                     {"b.tcz"}, "b.tcz": {"c.tcz"}, "c.tcz": {"a.tcz"},
		"self.tcz": {"self.tcz"},
		"top.tcz":  {"mid.tcz"}, "mid.tcz": {"gone.tcz"},
		"loops.tcz": {"b.tcz"},
	}
	tests := []struct {
		name  string
		roots []string
		skip  []string
		want  []string
		err   string
	}{
		{"dependencies first, each once", []string{"open-vm-tools.tcz"}, nil,
			[]string{"fuse.tcz", "libffi.tcz", "pcre.tcz", "glib2.tcz", "libdnet.tcz", "ncurses-common.tcz", "ncurses.tcz", "procps.tcz", "open-vm-tools.tcz"}, ""},
		{"shared dependency once", []string{"procps", "disk.tcz"}, nil,
			[]string{"ncurses-common.tcz", "ncurses.tcz", "procps.tcz", "scsi-6.6.8-tinycore64.tcz", "disk.tcz"}, ""},
		{"root placeholder", []string{"scsi-KERNEL.tcz"}, nil, []string{"scsi-6.6.8-tinycore64.tcz"}, ""},
		{"skip installed and their dependencies", []string{"open-vm-tools.tcz"}, []string{"glib2.tcz", "procps.tcz"},
			[]string{"fuse.tcz", "libdnet.tcz", "open-vm-tools.tcz"}, ""},
		{"cycle named", []string{"a.tcz"}, nil, nil, "dependency cycle: a.tcz → b.tcz → c.tcz → a.tcz"},
		{"cycle entered from outside", []string{"loops.tcz"}, nil, nil, "dependency cycle: b.tcz → c.tcz → a.tcz → b.tcz"},
		{"self dependency", []string{"self.tcz"}, nil, nil, "dependency cycle: self.tcz → self.tcz"},
		{"unknown root", []string{"nothere.tcz"}, nil, nil, "unknown extension: nothere.tcz"},
		{"unknown dependency names the chain", []string{"top.tcz"}, nil, nil, "unknown extension: gone.tcz (required by top.tcz → mid.tcz)"},
		{"bad root", []string{"a/b"}, nil, nil, "bad extension name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &resolver{Deps: fakeDeps(repo), KernelVersion: "6.6.8-tinycore64"}
			if tt.skip != nil {
				r.Skip = func(n string) bool {
					for _, s := range tt.skip {
						if s == n {
							return true
						}
					}
					return false
				}
			}
			got, err := r.Resolve(context.Background(), tt.roots)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Resolve(%v) = %v, %v; want error containing %q", tt.roots, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%v) = %v", tt.roots, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%v) mismatch (-want +got):\n%s", tt.roots, diff)
			}
		})
	}
}

func TestResolveCycleError(t *testing.T) {
	r := &resolver{Deps: fakeDeps(map[string][]string{"x.tcz": {"y.tcz"}, "y.tcz": {"x.tcz"}})}
	_, err := r.Resolve(context.Background(), []string{"x.tcz"})
	var ce *cycleError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCycle) {
		t.Fatalf("Resolve = %v, want a *CycleError wrapping ErrCycle", err)
	}
	if diff := cmp.Diff([]string{"x.tcz", "y.tcz", "x.tcz"}, ce.Cycle); diff != "" {
		t.Errorf("cycle mismatch (-want +got):\n%s", diff)
	}
}

func TestResolveBounded(t *testing.T) {
	// A chain longer than Max is refused, not followed.
	deps := func(_ context.Context, name string) ([]string, error) {
		var n int
		fmt.Sscanf(name, "n%d.tcz", &n)
		return []string{fmt.Sprintf("n%d.tcz", n+1)}, nil
	}
	r := &resolver{Deps: deps, Max: 50}
	if _, err := r.Resolve(context.Background(), []string{"n0.tcz"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("Resolve(endless chain) = %v, want ErrTooMany", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&resolver{Deps: deps}).Resolve(ctx, []string{"n0.tcz"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve(cancelled) = %v, want context.Canceled", err)
	}
}
