package events

import (
	"strings"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// Phase names, as metrics.Boot has them.
const (
	PhaseScript     = "boot_script"
	PhaseKernel     = "kernel_sent"
	PhaseCheckin    = "first_checkin"
	PhaseRegistered = "registered"
	PhaseTotal      = "dhcp_to_registered"
)

// phaseWindow: a boot whose phases span longer than this is not measured
// (the node was off, or a phase was missed).
const phaseWindow = 30 * time.Minute

// Phases follows each MAC's boot through the events recorded — DHCP →
// boot script → kernel sent → first checkin → registered — and reports
// the time of each phase to observe. Feed it with Options.OnRecord.
type Phases struct {
	observe func(phase string, d time.Duration)

	mu    sync.Mutex
	boots map[string]*boot
}

type boot struct {
	dhcp, script, kernel, checkin time.Time
}

// NewPhases returns a Phases reporting to observe.
func NewPhases(observe func(phase string, d time.Duration)) *Phases {
	return &Phases{observe: observe, boots: map[string]*boot{}}
}

// Observe takes one event.
func (p *Phases) Observe(e store.Event) {
	if e.MAC == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.boots[e.MAC]
	if b != nil && e.At.Sub(b.dhcp) > phaseWindow {
		delete(p.boots, e.MAC)
		b = nil
	}
	switch {
	case strings.HasPrefix(e.Type, DHCP+"."):
		if r := e.Attrs["reply"]; b == nil && (r == "offer" || r == "ack") {
			if len(p.boots) >= 100000 {
				p.sweep(e.At)
			}
			p.boots[e.MAC] = &boot{dhcp: e.At}
		}
	case b == nil:
	case e.Type == BootScript && e.Attrs["kind"] == "microkernel" && b.script.IsZero():
		b.script = e.At
		p.observe(PhaseScript, e.At.Sub(b.dhcp))
	case (e.Type == HTTPSend || e.Type == TFTPSend && strings.Contains(e.Attrs["file"], "images/")) &&
		e.Attrs["outcome"] == "complete" && !b.script.IsZero() && b.kernel.IsZero():
		// The kernel: over HTTP (iPXE) or TFTP (GRUB).
		b.kernel = e.At
		p.observe(PhaseKernel, e.At.Sub(b.script))
	case e.Type == FirstCheckin && !b.kernel.IsZero() && b.checkin.IsZero():
		b.checkin = e.At
		p.observe(PhaseCheckin, e.At.Sub(b.kernel))
	case e.Type == Registered && !b.checkin.IsZero():
		p.observe(PhaseRegistered, e.At.Sub(b.checkin))
		p.observe(PhaseTotal, e.At.Sub(b.dhcp))
		delete(p.boots, e.MAC)
	}
}

// sweep drops boots older than the window.
func (p *Phases) sweep(now time.Time) {
	for k, b := range p.boots {
		if now.Sub(b.dhcp) > phaseWindow {
			delete(p.boots, k)
		}
	}
}
