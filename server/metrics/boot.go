package metrics

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Boot are the collectors of the boot path as the netboot services see
// it: DHCP exchanges and file sends by outcome, the time between a node's
// boot phases, dropped events, and the build. A nil *Boot records nothing.
type Boot struct {
	dhcp    *prometheus.CounterVec
	sends   *prometheus.CounterVec
	phases  *prometheus.HistogramVec
	dropped prometheus.CounterFunc
}

// NewBoot registers the boot-path collectors and razor_build_info
// (version, commit, Go version; always 1). dropped, if set, is read at
// scrape time as razor_events_dropped_total.
func NewBoot(reg prometheus.Registerer, version, commit string, dropped func() float64) (*Boot, error) {
	b := &Boot{
		dhcp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "dhcp_exchanges_total",
			Help: "DHCP requests handled, by request type and reply (offer, ack, nak, none).",
		}, []string{"type", "reply"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "file_sends_total",
			Help: "Files requested over TFTP and HTTP (images), by protocol and outcome (complete, aborted, refused).",
		}, []string{"proto", "outcome"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "razor", Name: "boot_phase_seconds",
			Help:    "Time of a node's boot phases: DHCP → boot_script → kernel_sent → first_checkin → registered, and dhcp_to_registered.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"phase"}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "razor", Name: "build_info",
		Help:        "The running build (always 1).",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
	})
	info.Set(1)
	cs := []prometheus.Collector{b.dhcp, b.sends, b.phases, info}
	if dropped != nil {
		b.dropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "razor", Name: "events_dropped_total",
			Help: "Node events dropped because the write buffer was full.",
		}, dropped)
		cs = append(cs, b.dropped)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// DHCP counts one DHCP request by type and reply.
func (b *Boot) DHCP(typ, reply string) {
	if b != nil {
		b.dhcp.WithLabelValues(typ, reply).Inc()
	}
}

// FileSend counts one file request by protocol (tftp, http) and outcome.
func (b *Boot) FileSend(proto, outcome string) {
	if b != nil {
		b.sends.WithLabelValues(proto, outcome).Inc()
	}
}

// Phase observes one boot phase's duration.
func (b *Boot) Phase(phase string, d time.Duration) {
	if b != nil && d >= 0 {
		b.phases.WithLabelValues(phase).Observe(d.Seconds())
	}
}
