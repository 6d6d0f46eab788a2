// Package facts gathers the facts a Razor microkernel node reports when it
// registers: a flat map of string names to string values, with the names
// the original Razor microkernel used (Facter's core facts and the mk_hw_*
// families it derived from lshw and lscpu) plus what it lacked (disk
// serial and WWN, NIC driver, link speed and PCI address, SMBIOS UUID).
//
// Everything is read natively from /proc, /sys (net, block, PCI, CPU
// topology) and the SMBIOS tables under /sys/firmware/dmi/tables, with
// /sys/class/dmi/id as the fallback; no tool is run. Gathering is best
// effort: a source that fails is recorded in Result.Errors and the others
// still report. The same code reads a captured tree (Options.Root), which
// is how it is tested and how Capture's snapshots are replayed.
package facts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/razor-mk/razor-mk/wire"
)

// Errors of this package; callers use errors.Is.
var (
	// ErrNoIdentity is returned by GetIdentity when the node has neither a
	// physical Ethernet interface nor a valid SMBIOS UUID.
	ErrNoIdentity = errors.New("facts: no physical Ethernet MAC and no SMBIOS UUID")
)

// Options says where to gather facts from.
type Options struct {
	// Root is the directory holding proc/ and sys/: "" or "/" for the live
	// system, else a captured tree.
	Root string
	// Logger receives debug lines about sources that failed; nil discards.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o.Logger
}

func (o Options) live() bool { return o.Root == "" || o.Root == "/" }

// SourceError records a source (a collector such as "cpu" or "network")
// that failed, and why.
type SourceError struct {
	Source string
	Err    error
}

func (e SourceError) Error() string { return fmt.Sprintf("facts: %s: %v", e.Source, e.Err) }

// Unwrap returns the underlying error.
func (e SourceError) Unwrap() error { return e.Err }

// Result is what Gather found.
type Result struct {
	// Facts maps fact names to values; never nil.
	Facts map[string]string
	// Errors lists the sources that failed, in gathering order.
	Errors []SourceError
}

// Gather collects the facts of the system at opts.Root. It never fails as
// a whole: each collector that fails is recorded in Result.Errors, and the
// facts of the others are still returned. A cancelled ctx stops it between
// collectors.
func Gather(ctx context.Context, opts Options) Result {
	t, err := openTree(opts.Root)
	if err != nil {
		return Result{Facts: map[string]string{}, Errors: []SourceError{{Source: "root", Err: err}}}
	}
	defer t.Close()
	return gather(ctx, t, opts)
}

// collector adds the facts of one source.
type collector struct {
	name string
	run  func(*gatherer) error
}

// collectors in order: later ones use what earlier ones parsed (the
// SMBIOS tables, the PCI devices, the CPU list).
var collectors = []collector{
	{"system", (*gatherer).system},
	{"smbios", (*gatherer).smbiosFacts},
	{"pci", (*gatherer).loadPCI},
	{"cpu", (*gatherer).cpuFacts},
	{"memory", (*gatherer).memoryFacts},
	{"network", (*gatherer).networkFacts},
	{"block", (*gatherer).blockFacts},
	{"virtual", (*gatherer).virtualFacts},
	{"boot", (*gatherer).bootFacts},
}

func gather(ctx context.Context, t tree, opts Options) Result {
	g := newGatherer(t, opts)
	for _, c := range collectors {
		if err := ctx.Err(); err != nil {
			g.errs = append(g.errs, SourceError{Source: c.name, Err: err})
			break
		}
		if err := g.safeRun(c); err != nil {
			g.log.Debug("fact source failed", "source", c.name, "err", err)
			g.errs = append(g.errs, SourceError{Source: c.name, Err: err})
		}
	}
	return Result{Facts: cleanNames(g.facts), Errors: g.errs}
}

// safeRun runs one collector and turns a panic (a bug meeting hardware we
// have not seen) into that source's error, so the node still registers.
func (g *gatherer) safeRun(c collector) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
		}
	}()
	return c.run(g)
}

// badNameChars are the characters the original microkernel removed from
// fact names (RzMkHardwareFacter#clean_fact_map_keys!).
const badNameChars = "!@#$%^&*()=+[]{}"

// CleanName removes the characters !@#$%^&*()=+[]{} from a fact name, as
// the original microkernel did before registering.
func CleanName(name string) string {
	if !strings.ContainsAny(name, badNameChars) {
		return name
	}
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(badNameChars, r) {
			return -1
		}
		return r
	}, name)
}

func cleanNames(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if k = CleanName(k); k != "" {
			out[k] = v
		}
	}
	return out
}

// Exclude returns a copy of facts without the names that pattern (the
// client_config's mk_fact_excl_pattern) matches. A nil pattern excludes
// nothing.
func Exclude(facts map[string]string, pattern *regexp.Regexp) map[string]string {
	if pattern == nil {
		return maps.Clone(facts)
	}
	out := make(map[string]string, len(facts))
	for k, v := range facts {
		if !pattern.MatchString(k) {
			out[k] = v
		}
	}
	return out
}

// Identity is how the server recognises a node.
type Identity struct {
	// HWID is the hw_id of the checkin: the MACs of the physical Ethernet
	// interfaces, upper-case without colons, sorted and joined with "_"
	// (wire.JoinHWID); "" when there is none.
	HWID string
	// UUID is the SMBIOS system UUID in wire.NormalizeUUID form, "" when
	// there is none or it is an all-zero or all-F placeholder.
	UUID string
	// MACs are the normalised MACs HWID is made of.
	MACs []string
}

// GetIdentity reads the node's identity: the physical Ethernet MACs (see
// the README's "Facts" section for which interfaces count) and the SMBIOS UUID. It fails
// with ErrNoIdentity only when both are missing.
func GetIdentity(opts Options) (Identity, error) {
	t, err := openTree(opts.Root)
	if err != nil {
		return Identity{}, err
	}
	defer t.Close()
	return identity(newGatherer(t, opts))
}

func identity(g *gatherer) (Identity, error) {
	var id Identity
	ifs, err := g.interfaces()
	for _, ifc := range ifs {
		if ifc.identity {
			id.MACs = append(id.MACs, ifc.mac)
		}
	}
	id.HWID = wire.JoinHWID(id.MACs)
	if id.MACs != nil {
		id.MACs = strings.Split(id.HWID, "_")
	}
	g.loadPlatform()
	id.UUID, _ = wire.NormalizeUUID(g.plat.system.UUID)
	if id.HWID == "" && id.UUID == "" {
		if err != nil {
			return id, fmt.Errorf("%w: %w", ErrNoIdentity, err)
		}
		return id, ErrNoIdentity
	}
	return id, nil
}
