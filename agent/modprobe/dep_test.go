package modprobe

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/kmod"
)

func readDeps(t *testing.T) map[string]Module {
	t.Helper()
	f, err := os.Open("testdata/lib/modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := ParseDep(f)
	if err != nil {
		t.Fatalf("ParseDep(fixture) = %v", err)
	}
	return d
}

func names(ms []Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestLoadOrder(t *testing.T) {
	deps := readDeps(t)
	tests := []struct {
		name string
		want []string
	}{
		{"virtio_net", []string{"failover", "net_failover", "virtio", "virtio_ring", "virtio_net"}},
		{"virtio-pci", []string{"virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio_pci"}},
		{"virtio_blk", []string{"virtio", "virtio_ring", "virtio_blk"}},
		{"virtio_rng", []string{"virtio", "virtio_ring", "virtio_rng"}},
		{"e1000", []string{"e1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadOrder(deps, tt.name)
			if err != nil {
				t.Fatalf("LoadOrder(%q) = %v", tt.name, err)
			}
			if diff := cmp.Diff(tt.want, names(got)); diff != "" {
				t.Errorf("LoadOrder(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	if got := deps["virtio_blk"].Path; got != "kernel/drivers/block/virtio_blk.ko.xz" {
		t.Errorf("virtio_blk path = %q, want the .ko.xz path", got)
	}
}

func TestLoadOrderErrors(t *testing.T) {
	deps, err := ParseDep(strings.NewReader("a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\nd.ko: missing.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrder(deps, "a"); !errors.Is(err, ErrDependencyCycle) {
		t.Errorf("LoadOrder(cycle) = %v, want ErrDependencyCycle", err)
	}
	if _, err := LoadOrder(deps, "d"); !errors.Is(err, ErrUnknownModule) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("LoadOrder(d) = %v, want ErrUnknownModule naming missing", err)
	}
	if _, err := LoadOrder(deps, "nope"); !errors.Is(err, ErrUnknownModule) {
		t.Errorf("LoadOrder(nope) = %v, want ErrUnknownModule", err)
	}
	for _, bad := range []string{"no colon here\n", ": a.ko\n", "a b.ko: c.ko\n"} {
		if _, err := ParseDep(strings.NewReader(bad)); !errors.Is(err, kmod.ErrBadIndex) {
			t.Errorf("ParseDep(%q) = %v, want kmod.ErrBadIndex", bad, err)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/net/virtio_net.ko":       "virtio_net",
		"kernel/drivers/hw_random/virtio-rng.ko": "virtio_rng",
		"x/e1000.ko.xz":                          "e1000",
		"x/e1000.ko.zst":                         "e1000",
		"x/e1000.ko.gz":                          "e1000",
		"snd-hda-intel":                          "snd_hda_intel",
	} {
		if got := kmod.Name(in); got != want {
			t.Errorf("kmod.Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseDep(f *testing.F) {
	b, _ := os.ReadFile("testdata/lib/modules.dep")
	f.Add(string(b))
	f.Add("a.ko: a.ko\n")
	f.Fuzz(func(t *testing.T, in string) {
		deps, err := ParseDep(strings.NewReader(in))
		if err != nil {
			return
		}
		for n := range deps {
			order, err := LoadOrder(deps, n)
			if err != nil {
				continue
			}
			if len(order) == 0 || order[len(order)-1].Name != n {
				t.Errorf("LoadOrder(%q) = %v, want it to end with the module", n, names(order))
			}
			seen := map[string]bool{}
			for _, m := range order {
				if seen[m.Name] {
					t.Errorf("LoadOrder(%q) lists %s twice", n, m.Name)
				}
				seen[m.Name] = true
			}
		}
	})
}
