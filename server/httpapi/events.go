package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// Stream timing: the store is read again at least every streamPoll (so
// that events of other replicas arrive), and an idle stream gets a
// comment every streamKeepalive (so that proxies keep it open).
const (
	streamPoll      = time.Second
	streamKeepalive = 15 * time.Second
)

func (h *Handler) eventRoutes() {
	b := adminapi.BasePath
	h.mux.Handle("GET "+b+"/events", h.observe("admin", h.admin(store.RoleViewer, h.listEvents)))
	h.mux.Handle("GET "+b+"/events/stream", h.observe("stream", h.admin(store.RoleViewer, h.streamEvents)))
	h.mux.Handle("GET "+b+"/nodes/{id}/events", h.observe("admin", h.admin(store.RoleViewer, h.nodeEvents)))
	h.mux.Handle("DELETE "+b+"/nodes/{id}/commands/{cmd}", h.observe("admin", h.admin(store.RoleOperator, h.cancelCommand)))
	h.mux.Handle("GET "+b+"/policies/{name}/preview", h.observe("admin", h.admin(store.RoleViewer, h.previewPolicy)))
	h.mux.Handle("GET "+b+"/version", h.observe("admin", h.admin(store.RoleViewer, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.o.Version)
	})))
}

// checkParams answers 400 naming the first query parameter not in known.
func checkParams(w http.ResponseWriter, r *http.Request, known ...string) bool {
	var bad []string
	for k := range r.URL.Query() {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return true
	}
	slices.Sort(bad)
	writeError(w, http.StatusBadRequest, bad[0], fmt.Sprintf("unknown query parameter %q (known: %s)", bad[0], strings.Join(known, ", ")))
	return false
}

// eventQuery parses the event selection of a request; it answers 400 and
// returns false on bad input.
func eventQuery(w http.ResponseWriter, r *http.Request, now time.Time, known ...string) (store.EventQuery, bool) {
	var q store.EventQuery
	if !checkParams(w, r, known...) {
		return q, false
	}
	v := r.URL.Query()
	if s := v.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			q.Since = t
		} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			q.Since = now.Add(-d)
		} else {
			writeError(w, http.StatusBadRequest, "since", fmt.Sprintf("since %q: want an RFC 3339 time or a duration like 15m", s))
			return q, false
		}
	}
	var tail int64
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"after", &q.After}, {"limit", nil}, {"tail", &tail}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, p.name, fmt.Sprintf("%s %q: want a number ≥ 0", p.name, s))
			return q, false
		}
		if p.dst != nil {
			*p.dst = n
		} else {
			q.Limit = int(min(n, store.MaxEventLimit))
		}
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" && q.After == 0 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "Last-Event-ID", fmt.Sprintf("Last-Event-ID %q: want an event id", s))
			return q, false
		}
		q.After = n
	}
	if tail > 0 {
		q.Limit, q.Newest = int(min(tail, store.MaxEventLimit)), true
	}
	q.Node = v.Get("node")
	if s := v.Get("mac"); s != "" {
		m, err := wire.NormalizeMAC(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "mac", "mac: "+err.Error())
			return q, false
		}
		q.MACs = []string{wire.ColonMAC(m)}
	}
	for _, t := range v["type"] {
		for _, x := range strings.Split(t, ",") {
			if x = strings.TrimSpace(x); x != "" {
				q.Types = append(q.Types, x)
			}
		}
	}
	return q, true
}

func apiEvents(evs []store.Event) []adminapi.Event {
	out := make([]adminapi.Event, len(evs))
	for i, e := range evs {
		out[i] = apiEvent(e)
	}
	return out
}

func apiEvent(e store.Event) adminapi.Event {
	return adminapi.Event{ID: e.ID, Time: e.At.UTC(), Type: e.Type, Node: e.Node, MAC: e.MAC, Attrs: e.Attrs}
}

// listEvents answers GET /api/v1/events.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
	q, ok := eventQuery(w, r, h.o.Core.Now(), "since", "after", "node", "mac", "type", "limit", "tail")
	if !ok {
		return
	}
	if q.Node != "" && len(q.MACs) == 0 {
		nq, err := h.o.Core.NodeEventQuery(r.Context(), q.Node, q)
		if err == nil {
			q = nq
		}
	}
	evs, err := h.o.Core.Events(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.EventList{Events: apiEvents(evs)})
}

