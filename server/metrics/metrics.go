// Package metrics holds the checkin server's Prometheus collectors. A nil
// *Metrics is valid and records nothing, so that the core can run without
// a registry (tests, tools).
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the server's counters and histograms.
type Metrics struct {
	checkins      *prometheus.CounterVec
	registrations *prometheus.CounterVec
	commands      *prometheus.CounterVec
	bootScripts   *prometheus.CounterVec
	binds         *prometheus.CounterVec
	waiters       prometheus.Gauge
	requests      *prometheus.HistogramVec
	flushErrors   prometheus.Counter
	nodeRefused   *prometheus.CounterVec
	refused       *prometheus.CounterVec
	suppressed    *prometheus.CounterVec
}

// New creates the collectors and registers them, plus a collector for the
// node count by state that calls states at scrape time (nil: none).
func New(reg prometheus.Registerer, states func() map[string]int) (*Metrics, error) {
	m := &Metrics{
		checkins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "checkins_total",
			Help: "Node checkins answered, by command sent.",
		}, []string{"command"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "registrations_total",
			Help: "Node registrations stored, by result (created, updated).",
		}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "admin_commands_total",
			Help: "Admin commands, by command and event (queued, delivered).",
		}, []string{"command", "event"}),
		bootScripts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "boot_scripts_total",
			Help: "iPXE scripts served, by kind (chain, microkernel, kernel, ipxe, local, poweroff, error).",
		}, []string{"kind"}),
		binds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "binds_total",
			Help: "Nodes bound to a policy, by policy.",
		}, []string{"policy"}),
		waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "razor", Name: "checkin_waiters",
			Help: "Long-poll checkins being held.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "razor", Name: "http_request_duration_seconds",
			Help:    "HTTP request latency, by route and status code.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300},
		}, []string{"route", "code"}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "razor", Name: "checkin_flush_errors_total",
			Help: "Failed batched writes of checkin timestamps.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "refused_total",
			Help: "Connections and transfers refused by a connection budget, by service (http, tftp) and reason (total, per_addr).",
		}, []string{"svc", "reason"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "razor", Name: "log_suppressed_total",
			Help: "Per-packet warnings not logged because of the log rate limit, by event.",
		}, []string{"event"}),
	}
	m.nodeRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "razor", Name: "node_auth_refused_total",
		Help: "Node requests refused for their boot token, by reason (missing, stale).",
	}, []string{"reason"})
	cs := []prometheus.Collector{m.checkins, m.registrations, m.commands, m.bootScripts, m.binds, m.waiters, m.requests, m.flushErrors, m.nodeRefused, m.refused, m.suppressed}
	if states != nil {
		cs = append(cs, stateCollector{desc: prometheus.NewDesc("razor_nodes", "Nodes by state (active, inactive, bound, booted, failed).", []string{"state"}, nil), states: states})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Checkin counts a checkin answered with command.
func (m *Metrics) Checkin(command string) {
	if m != nil {
		m.checkins.WithLabelValues(command).Inc()
	}
}

// Registration counts a stored registration.
func (m *Metrics) Registration(created bool) {
	if m == nil {
		return
	}
	r := "updated"
	if created {
		r = "created"
	}
	m.registrations.WithLabelValues(r).Inc()
}

// Command counts an admin command event ("queued", "delivered").
func (m *Metrics) Command(command, event string) {
	if m != nil {
		m.commands.WithLabelValues(command, event).Inc()
	}
}

// BootScript counts an iPXE script of the given kind.
func (m *Metrics) BootScript(kind string) {
	if m != nil {
		m.bootScripts.WithLabelValues(kind).Inc()
	}
}

// Bind counts a node bound to policy.
func (m *Metrics) Bind(policy string) {
	if m != nil {
		m.binds.WithLabelValues(policy).Inc()
	}
}

// Waiters adds delta to the held long-poll count.
func (m *Metrics) Waiters(delta int) {
	if m != nil {
		m.waiters.Add(float64(delta))
	}
}

// Request observes one HTTP request.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(route, codeLabel(code)).Observe(d.Seconds())
	}
}

// NodeAuthRefused counts a node request refused for its boot token
// ("missing", "stale").
func (m *Metrics) NodeAuthRefused(reason string) {
	if m != nil {
		m.nodeRefused.WithLabelValues(reason).Inc()
	}
}

// FlushError counts a failed checkin timestamp flush.
func (m *Metrics) FlushError() {
	if m != nil {
		m.flushErrors.Inc()
	}
}

// Refused counts a connection or transfer refused by svc's budget.
func (m *Metrics) Refused(svc, reason string) {
	if m != nil {
		m.refused.WithLabelValues(svc, reason).Inc()
	}
}

// Suppressed counts a log line of event dropped by a rate limit.
func (m *Metrics) Suppressed(event string) {
	if m != nil {
		m.suppressed.WithLabelValues(event).Inc()
	}
}

func codeLabel(code int) string {
	switch {
	case code >= 100 && code < 600:
		return strconv.Itoa(code)
	default:
		return "other"
	}
}

// stateCollector reports the node count by state at scrape time.
type stateCollector struct {
	desc   *prometheus.Desc
	states func() map[string]int
}

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for state, n := range c.states() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}
