package webui

import (
	"context"
	"fmt"
	"slices"
	"sort"
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
	a := e.Attrs
	s := step{At: e.At, Type: e.Type}
	var b strings.Builder
	switch {
	case strings.HasPrefix(e.Type, events.DHCP+"."):
		fmt.Fprintf(&b, "DHCP %s", strings.TrimPrefix(e.Type, events.DHCP+"."))
		if a["reply"] != "" {
			fmt.Fprintf(&b, " → %s", a["reply"])
		}
		for _, k := range []string{"ip", "arch", "vendor", "relay", "bootfile"} {
			if a[k] != "" {
				fmt.Fprintf(&b, " %s=%s", k, a[k])
			}
		}
		s.Err = a["reply"] == "nak"
	case e.Type == events.TFTPSend || e.Type == events.HTTPSend:
		proto := strings.ToUpper(strings.TrimSuffix(e.Type, ".send"))
		fmt.Fprintf(&b, "%s sent %s", proto, a["file"])
		if a["bytes"] != "" {
			fmt.Fprintf(&b, " (%s bytes", a["bytes"])
			if a["duration"] != "" {
				fmt.Fprintf(&b, " in %s", a["duration"])
			}
			b.WriteString(")")
		}
		if r := a["result"]; r != "" && r != "complete" {
			fmt.Fprintf(&b, ": %s", r)
			s.Err = true
		}
	case e.Type == events.BootScript:
		fmt.Fprintf(&b, "boot script served: %s", a["kind"])
		if a["policy"] != "" {
			fmt.Fprintf(&b, " (policy %s)", a["policy"])
		}
	case e.Type == events.FirstCheckin:
		b.WriteString("checked in")
		if a["command"] != "" {
			fmt.Fprintf(&b, ", told %s", a["command"])
		}
	case e.Type == events.Registered:
		b.WriteString("registered")
		if a["facts"] != "" {
			fmt.Fprintf(&b, " (%s facts", a["facts"])
			if a["changed"] != "" {
				fmt.Fprintf(&b, "; changed: %s", a["changed"])
			}
			b.WriteString(")")
		}
	case e.Type == events.TagsChanged:
		fmt.Fprintf(&b, "tags changed: +%s −%s", a["added"], a["removed"])
	case e.Type == events.Bound:
		fmt.Fprintf(&b, "bound to policy %s", a["policy"])
	case e.Type == events.Unbound:
		b.WriteString("unbound")
	case e.Type == events.BootFailed:
		fmt.Fprintf(&b, "came back to the microkernel after policy %s's target", a["policy"])
		s.Err = true
	case strings.HasPrefix(e.Type, "command."):
		fmt.Fprintf(&b, "command %s %s", a["command"], strings.TrimPrefix(e.Type, "command."))
		s.Err = e.Type == events.CommandExpired
	case e.Type == events.Refused:
		fmt.Fprintf(&b, "refused %s: %s", a["request"], a["reason"])
		if a["field"] != "" {
			fmt.Fprintf(&b, " (%s)", a["field"])
		}
		s.Err = true
	default:
		b.WriteString(e.Type)
		keys := make([]string, 0, len(a))
		for k := range a {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, a[k])
		}
	}
	s.What = b.String()
	return s
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
