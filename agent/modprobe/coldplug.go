package modprobe

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Coldplug loads the modules for the devices present, as udev's coldplug
// does: it reads every device's modalias under SysfsRoot/bus/*/devices/,
// loads what modules.alias names, and goes round again because drivers
// create devices (virtio_pci's probe adds virtio devices, which need
// virtio_net), until a round finds no new device, MaxRounds or Timeout.
type Coldplug struct {
	Prober *Prober
	// SysfsRoot is where sysfs is mounted; "" means /sys.
	SysfsRoot string
	// MaxRounds bounds the rounds; 0 means 10.
	MaxRounds int
	// Settle is how long to wait, after a round that loaded modules, for
	// new devices to appear; 0 means 250ms. The wait ends early once new
	// devices have shown up and a poll finds no more. Most drivers probe
	// synchronously inside init_module, so their devices are already
	// there; the wait is for drivers that probe asynchronously.
	Settle time.Duration
	// Poll is the interval at which sysfs is re-read while settling; 0
	// means 25ms.
	Poll time.Duration
	// Workers bounds how many devices' modules load at once; 0 means 4.
	Workers int
	// Timeout bounds the whole coldplug; 0 means 30s.
	Timeout time.Duration
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// AfterRound, when set, is called after each round that loaded
	// modules, before the settle wait: the init uses it to pick up new
	// network links at once instead of after the whole coldplug.
	AfterRound func()
}

// Report says what a coldplug did.
type Report struct {
	Rounds    int      // rounds that handled new devices
	Devices   int      // distinct modaliases seen
	Loaded    []string // modules newly loaded (in load order per device)
	Failed    []string // load failures, one error text each
	Unclaimed int      // modaliases no module matched
	TimedOut  bool     // Timeout or MaxRounds ended it early
	Duration  time.Duration
}

// Run performs the coldplug. It only fails when sysfs cannot be read;
// modules that fail to load are logged and listed in the report.
func (c *Coldplug) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root := c.SysfsRoot
	if root == "" {
		root = "/sys"
	}
	maxRounds := cmpOr(c.MaxRounds, 10)
	settle := cmpOr(c.Settle, 250*time.Millisecond)
	poll := cmpOr(c.Poll, 25*time.Millisecond)
	ctx, cancel := context.WithTimeout(ctx, cmpOr(c.Timeout, 30*time.Second))
	defer cancel()

	var rep Report
	seen := map[string]bool{}
	for round := 1; ; round++ {
		if round > maxRounds || ctx.Err() != nil {
			rep.TimedOut = true
			break
		}
		all, err := Modaliases(root)
		if err != nil {
			return rep, err
		}
		var fresh []string
		for _, a := range all {
			if !seen[a] {
				seen[a] = true
				fresh = append(fresh, a)
			}
		}
		if len(fresh) == 0 {
			break
		}
		rep.Rounds = round
		loadedBefore := len(rep.Loaded)
		c.loadRound(ctx, fresh, &rep)
		log.Info("coldplug round", "round", round, "devices", len(fresh), "loaded", rep.Loaded[loadedBefore:])
		if len(rep.Loaded) == loadedBefore {
			break
		}
		if c.AfterRound != nil {
			c.AfterRound()
		}
		c.settle(ctx, root, seen, settle, poll)
	}
	rep.Devices = len(seen)
	rep.Duration = time.Since(start)
	return rep, nil
}

// loadRound loads the modules for the devices with the given
// modaliases, up to Workers at a time: drivers probe their devices inside
// init_module, and slow probes (firmware, link training) should overlap.
func (c *Coldplug) loadRound(ctx context.Context, modaliases []string, rep *Report) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, cmpOr(c.Workers, 4))
	for _, a := range modaliases {
		if len(Lookup(c.Prober.aliases, a)) == 0 {
			rep.Unclaimed++
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			got, err := c.Prober.ProbeAlias(a)
			mu.Lock()
			defer mu.Unlock()
			rep.Loaded = append(rep.Loaded, got...)
			if err != nil {
				rep.Failed = append(rep.Failed, err.Error())
			}
		}()
	}
	wg.Wait()
}

// settle waits, up to d, for modaliases not in seen to appear, and then
// for the burst to end: it returns once a poll finds new devices and the
// next poll finds no more.
func (c *Coldplug) settle(ctx context.Context, root string, seen map[string]bool, d, poll time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	last := -1 // new devices at the previous poll; -1: none yet
	for {
		all, err := Modaliases(root)
		if err == nil {
			n := 0
			for _, a := range all {
				if !seen[a] {
					n++
				}
			}
			if n > 0 && n == last {
				return
			}
			if n > 0 {
				last = n
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// Modaliases returns the distinct, sorted modalias strings of the devices
// under sysfsRoot/bus/*/devices/.
func Modaliases(sysfsRoot string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(sysfsRoot, "bus", "*", "devices", "*", "modalias"))
	if err != nil {
		return nil, fmt.Errorf("modprobe: scanning sysfs: %w", err)
	}
	if _, err := os.Stat(filepath.Join(sysfsRoot, "bus")); err != nil {
		return nil, fmt.Errorf("modprobe: sysfs not readable: %w", err)
	}
	set := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a device that went away
		}
		if a := strings.TrimSpace(string(b)); a != "" {
			set[a] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
