package facts

import (
	"log/slog"
	"strconv"
)

// gatherer holds the tree, the facts found so far and the sources that
// several collectors share, each parsed once on first use.
type gatherer struct {
	t     tree
	opts  Options
	log   *slog.Logger
	facts map[string]string
	errs  []SourceError

	platLoaded bool
	plat       platform
	platErr    error

	cpuLoaded bool
	cpu       cpuInfo
	cpuErr    error

	pciLoaded bool
	pci       map[string]*pciDevice
	pciErr    error

	ifsLoaded bool
	ifs       []*netIface
	ifsErr    error
}

func newGatherer(t tree, opts Options) *gatherer {
	return &gatherer{t: t, opts: opts, log: opts.logger(), facts: map[string]string{}}
}

// set records a fact; empty values are left out, as Facter and lshw do.
func (g *gatherer) set(name, value string) {
	if v := cleanValue(value); v != "" {
		g.facts[name] = v
	}
}

// setn records the fact prefix<n>_suffix (mk_hw_cpu0_vendor).
func (g *gatherer) setn(prefix string, n int, suffix, value string) {
	g.set(prefix+strconv.Itoa(n)+"_"+suffix, value)
}
