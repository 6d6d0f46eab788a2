package webui

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
)

// EventSource is a fleet that records what happens to nodes (*core.Core
// does, with an events recorder): DHCP, file sends, boot scripts,
// checkins, registrations, commands, refusals. With it the node page's
// timeline and the fleet page's booting nodes and errors come from the
// events; without it they are derived from the node records.
type EventSource interface {
	Events(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	NodeEventQuery(ctx context.Context, id string, q store.EventQuery) (store.EventQuery, error)
}

// nodeTimelineLimit bounds the events a node page shows (the newest).
const nodeTimelineLimit = 200

func (u *UI) eventSource() (EventSource, bool) {
	es, ok := u.o.Fleet.(EventSource)
	return es, ok
}

// describe renders an event as a timeline step.
func describe(e store.Event) step {
	text, bad := events.Describe(e)
	return step{At: e.At, Type: e.Type, What: text, Err: bad}
}

// nodeEvents returns the newest events of node id as timeline steps,
// oldest first, and the newest event's id.
func (u *UI) nodeEvents(ctx context.Context, es EventSource, id string) ([]step, int64, error) {
	q, err := es.NodeEventQuery(ctx, id, store.EventQuery{Limit: nodeTimelineLimit, Newest: true})
	if err != nil {
		return nil, 0, err
	}
	evs, err := es.Events(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]step, len(evs))
	var last int64
	for i, e := range evs {
		out[i] = describe(e)
		last = max(last, e.ID)
	}
	return out, last, nil
}

// phase names the boot phase an event marks, for the fleet page.
func phase(t string) string {
	switch {
	case strings.HasPrefix(t, events.DHCP+"."):
		return "DHCP"
	case t == events.TFTPSend:
		return "loading iPXE (TFTP)"
	case t == events.BootScript:
		return "boot script"
	case t == events.HTTPSend:
		return "downloading the microkernel"
	case t == events.FirstCheckin:
		return "checked in"
	case t == events.Registered:
		return "registered"
	case t == events.Bound:
		return "bound, rebooting into its target"
	}
	return ""
}

// activity is a node (or a MAC not yet a node) seen recently.
type activity struct {
	Node, MAC, Phase string
	At               time.Time
}

// recentActivity returns, for each node or MAC with events in the last
// window, its latest boot phase, newest first; and the refusals and
// failures of that window.
func recentActivity(evs []store.Event) (booting []activity, errs []step) {
	latest := map[string]activity{}
	for _, e := range evs {
		if s := describe(e); s.Err {
			s.Node, s.MAC = e.Node, e.MAC
			errs = append(errs, s)
		}
		p := phase(e.Type)
		if p == "" {
			continue
		}
		key := e.Node
		if key == "" {
			key = "mac " + e.MAC
		}
		if cur, ok := latest[key]; !ok || !e.At.Before(cur.At) {
			latest[key] = activity{Node: e.Node, MAC: e.MAC, Phase: p, At: e.At}
		}
	}
	for _, a := range latest {
		booting = append(booting, a)
	}
	slices.SortFunc(booting, func(a, b activity) int { return b.At.Compare(a.At) })
	slices.Reverse(errs)
	return booting, errs
}
