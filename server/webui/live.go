package webui

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// maxStreams bounds the live streams open at once; past it a page falls
// back to reloading itself now and then (the script's retry).
const maxStreams = 256

var streams atomic.Int32

// fingerprint summarises what the pages show: every node's revision,
// state, last checkin and pending commands, the newest event, and for
// node (if not "") its commands; it changes when a page would.
func (u *UI) fingerprint(ctx context.Context, node string) (uint64, error) {
	h := fnv.New64a()
	nodes, err := u.o.Fleet.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	for _, n := range nodes {
		fmt.Fprintf(h, "%s|%d|%s|%d|%s|%d|%v\n", n.ID, n.Rev, n.State, lastSeen(n).Unix(), n.Policy, n.Pending, n.Tags)
	}
	if es, ok := u.eventSource(); ok {
		if evs, err := es.Events(ctx, store.EventQuery{Limit: 1, Newest: true}); err == nil && len(evs) > 0 {
			fmt.Fprintf(h, "event %d\n", evs[0].ID)
		}
	}
	if node != "" {
		cmds, err := u.o.Fleet.Commands(ctx, node)
		if err != nil {
			return 0, err
		}
		for _, c := range cmds {
			fmt.Fprintf(h, "%d|%d\n", c.ID, c.Delivered.UnixNano())
		}
	}
	return h.Sum64(), nil
}

// live is a server-sent event stream: a "change" event each time the
// fleet (or ?node=ID) changes, a comment every 15 s to keep proxies from
// closing it. The page reloads its live parts on each event.
func (u *UI) live(w http.ResponseWriter, r *http.Request, _ *session) {
	if streams.Add(1) > maxStreams {
		streams.Add(-1)
		http.Error(w, "too many live views open", http.StatusServiceUnavailable)
		return
	}
	defer streams.Add(-1)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	node := r.URL.Query().Get("node")
	last, err := u.fingerprint(r.Context(), node)
	if err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "retry: 3000\nevent: hello\ndata: %x\n\n", last)
	rc.Flush()
	tick := time.NewTicker(u.o.Poll)
	defer tick.Stop()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-tick.C:
			fp, err := u.fingerprint(r.Context(), node)
			if err != nil || fp == last {
				continue
			}
			last = fp
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(w, "event: change\ndata: %x\n\n", fp); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
