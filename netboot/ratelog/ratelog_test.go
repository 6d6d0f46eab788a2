package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFloodIsLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	dropped := map[string]int{}
	log := slog.New(New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}), Options{Burst: 2, Every: time.Second, Now: func() time.Time { return now },
		OnDrop: func(e string) { mu.Lock(); dropped[e]++; mu.Unlock() }})).With("component", "dhcp")
	for range 1000 {
		log.Warn("pool exhausted", "event", "exhausted")
		log.Info("offer") // not limited
	}
	log.Error("store down") // its own bucket
	now = now.Add(1500 * time.Millisecond)
	log.Warn("pool exhausted", "event", "exhausted")
	log.Warn("pool exhausted", "event", "exhausted")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var warn []string
	infos := 0
	for _, l := range lines {
		if strings.Contains(l, "offer") {
			infos++
			continue
		}
		warn = append(warn, l)
	}
	want := []string{
		`level=WARN msg="pool exhausted" component=dhcp event=exhausted`,
		`level=WARN msg="pool exhausted" component=dhcp event=exhausted`,
		`level=ERROR msg="store down" component=dhcp`,
		`level=WARN msg="pool exhausted" component=dhcp event=exhausted suppressed=998`,
	}
	if diff := cmp.Diff(want, warn); diff != "" {
		t.Errorf("limited lines (-want +got):\n%s", diff)
	}
	if infos != 1000 {
		t.Errorf("info lines = %d, want all 1000", infos)
	}
	if diff := cmp.Diff(map[string]int{"exhausted": 999}, dropped); diff != "" {
		t.Errorf("OnDrop counts (-want +got):\n%s", diff)
	}
}
