// Package events records node events (store.Event) for the checkin
// server and the netboot services: Record never blocks a request; a
// Recorder writes what it is given in batches, prunes by the configured
// retention, wakes live streams after each write, and remembers which MAC
// used which IP address, so that a file sent to an address (TFTP, HTTP)
// lands on the right node's timeline.
package events

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// Event types. The part before the first dot is the source.
const (
	DHCP           = "dhcp"            // dhcp.discover, dhcp.request…: one exchange, attrs reply, ip, arch…
	TFTPSend       = "tftp.send"       // a file sent over TFTP (or refused)
	HTTPSend       = "http.send"       // an image file sent over HTTP
	BootScript     = "boot.script"     // /boot.ipxe served, attr kind (the decision)
	FirstCheckin   = "node.checkin"    // the first checkin after a boot, or one whose answer changed
	Registered     = "node.registered" // a registration: facts, changed
	TagsChanged    = "node.tags"       // the node's tags changed: added, removed
	Bound          = "node.bound"      // bound to a policy
	Unbound        = "node.unbound"    // binding cleared
	BootFailed     = "node.failed"     // came back to the microkernel after its target
	Deleted        = "node.deleted"    // removed by an admin
	CommandQueued  = "command.queued"
	CommandSent    = "command.delivered"
	CommandCancel  = "command.cancelled"
	CommandExpired = "command.expired"
	Refused        = "refused" // a node request refused: reason, field
	// Out-of-band power through the node's BMC (IPMI over LAN).
	PowerDone     = "power.done"   // a power action the BMC carried out: action, state, bmc, credential, reason
	PowerFailed   = "power.failed" // a power action that failed: action, error, reason
	BMCCredential = "node.bmc"     // the node's own BMC credential set or deleted: change, bmc (never the password)
)

// Options configure New. Zero values take the defaults given.
type Options struct {
	Logger *slog.Logger // default: discard
	// Retention bounds what is kept (default: 1000 per node, 200000 in
	// all, 30 days); a negative field is unbounded.
	Retention store.Retention
	// FlushInterval: how often recorded events are written (default
	// 200 ms).
	FlushInterval time.Duration
	// PruneInterval: how often retention is applied (default 1 min).
	PruneInterval time.Duration
	// Buffer bounds the events waiting to be written (default 10000);
	// beyond it events are dropped and counted.
	Buffer int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnRecord, if set, sees each event as it is recorded (with its time
	// set, without its ID); it must not block (Phases.Observe).
	OnRecord func(store.Event)
}

// Defaults of Options.Retention.
const (
	DefaultPerNode = 1000
	DefaultTotal   = 200000
	DefaultMaxAge  = 30 * 24 * time.Hour
)

// Recorder buffers events and writes them to a store.EventLog. A nil
// *Recorder records nothing, so callers need no checks.
type Recorder struct {
	log  store.EventLog
	opts Options
	lg   *slog.Logger

	mu      sync.Mutex
	pending []store.Event
	dropped int64
	wake    chan struct{} // closed and replaced after each write
	kick    chan struct{}

	ipMu  sync.Mutex
	ipMAC map[netip.Addr]ipEntry
}

type ipEntry struct {
	mac, node string
	at        time.Time
}

// ipTTL: an address learned from DHCP or a boot request is trusted this
// long for attributing file sends.
const ipTTL = 2 * time.Hour

// New returns a Recorder writing to l; call Run.
func New(l store.EventLog, o Options) *Recorder {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = time.Minute
	}
	if o.Buffer <= 0 {
		o.Buffer = 10000
	}
	o.Retention.PerNode = orDefault(o.Retention.PerNode, DefaultPerNode)
	o.Retention.Total = orDefault(o.Retention.Total, DefaultTotal)
	o.Retention.MaxAge = time.Duration(orDefault(int(o.Retention.MaxAge), int(DefaultMaxAge)))
	return &Recorder{log: l, opts: o, lg: o.Logger, wake: make(chan struct{}), kick: make(chan struct{}, 1), ipMAC: map[netip.Addr]ipEntry{}}
}

// orDefault: 0 → def, negative → 0 (unbounded).
func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Retention is the retention in force.
func (r *Recorder) Retention() store.Retention { return r.opts.Retention }

// Record queues an event; it never blocks. A zero At is now.
func (r *Recorder) Record(e store.Event) {
	if r == nil {
		return
	}
	if e.At.IsZero() {
		e.At = r.opts.Now()
	}
	if r.opts.OnRecord != nil {
		r.opts.OnRecord(e)
	}
	r.mu.Lock()
	if len(r.pending) >= r.opts.Buffer {
		r.dropped++
		r.mu.Unlock()
		return
	}
	r.pending = append(r.pending, e)
	n := len(r.pending)
	r.mu.Unlock()
	if n == flushAt {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// flushAt: this many queued events are written without waiting for the
// next tick.
const flushAt = 512

// Dropped is the number of events dropped because the buffer was full.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Changed returns a channel closed at the next write of events (by this
// process); streams wait on it.
func (r *Recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wake
}

// Run writes queued events every FlushInterval and applies retention
// every PruneInterval until ctx ends, then writes what is left.
func (r *Recorder) Run(ctx context.Context) error {
	flush := time.NewTicker(r.opts.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(r.opts.PruneInterval)
	defer prune.Stop()
	r.Prune(ctx)
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return nil
		case <-flush.C:
			r.Flush(ctx)
		case <-r.kick:
			r.Flush(ctx)
		case <-prune.C:
			r.Prune(ctx)
		}
	}
}

// Flush writes the queued events now.
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if _, err := r.log.AppendEvents(ctx, batch); err != nil {
		r.lg.Warn("events: write failed; events lost", "events", len(batch), "err", err)
		return err
	}
	r.mu.Lock()
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// Prune applies the retention now.
func (r *Recorder) Prune(ctx context.Context) {
	n, err := r.log.PruneEvents(ctx, r.opts.Retention, r.opts.Now())
	if err != nil {
		r.lg.Warn("events: pruning failed", "err", err)
		return
	}
	if n > 0 {
		r.lg.Debug("events: pruned", "events", n)
	}
	r.ipMu.Lock()
	defer r.ipMu.Unlock()
	cut := r.opts.Now().Add(-ipTTL)
	for ip, e := range r.ipMAC {
		if e.at.Before(cut) {
			delete(r.ipMAC, ip)
		}
	}
}

// LearnIP remembers that mac (colon form) uses ip, as node (may be "").
func (r *Recorder) LearnIP(ip netip.Addr, mac, node string) {
	if r == nil || !ip.IsValid() || mac == "" {
		return
	}
	r.ipMu.Lock()
	defer r.ipMu.Unlock()
	if node == "" {
		if old, ok := r.ipMAC[ip]; ok && old.mac == mac {
			node = old.node
		}
	}
	r.ipMAC[ip.Unmap()] = ipEntry{mac: mac, node: node, at: r.opts.Now()}
}

// ByIP returns the MAC and node last learned for ip, if recent.
func (r *Recorder) ByIP(ip netip.Addr) (mac, node string) {
	if r == nil {
		return "", ""
	}
	r.ipMu.Lock()
	defer r.ipMu.Unlock()
	e, ok := r.ipMAC[ip.Unmap()]
	if !ok || r.opts.Now().Sub(e.at) > ipTTL {
		return "", ""
	}
	return e.mac, e.node
}
