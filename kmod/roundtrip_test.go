package kmod_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/razor-mk/razor-mk/agent/modprobe"
	"github.com/razor-mk/razor-mk/builder/modules"
	"github.com/razor-mk/razor-mk/kmod/kmodtest"
)

// The indexes the builder writes into an image are the ones the agent
// reads at boot: modules chosen by builder/modules, their modules.dep and
// modules.alias written as an image holds them, then loaded by
// agent/modprobe by name and by device modalias, each after its
// dependencies.
func TestBuilderIndexesAreWhatTheAgentReads(t *testing.T) {
	src := t.TempDir()
	mods := []kmodtest.Module{
		{Path: "kernel/drivers/virtio/virtio_ring.ko.xz"},
		{Path: "kernel/drivers/virtio/virtio.ko.zst", Modinfo: []string{"depends=virtio_ring"}},
		{Path: "kernel/drivers/virtio/virtio_pci.ko", Modinfo: []string{"depends=virtio,virtio_ring", "alias=pci:v00001AF4d*sv*sd*bc*sc*i*"}},
		{Path: "kernel/net/core/failover.ko.gz"},
		{Path: "kernel/drivers/net/net_failover.ko", Modinfo: []string{"depends=failover"}},
		{Path: "kernel/drivers/net/virtio_net.ko.xz", Modinfo: []string{"depends=virtio,virtio_ring,net_failover", "alias=virtio:d00000001v*"}},
		{Path: "kernel/drivers/net/e1000.ko", Modinfo: []string{"alias=pci:v00008086d0000100Esv*sd*bc*sc*i*"}},
	}
	if err := kmodtest.WriteTree(src, mods, []string{"unix"}); err != nil {
		t.Fatal(err)
	}
	tree, err := modules.OpenTree(os.DirFS(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := tree.Resolve([]string{"virtio_net", "virtio_pci"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The image's /lib/modules/<kver>: plain modules and the indexes.
	img := t.TempDir()
	for _, m := range set.Modules {
		p := filepath.Join(img, m.ImagePath)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, m.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string][]byte{
		"modules.dep": set.ModulesDep(), "modules.alias": set.ModulesAlias(),
		"modules.softdep": set.ModulesSoftdep(), "modules.builtin": []byte("kernel/net/unix/unix.ko\n"),
	} {
		if err := os.WriteFile(filepath.Join(img, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var loaded []string
	p, err := modprobe.NewProber(modprobe.Options{Dir: img, Load: func(path, _ string) error {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("agent loads %s, which the image does not hold: %v", path, err)
		}
		rel, _ := filepath.Rel(img, path)
		loaded = append(loaded, rel)
		return nil
	}})
	if err != nil {
		t.Fatalf("the agent cannot read the builder's indexes: %v", err)
	}
	if _, err := p.Probe("virtio-net", ""); err != nil {
		t.Fatalf("Probe(virtio-net) = %v", err)
	}
	if _, err := p.ProbeAlias("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"); err != nil {
		t.Fatalf("ProbeAlias(virtio PCI NIC) = %v", err)
	}
	if _, err := p.Probe("unix", ""); err != nil {
		t.Errorf("Probe(built-in unix) = %v", err)
	}
	want := []string{
		"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
		"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
		"kernel/drivers/virtio/virtio_pci.ko",
	}
	// Dependencies first; the relative order of independent chains is
	// the agent's choice.
	if diff := cmp.Diff(slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(loaded))); diff != "" {
		t.Errorf("modules loaded mismatch (-want +got):\n%s", diff)
	}
	pos := map[string]int{}
	for i, l := range loaded {
		pos[l] = i
	}
	for _, m := range set.Modules {
		for _, d := range m.Info.Depends {
			dm, _ := set.Get(d)
			if pos[dm.ImagePath] > pos[m.ImagePath] {
				t.Errorf("agent loaded %s before its dependency %s: %v", m.ImagePath, dm.ImagePath, loaded)
			}
		}
	}
	if _, err := p.ProbeAlias("pci:v00008086d0000100Esv00008086sd00000001bc02sc00i00"); err != nil {
		t.Errorf("ProbeAlias(e1000, not in the image) = %v, want no error and nothing loaded", err)
	}
}