// nodeEvents answers GET /api/v1/nodes/{id}/events.
func (h *Handler) nodeEvents(w http.ResponseWriter, r *http.Request) {
	q, ok := eventQuery(w, r, h.o.Core.Now(), "since", "after", "type", "limit", "tail")
	if !ok {
		return
	}
	q, err := h.o.Core.NodeEventQuery(r.Context(), r.PathValue("id"), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	evs, err := h.o.Core.Events(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.EventList{Events: apiEvents(evs)})
}

// streamEvents answers GET /api/v1/events/stream with server-sent events.
func (h *Handler) streamEvents(w http.ResponseWriter, r *http.Request) {
	q, ok := eventQuery(w, r, h.o.Core.Now(), "after", "node", "mac", "type")
	if !ok {
		return
	}
	if q.Node != "" && len(q.MACs) == 0 {
		if nq, err := h.o.Core.NodeEventQuery(r.Context(), q.Node, q); err == nil {
			q = nq
		}
	}
	ctx := r.Context()
	if r.Header.Get("Last-Event-ID") == "" && r.URL.Query().Get("after") == "" {
		// From now on: start after the newest event.
		last, err := h.lastEventID(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		q.After = last
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	rec := h.o.Core.Recorder()
	idle := time.Now()
	for {
		var changed <-chan struct{}
		if rec != nil {
			changed = rec.Changed()
		}
		evs, err := h.o.Core.Events(ctx, q)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("event stream: read failed", "err", err)
			}
			return
		}
		for _, e := range evs {
			b, _ := json.Marshal(apiEvent(e))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b); err != nil {
				return
			}
			q.After = e.ID
		}
		if len(evs) > 0 {
			idle = time.Now()
			if rc.Flush() != nil {
				return
			}
		}
		if len(evs) == q.EventLimit() {
			continue // more waiting
		}
		if time.Since(idle) >= streamKeepalive {
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			idle = time.Now()
		}
		t := time.NewTimer(streamPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// lastEventID is the id of the newest event, 0 when none.
func (h *Handler) lastEventID(r *http.Request) (int64, error) {
	evs, err := h.o.Core.Events(r.Context(), store.EventQuery{Limit: 1, Newest: true})
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].ID, nil
}

// cancelCommand answers DELETE /api/v1/nodes/{id}/commands/{cmd}: 200 with
// the cancelled command, 404 unknown, 409 delivered already.
func (h *Handler) cancelCommand(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("cmd"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "cmd", fmt.Sprintf("command id %q: want a number", r.PathValue("cmd")))
		return
	}
	cmd, err := h.o.Core.CancelCommand(r.Context(), r.PathValue("id"), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, commandJSON(cmd))
}

// nodeFilter parses GET /api/v1/nodes?tag=&state=&policy=&mac=&fact=KEY=VALUE
// (tag and fact may repeat); an unknown parameter is a 400 naming it.
func nodeFilter(w http.ResponseWriter, r *http.Request) (core.NodeFilter, bool) {
	var f core.NodeFilter
	if !checkParams(w, r, "tag", "state", "policy", "mac", "fact") {
		return f, false
	}
	v := r.URL.Query()
	f.Tags, f.State, f.Policy, f.MAC = v["tag"], v.Get("state"), v.Get("policy"), v.Get("mac")
	for _, kv := range v["fact"] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			writeError(w, http.StatusBadRequest, "fact", fmt.Sprintf("fact %q: want KEY=VALUE", kv))
			return f, false
		}
		if f.Facts == nil {
			f.Facts = map[string]string{}
		}
		f.Facts[k] = val
	}
	return f, true
}

// previewPolicy answers GET /api/v1/policies/{name}/preview.
func (h *Handler) previewPolicy(w http.ResponseWriter, r *http.Request) {
	pv, err := h.o.Core.PreviewPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.PolicyPreview{Policy: r.PathValue("name"), Nodes: []adminapi.PreviewNode{}}
	for _, p := range pv {
		out.Nodes = append(out.Nodes, adminapi.PreviewNode{Node: p.Node, Binds: p.Would, Reason: p.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}
