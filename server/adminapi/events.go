package adminapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Event routes:
//
//	GET /api/v1/events?since=&after=&node=&mac=&type=&limit=&tail=   {"events":[Event…]}
//	GET /api/v1/nodes/{id}/events?since=&after=&type=&limit=&tail=   {"events":[Event…]}
//	GET /api/v1/events/stream?node=&mac=&type=                 text/event-stream
//
// since is an RFC 3339 time or a duration back from now ("15m");
// after an event id (after=0 or Last-Event-ID: 0 is from the start); tail=N the newest N instead of the oldest; type may repeat or be comma-separated, and "dhcp"
// selects every dhcp.* type. The stream sends each event as
// "id: <id>\nevent: <type>\ndata: <Event JSON>\n\n" and resumes after the
// Last-Event-ID header (or after=), else starts with events from now on.

// Event is one step of a node's timeline.
type Event struct {
	ID    int64             `json:"id"`
	Time  time.Time         `json:"time"`
	Type  string            `json:"type"`
	Node  string            `json:"node,omitempty"`
	MAC   string            `json:"mac,omitempty"` // AA:BB:CC:DD:EE:FF
	Attrs map[string]string `json:"attrs,omitempty"`
}

// EventList is the answer of the event listings.
type EventList struct {
	Events []Event `json:"events"`
}

// EventQuery selects events (zero fields: no condition).
type EventQuery struct {
	Since string // RFC 3339 or a duration back from now
	After int64
	Node  string
	MAC   string
	Types []string
	Limit int
	// Tail asks for the newest Tail events instead of the oldest.
	Tail int
}

func (q EventQuery) values(withNode bool) url.Values {
	v := url.Values{}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if withNode && q.Node != "" {
		v.Set("node", q.Node)
	}
	if withNode && q.MAC != "" {
		v.Set("mac", q.MAC)
	}
	if len(q.Types) > 0 {
		v.Set("type", strings.Join(q.Types, ","))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Tail > 0 {
		v.Set("tail", strconv.Itoa(q.Tail))
	}
	return v
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Events lists events, oldest first.
func (c *Client) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	var l EventList
	return l.Events, c.do(ctx, http.MethodGet, withQuery("/events", q.values(true)), nil, &l)
}

// NodeEvents lists a node's events (those recorded under its MACs before
// it was known included), oldest first.
func (c *Client) NodeEvents(ctx context.Context, id string, q EventQuery) ([]Event, error) {
	var l EventList
	return l.Events, c.do(ctx, http.MethodGet, withQuery("/nodes/"+esc(id)+"/events", q.values(false)), nil, &l)
}

// Stream follows the live event stream until ctx ends, calling fn for
// each event; after is the last event id seen (negative: from now on).
// When the
// connection drops it reconnects, resuming after the last event it
// delivered. It returns ctx's error, or an API error.
func (c *Client) Stream(ctx context.Context, q EventQuery, after int64, fn func(Event) error) error {
	q.After, q.Since, q.Limit, q.Tail = 0, "", 0, 0
	for {
		err := c.streamOnce(ctx, q, &after, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var stop stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		if _, ok := err.(*APIError); ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (c *Client) streamOnce(ctx context.Context, q EventQuery, after *int64, fn func(Event) error) error {
	u, err := url.Parse(strings.TrimSuffix(c.Server, "/") + BasePath + withQuery("/events/stream", q.values(true)))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return &APIError{Status: 0, Message: fmt.Sprintf("bad server URL %q", c.Server)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if *after >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*after, 10))
	}
	hc := *c.http()
	hc.Timeout = 0 // a stream has no end
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		json.NewDecoder(resp.Body).Decode(&e)
		return &APIError{Status: resp.StatusCode, Message: e.Error, Field: e.Field}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		case line == "" && data != "":
			var e Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return fmt.Errorf("adminapi: stream: bad event: %w", err)
			}
			data = ""
			if err := fn(e); err != nil {
				return stopError{err}
			}
			*after = e.ID
		}
	}
	return sc.Err()
}

// stopError carries the error of Stream's fn, which ends the stream.
type stopError struct{ err error }

func (s stopError) Error() string { return s.err.Error() }

// CancelCommand cancels a node's pending command (DELETE
// /api/v1/nodes/{id}/commands/{cmd}); a 409 when it was delivered.
func (c *Client) CancelCommand(ctx context.Context, id string, cmd int64) (Command, error) {
	var out Command
	return out, c.do(ctx, http.MethodDelete, "/nodes/"+esc(id)+"/commands/"+strconv.FormatInt(cmd, 10), nil, &out)
}

// NodeQuery filters GET /api/v1/nodes; zero fields select all.
type NodeQuery struct {
	Tags   []string
	State  string
	Policy string
	MAC    string
	Facts  []string // KEY=VALUE
}

// FindNodes lists the nodes a query selects (without facts).
func (c *Client) FindNodes(ctx context.Context, q NodeQuery) ([]Node, error) {
	v := url.Values{}
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	for _, f := range q.Facts {
		v.Add("fact", f)
	}
	for k, s := range map[string]string{"state": q.State, "policy": q.Policy, "mac": q.MAC} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var l NodeList
	return l.Nodes, c.do(ctx, http.MethodGet, withQuery("/nodes", v), nil, &l)
}

// BuildInfo is the server's build (GET /api/v1/version).
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// ServerVersion asks the server for its build.
func (c *Client) ServerVersion(ctx context.Context) (BuildInfo, error) {
	var v BuildInfo
	return v, c.do(ctx, http.MethodGet, "/version", nil, &v)
}

// PolicyPreview says which nodes would bind to a policy now
// (GET /api/v1/policies/{name}/preview); nothing is changed.
type PolicyPreview struct {
	Policy string        `json:"policy"`
	Nodes  []PreviewNode `json:"nodes"`
}

// PreviewNode is one node's answer, with the reason.
type PreviewNode struct {
	Node   string `json:"node"`
	Binds  bool   `json:"binds"`
	Reason string `json:"reason"`
}

// PreviewPolicy asks which nodes would bind to a policy now.
func (c *Client) PreviewPolicy(ctx context.Context, name string) (PolicyPreview, error) {
	var p PolicyPreview
	return p, c.do(ctx, http.MethodGet, "/policies/"+esc(name)+"/preview", nil, &p)
}
