package modprobe

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/kmod"
)

// fakeLoader records the modules it "inserts" and runs hooks, so that a
// test can make devices appear when a driver loads.
type fakeLoader struct {
	mu     sync.Mutex
	calls  []string // "name params"
	fail   map[string]error
	onLoad map[string]func()
}

func (f *fakeLoader) load(path, params string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := kmod.Name(path)
	f.calls = append(f.calls, strings.TrimSpace(n+" "+params))
	if err := f.fail[n]; err != nil {
		return err
	}
	if h := f.onLoad[n]; h != nil {
		h()
	}
	return nil
}

func newTestProber(t *testing.T, fl *fakeLoader, cfg Options) *Prober {
	t.Helper()
	cfg.Dir = "testdata/lib"
	cfg.Load = fl.load
	p, err := NewProber(cfg)
	if err != nil {
		t.Fatalf("NewProber = %v", err)
	}
	return p
}

func TestProbe(t *testing.T) {
	fl := &fakeLoader{fail: map[string]error{"e1000": errors.New("ENODEV")}}
	p := newTestProber(t, fl, Options{
		Loaded: []string{"virtio"},
		Params: map[string]string{"virtio-net": "napi_tx=1"},
	})
	got, err := p.Probe("virtio_net", "")
	if err != nil {
		t.Fatalf("Probe(virtio_net) = %v", err)
	}
	if diff := cmp.Diff([]string{"failover", "net_failover", "virtio_ring", "virtio_net"}, got); diff != "" {
		t.Errorf("Probe(virtio_net) loaded mismatch (-want +got):\n%s", diff)
	}
	// Dependencies already loaded are not loaded again.
	if got, err := p.Probe("virtio_blk", "queue_depth=8"); err != nil || !cmp.Equal(got, []string{"virtio_blk"}) {
		t.Errorf("Probe(virtio_blk) = %v, %v; want [virtio_blk], nil", got, err)
	}
	// Built-in modules need nothing.
	if got, err := p.Probe("ext4", ""); err != nil || len(got) != 0 {
		t.Errorf("Probe(ext4) = %v, %v; want nothing, nil", got, err)
	}
	if _, err := p.Probe("nonexistent", ""); !errors.Is(err, ErrUnknownModule) {
		t.Errorf("Probe(nonexistent) = %v, want ErrUnknownModule", err)
	}
	// A failure is remembered, not retried.
	for range 2 {
		if _, err := p.Probe("e1000", ""); err == nil {
			t.Errorf("Probe(e1000) = nil, want the load error")
		}
	}
	want := []string{"failover", "net_failover", "virtio_ring", "virtio_net napi_tx=1", "virtio_blk queue_depth=8", "e1000"}
	if diff := cmp.Diff(want, fl.calls); diff != "" {
		t.Errorf("loader calls mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"failover", "net_failover", "virtio_ring", "virtio_net", "virtio_blk"}, p.Loaded()); diff != "" {
		t.Errorf("Loaded() mismatch (-want +got):\n%s", diff)
	}
}

func TestProbeAliasBlacklist(t *testing.T) {
	fl := &fakeLoader{}
	p := newTestProber(t, fl, Options{Blacklist: []string{"e1000"}})
	if got, err := p.ProbeAlias("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"); err != nil || len(got) != 0 {
		t.Errorf("ProbeAlias(blacklisted e1000) = %v, %v; want nothing", got, err)
	}
	if got, err := p.Probe("e1000", ""); err != nil || !cmp.Equal(got, []string{"e1000"}) {
		t.Errorf("Probe(e1000 by name) = %v, %v; want [e1000]: the blacklist only applies to aliases", got, err)
	}
}

func TestNewProberMissingIndex(t *testing.T) {
	_, err := NewProber(Options{Dir: t.TempDir()})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NewProber(empty dir) = %v, want fs.ErrNotExist", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte("a.ko:\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "modules.alias"), []byte("garbage line\n"), 0o644)
	if _, err := NewProber(Options{Dir: dir}); !errors.Is(err, kmod.ErrBadIndex) || !strings.Contains(err.Error(), "modules.alias") {
		t.Errorf("NewProber(bad alias) = %v, want kmod.ErrBadIndex naming modules.alias", err)
	}
}

// fakeSysfs is a sysfs tree whose devices can be added while a coldplug
// runs.
type fakeSysfs struct{ root string }

func (s fakeSysfs) add(t *testing.T, bus, dev, modalias string) {
	dir := filepath.Join(s.root, "bus", bus, "devices", dev)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "modalias"), []byte(modalias+"\n"), 0o644); err != nil {
		t.Error(err)
	}
}

