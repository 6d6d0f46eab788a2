package store

import (
	"context"
	"strings"
	"time"
)

// Event is one thing that happened to a node (or to a MAC before the node
// is known): a DHCP message, a file sent, a boot script, a registration, a
// binding, a command, a refusal. Events are the node's timeline.
type Event struct {
	// ID is assigned by the store: increasing in the order events become
	// visible, never reused (a stream resumes after the last ID it saw).
	ID int64
	At time.Time
	// Type is dotted, its first part the source: dhcp.discover,
	// tftp.send, http.send, boot.script, node.registered, command.queued…
	Type string
	// Node is the node id once known, else "".
	Node string
	// MAC is the MAC the event is about, colon form (52:54:00:12:34:01),
	// or "" when not known.
	MAC string
	// Attrs are the event's details (ip, file, bytes, reason…).
	Attrs map[string]string
}

// EventQuery selects events; the zero value selects the oldest
// DefaultEventLimit events.
type EventQuery struct {
	// After: only events with a greater ID.
	After int64
	// Since: only events at or after this time (zero: no bound).
	Since time.Time
	// Node and MACs: only events of node Node, or recorded under one of
	// MACs (before the node was known, or after). Either may be empty.
	Node string
	MACs []string
	// Types: only events of these types; "dhcp" also selects "dhcp.*".
	Types []string
	// Limit bounds the result (default DefaultEventLimit, at most
	// MaxEventLimit): the oldest matching events, or the newest when
	// Newest. The result is in ID order either way.
	Limit  int
	Newest bool
}

// Event query limits.
const (
	DefaultEventLimit = 1000
	MaxEventLimit     = 10000
)

// EventLimit is q.Limit clamped to (0, MaxEventLimit], DefaultEventLimit
// when unset.
func (q EventQuery) EventLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultEventLimit
	case q.Limit > MaxEventLimit:
		return MaxEventLimit
	}
	return q.Limit
}

// TypeMatches reports whether an event of type typ passes q.Types.
func (q EventQuery) TypeMatches(typ string) bool {
	if len(q.Types) == 0 {
		return true
	}
	for _, t := range q.Types {
		if typ == t || strings.HasPrefix(typ, t+".") {
			return true
		}
	}
	return false
}

// Retention bounds the events kept; a zero field is no bound.
type Retention struct {
	// PerNode keeps at most this many events per node (events without a
	// node count under their MAC).
	PerNode int
	// Total keeps at most this many events in all.
	Total int
	// MaxAge drops events older than this.
	MaxAge time.Duration
}

// EventLog is the store's part that keeps events. Every process sharing a
// store sees every event.
type EventLog interface {
	// AppendEvents stores events in one transaction and returns them with
	// their IDs.
	AppendEvents(ctx context.Context, evs []Event) ([]Event, error)
	// ListEvents returns the matching events, ordered by ID.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	// PruneEvents deletes what r does not keep, as of now; it returns the
	// number deleted.
	PruneEvents(ctx context.Context, r Retention, now time.Time) (int, error)
}

// EventKey is what per-node retention counts an event under.
func EventKey(e Event) string {
	if e.Node != "" {
		return e.Node
	}
	return e.MAC
}
