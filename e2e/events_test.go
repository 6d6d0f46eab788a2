package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// bootSteps are the events of a microkernel's PXE boot, in the order they
// must be recorded: DHCP, the boot script, the kernel and initrd sent over
// HTTP, the first checkin, the registration.
var bootSteps = []string{"dhcp.", "boot.script", "http.send", "node.checkin", "node.registered"}

// checkBootEvents checks that node's PXE boot is told, in order, by its
// events through the admin API and through the live stream (from the
// start, as a client resuming with Last-Event-ID 0 gets it).
func checkBootEvents(t *testing.T, c *adminapi.Client, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Events are written in batches (every 200 ms) off the request path,
	// so the registration the caller has just seen may not be readable
	// yet: a loaded machine missed it once.
	var evs []adminapi.Event
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if evs, err = c.NodeEvents(ctx, node, adminapi.EventQuery{}); err != nil {
			t.Fatalf("node %s events: %v", node, err)
		}
		if slices.ContainsFunc(evs, func(e adminapi.Event) bool { return e.Type == "node.registered" }) || time.Now().After(deadline) {
			break
		}
	}
	inOrder(t, "API", evs, bootSteps)

	var streamed []adminapi.Event
	done := errors.New("registered")
	err := c.Stream(ctx, adminapi.EventQuery{Node: node}, 0, func(e adminapi.Event) error {
		streamed = append(streamed, e)
		if e.Type == "node.registered" {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("event stream of node %s ended with %v before its registration (%d events)", node, err, len(streamed))
	}
	inOrder(t, "stream", streamed, bootSteps)
}

// stepsDone counts the steps evs hold in order (first occurrences).
func stepsDone(evs []adminapi.Event, steps []string) int {
	next := 0
	for _, e := range evs {
		if next < len(steps) && strings.HasPrefix(e.Type, steps[next]) {
			next++
		}
	}
	return next
}

// inOrder reports whether evs hold steps in order (first occurrences).
func inOrder(t *testing.T, via string, evs []adminapi.Event, steps []string) {
	t.Helper()
	if next := stepsDone(evs, steps); next < len(steps) {
		var types []string
		for _, e := range evs {
			types = append(types, e.Type)
		}
		t.Errorf("events through the %s: %v; want %v in that order (missing from %q on)", via, types, steps, steps[next])
	}
}