func TestColdplugRounds(t *testing.T) {
	sys := fakeSysfs{t.TempDir()}
	sys.add(t, "pci", "0000:00:00.0", "pci:v00008086d00001237sv00001AF4sd00001100bc06sc00i00") // host bridge, no driver
	sys.add(t, "pci", "0000:00:02.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00") // virtio-net
	sys.add(t, "pci", "0000:00:03.0", "pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00") // virtio-rng
	sys.add(t, "pci", "0000:00:04.0", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00") // e1000
	sys.add(t, "cpu", "cpu0", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0093")         // module not shipped
	fl := &fakeLoader{onLoad: map[string]func(){
		// virtio_pci's probe creates the virtio devices, a little later
		// (asynchronous probing), and virtio_net then creates nothing new.
		"virtio_pci": func() {
			go func() {
				// Both devices appear at once (a rename of the prepared
				// bus), so the test does not depend on scheduling.
				staged := fakeSysfs{filepath.Join(sys.root, "staging")}
				staged.add(t, "virtio", "virtio0", "virtio:d00000001v00001AF4")
				staged.add(t, "virtio", "virtio1", "virtio:d00000004v00001AF4")
				time.Sleep(30 * time.Millisecond)
				if err := os.Rename(filepath.Join(staged.root, "bus", "virtio"), filepath.Join(sys.root, "bus", "virtio")); err != nil {
					t.Error(err)
				}
			}()
		},
	}}
	p := newTestProber(t, fl, Options{})
	var afterRound []time.Duration
	start := time.Now()
	c := &Coldplug{Prober: p, SysfsRoot: sys.root, Settle: 2 * time.Second, Poll: 5 * time.Millisecond,
		AfterRound: func() { afterRound = append(afterRound, time.Since(start)) }}
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatalf("Coldplug.Run = %v", err)
	}
	// Called once per round that loaded modules, before its settle wait:
	// the second call comes well before the final 2s settle ends.
	if len(afterRound) != 2 || rep.Duration-afterRound[1] < 1500*time.Millisecond {
		t.Errorf("AfterRound called at %v of %v; want twice, the last before the final settle", afterRound, rep.Duration)
	}
	// Devices load in parallel, so only the set and the dependency order
	// are fixed.
	want := []string{"e1000", "failover", "net_failover", "virtio", "virtio_net", "virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio_rng"}
	got := slices.Sorted(slices.Values(rep.Loaded))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Coldplug loaded mismatch (-want +got):\n%s", diff)
	}
	deps := readDeps(t)
	order := p.Loaded()
	pos := map[string]int{}
	for i, m := range order {
		pos[m] = i
	}
	for _, m := range order {
		for _, d := range deps[m].Deps {
			if pos[d] > pos[m] {
				t.Errorf("Loaded() = %v: %s loaded before its dependency %s", order, m, d)
			}
		}
	}
	if i, j := slices.Index(order, "virtio_pci"), slices.Index(order, "virtio_net"); i > j {
		t.Errorf("Loaded() = %v: virtio_net's device only exists once virtio_pci is loaded", order)
	}
	if rep.Rounds != 2 || rep.Devices != 7 || rep.Unclaimed != 1 || len(rep.Failed) != 1 || rep.TimedOut {
		t.Errorf("Coldplug report = %+v, want 2 rounds, 7 devices, 1 unclaimed, 1 failure (crc32c_intel not shipped), not timed out", rep)
	}
	// Round 1 settles until the virtio devices appear (30ms); round 2
	// settles the full 2s in vain. Without the early end it would be 4s.
	if rep.Duration > 3500*time.Millisecond {
		t.Errorf("Coldplug took %v: settling should end as soon as new devices appear", rep.Duration)
	}
}

func TestColdplugBounded(t *testing.T) {
	sys := fakeSysfs{t.TempDir()}
	sys.add(t, "pci", "0", "fs-squashfs")
	fl := &fakeLoader{}
	p := newTestProber(t, fl, Options{})
	// A chain of devices longer than MaxRounds: loading squashfs makes a
	// device that needs loop.
	fl.onLoad = map[string]func(){"squashfs": func() { sys.add(t, "virtio", "v0", "block-major-7-0") }}
	c := &Coldplug{Prober: p, SysfsRoot: sys.root, MaxRounds: 2, Settle: 50 * time.Millisecond, Poll: 5 * time.Millisecond}
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.TimedOut || rep.Rounds != 2 {
		t.Errorf("Coldplug report = %+v, want stopped by MaxRounds=2", rep)
	}
	if _, err := (&Coldplug{Prober: p, SysfsRoot: filepath.Join(sys.root, "missing")}).Run(context.Background()); err == nil {
		t.Errorf("Coldplug on a missing sysfs = nil, want an error")
	}
}

func TestParseModulesList(t *testing.T) {
	got, err := ParseModulesList(strings.NewReader("# /etc/modules\n\nloop max_loop=16\n; comment\nvirtio-net\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Request{{Name: "loop", Params: "max_loop=16"}, {Name: "virtio_net"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseModulesList mismatch (-want +got):\n%s", diff)
	}
	if _, err := ParseModulesList(strings.NewReader("loop\n../../evil\n")); !errors.Is(err, ErrBadList) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseModulesList(bad name) = %v, want ErrBadList naming line 2", err)
	}
}

func FuzzParseModulesList(f *testing.F) {
	f.Add("loop max_loop=16\n# c\nvirtio_net\n")
	f.Fuzz(func(t *testing.T, in string) {
		reqs, err := ParseModulesList(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range reqs {
			if !ValidName(r.Name) {
				t.Errorf("ParseModulesList(%q) gave invalid name %q", in, r.Name)
			}
		}
	})
}
