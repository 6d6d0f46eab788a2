package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.Checkin("acknowledge")
	m.Registration(true)
	m.Command("reboot", "queued")
	m.BootScript("microkernel")
	m.Bind("p")
	m.Waiters(1)
	m.Request("checkin", 200, time.Millisecond)
	m.FlushError()
	m.Refused("http", "total")
	m.Suppressed("pool-exhausted")
}

func TestCollect(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, func() map[string]int { return map[string]int{"active": 3, "bound": 1} })
	if err != nil {
		t.Fatal(err)
	}
	m.Checkin("reboot")
	m.Checkin("reboot")
	m.Registration(false)
	m.Request("register", 413, 2*time.Millisecond)
	m.Refused("tftp", "per_addr")
	m.Suppressed("pool-exhausted")
	m.Suppressed("pool-exhausted")
	want := `
# HELP razor_log_suppressed_total Per-packet warnings not logged because of the log rate limit, by event.
# TYPE razor_log_suppressed_total counter
razor_log_suppressed_total{event="pool-exhausted"} 2
# HELP razor_refused_total Connections and transfers refused by a connection budget, by service (http, tftp) and reason (total, per_addr).
# TYPE razor_refused_total counter
razor_refused_total{reason="per_addr",svc="tftp"} 1
# HELP razor_checkins_total Node checkins answered, by command sent.
# TYPE razor_checkins_total counter
razor_checkins_total{command="reboot"} 2
# HELP razor_nodes Nodes by state (active, inactive, bound, booted, failed).
# TYPE razor_nodes gauge
razor_nodes{state="active"} 3
razor_nodes{state="bound"} 1
# HELP razor_registrations_total Node registrations stored, by result (created, updated).
# TYPE razor_registrations_total counter
razor_registrations_total{result="updated"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "razor_checkins_total", "razor_nodes", "razor_registrations_total", "razor_refused_total", "razor_log_suppressed_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.requests, "razor_http_request_duration_seconds"); n != 1 {
		t.Errorf("request histogram series = %d, want 1", n)
	}
	if _, err := New(reg, nil); err == nil {
		t.Errorf("New on a registry that has the collectors = nil error, want a duplicate registration error")
	}
}
