package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// events returns the events of an admin GET, after writing the recorded
// ones.
func (e *env) events(path string) []adminapi.Event {
	e.t.Helper()
	if err := e.ev.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	code, body := e.admin("GET", path, "")
	if code != 200 {
		e.t.Fatalf("GET %s = %d %s", path, code, body)
	}
	var l adminapi.EventList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		e.t.Fatal(err)
	}
	return l.Events
}

func types(evs []adminapi.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// A node's story, through the API: boot script, first checkin, register,
// tags, a command queued and delivered; quiet checkins write nothing.
func TestEventsTimeline(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, script := e.do("GET", "/boot.ipxe?mac=52-54-00-00-00-01&uuid=&serial=S1", "", "")
	tok := bootToken(t, script)
	e.clock.Advance(time.Second)
	e.checkin("hw_id=525400000001&last_state=idle&first_checkin=true&token=" + tok)
	e.register("525400000001", "", tok, map[string]string{"processorcount": "2", "manufacturer": "QEMU"})
	for range 5 {
		e.clock.Advance(time.Second)
		e.checkin("hw_id=525400000001&last_state=idle&token=" + tok) // quiet: no event
	}
	e.admin("POST", "/nodes/node1/commands", `{"command":"register"}`)
	e.checkin("hw_id=525400000001&last_state=idle&token=" + tok)
	e.register("525400000001", "", tok, map[string]string{"processorcount": "4", "manufacturer": "QEMU", "serialnumber": "S1"})
	// Another MAC's boot is not node1's.
	e.do("GET", "/boot.ipxe?mac=52:54:00:00:00:02", "", "")

	evs := e.events("/nodes/node1/events")
	want := []string{"boot.script", "node.checkin", "node.registered", "node.tags", "command.queued",
		"command.delivered", "node.checkin", "node.registered", "node.tags"}
	if diff := cmp.Diff(want, types(evs)); diff != "" {
		t.Fatalf("node1 events (-want +got):\n%s", diff)
	}
	// Before registration the events carry the MAC only; then the node.
	if evs[0].Node != "" || evs[0].MAC != "52:54:00:00:00:01" || evs[0].Attrs["kind"] != "microkernel" || evs[0].Attrs["ip"] != "192.0.2.10" {
		t.Errorf("boot.script event = %+v", evs[0])
	}
	if evs[2].Node != "node1" || evs[2].Attrs["created"] != "true" || evs[2].Attrs["facts"] != "2" {
		t.Errorf("first node.registered = %+v", evs[2])
	}
	if r := evs[7]; r.Attrs["created"] != "false" || r.Attrs["changed"] != "2" || r.Attrs["changed_facts"] != "processorcount,serialnumber" {
		t.Errorf("second node.registered = %+v, want changed processorcount,serialnumber", r)
	}
	if tg := evs[8]; tg.Attrs["added"] != "cpus_4" || tg.Attrs["removed"] != "cpus_2" {
		t.Errorf("node.tags = %+v, want cpus_4 added, cpus_2 removed", tg)
	}
	if c := evs[5]; c.Attrs["command"] != "register" || c.Attrs["id"] != "1" {
		t.Errorf("command.delivered = %+v", c)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID || evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("events out of order: %+v before %+v", evs[i-1], evs[i])
		}
	}

	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/events?type=node.registered", []string{"node.registered", "node.registered"}},
		{"/events?type=boot", []string{"boot.script", "boot.script"}},
		{"/events?mac=52-54-00-00-00-02", []string{"boot.script"}},
		{"/events?node=node1&type=command", []string{"command.queued", "command.delivered"}},
		{"/events?tail=1", []string{"boot.script"}},
		{"/events?limit=2", []string{"boot.script", "node.checkin"}},
		{"/events?since=2025-06-01T12:00:06Z&type=command,node.tags", []string{"command.queued", "command.delivered", "node.tags"}},
		{"/events?since=1s&type=node.tags", []string{"node.tags"}},
		{"/nodes/node1/events?type=node.tags&tail=1", []string{"node.tags"}},
	} {
		if diff := cmp.Diff(tc.want, types(e.events(tc.path))); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", tc.path, diff)
		}
	}
}

// Unknown query parameters and bad values are a 400 naming them.
func TestEventsBadQuery(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, tc := range []struct{ path, field string }{
		{"/events?bogus=1", "bogus"},
		{"/events?node=node1&nod=x", "nod"},
		{"/events?since=yesterday", "since"},
		{"/events?after=-1", "after"},
		{"/events?limit=x", "limit"},
		{"/events?mac=nope", "mac"},
		{"/nodes/node1/events?node=node1", "node"},
		{"/events/stream?since=1m", "since"},
	} {
		code, body := e.admin("GET", tc.path, "")
		var er adminapi.Error
		json.Unmarshal([]byte(body), &er)
		if code != 400 || er.Field != tc.field || !strings.Contains(er.Error, tc.field) {
			t.Errorf("GET %s = %d %s; want 400 naming %q", tc.path, code, body, tc.field)
		}
	}
	if code, _ := e.admin("GET", "/nodes/node9/events", ""); code != 404 {
		t.Errorf("events of an unknown node = %d, want 404", code)
	}
	if code, _ := e.do("GET", "/api/v1/events", "", ""); code != 401 {
		t.Errorf("events without a token = %d, want 401", code)
	}
}

// Refused node requests are events naming the field.
func TestEventsRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.checkin("hw_id=525400000001&last_state=idle&token=abc")
	e.do("GET", "/boot.ipxe?mac=525400000001", "", "")
	if _, code := e.checkin("hw_id=525400000001&last_state=idle&token=wrong"); code != 403 {
		t.Fatalf("checkin with a wrong token = %d, want 403", code)
	}
	e.do("GET", "/razor/api/node/checkin?hw_id=zz&last_state=idle", "", "")
	evs := e.events("/events?type=refused")
	if len(evs) != 2 {
		t.Fatalf("refused events = %+v, want 2", evs)
	}
	if a := evs[0].Attrs; evs[0].MAC != "52:54:00:00:00:01" || a["field"] != "token" || a["request"] != "checkin" {
		t.Errorf("token refusal = %+v", evs[0])
	}
	if a := evs[1].Attrs; a["field"] != "hw_id" || a["ip"] != "192.0.2.10" {
		t.Errorf("bad input refusal = %+v", evs[1])
	}
}

// The stream delivers events live, in order, and resumes after
// Last-Event-ID.
func TestEventsStream(t *testing.T) {
	e := newEnv(t, envOpts{})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	cl := &adminapi.Client{Server: srv.URL, Token: adminToken}
	_, script := e.do("GET", "/boot.ipxe?mac=525400000001", "", "")
	tok := bootToken(t, script)
	e.ev.Flush(context.Background())
	first := e.events("/events")[0]

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan adminapi.Event, 16)
	done := make(chan error, 1)
	stop := errors.New("enough")
	go func() {
		n := 0
		done <- cl.Stream(ctx, adminapi.EventQuery{Types: []string{"boot", "node"}}, first.ID-1, func(ev adminapi.Event) error {
			got <- ev
			if n++; n == 4 {
				return stop
			}
			return nil
		})
	}()
	// Resumed: the event before the stream started comes first.
	if ev := <-got; ev.ID != first.ID {
		t.Fatalf("first streamed event = %+v, want id %d", ev, first.ID)
	}
	e.checkin("hw_id=525400000001&last_state=idle&first_checkin=true&token=" + tok)
	e.admin("POST", "/tags", `{"name":"t","rule":["=",1,1]}`) // not a node event type: filtered
	e.register("525400000001", "", tok, map[string]string{"processorcount": "2"})
	e.ev.Flush(context.Background())
	var live []string
	for range 3 {
		select {
		case ev := <-got:
			live = append(live, ev.Type)
		case <-ctx.Done():
			t.Fatalf("stream stalled after %v", live)
		}
	}
	if diff := cmp.Diff([]string{"node.checkin", "node.registered", "node.tags"}, live); diff != "" {
		t.Errorf("live events (-want +got):\n%s", diff)
	}
	if err := <-done; !errors.Is(err, stop) {
		t.Errorf("Stream = %v, want the callback's error", err)
	}
	// A stream without Last-Event-ID starts from now.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	next := make(chan adminapi.Event, 1)
	go cl.Stream(ctx2, adminapi.EventQuery{}, -1, func(ev adminapi.Event) error { next <- ev; return stop })
	time.Sleep(300 * time.Millisecond) // let it connect
	e.do("GET", "/boot.ipxe?mac=525400000003", "", "")
	e.ev.Flush(context.Background())
	select {
	case ev := <-next:
		if ev.MAC != "52:54:00:00:00:03" {
			t.Errorf("stream from now began with %+v, want the new boot script", ev)
		}
	case <-ctx2.Done():
		t.Fatal("stream from now got nothing")
	}
}

// Pending commands can be cancelled; delivered ones cannot.
func TestCommandCancel(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})
	e.admin("POST", "/nodes/node1/commands", `{"command":"reboot"}`)
	e.admin("POST", "/nodes/node1/commands", `{"command":"poweroff"}`)
	if code, body := e.admin("DELETE", "/nodes/node1/commands/2", ""); code != 200 || !strings.Contains(body, `"command":"poweroff"`) {
		t.Errorf("cancel pending = %d %s, want 200 with the command", code, body)
	}
	if cmd, _ := e.checkin("hw_id=525400000001&last_state=idle"); cmd != "reboot" {
		t.Errorf("checkin = %s, want reboot (poweroff cancelled)", cmd)
	}
	if cmd, _ := e.checkin("hw_id=525400000001&last_state=idle"); cmd != "acknowledge" {
		t.Errorf("checkin = %s, want acknowledge", cmd)
	}
	for _, tc := range []struct {
		path string
		code int
	}{{"/nodes/node1/commands/1", 409}, {"/nodes/node1/commands/2", 404}, {"/nodes/node1/commands/x", 400}, {"/nodes/node9/commands/1", 404}} {
		if code, body := e.admin("DELETE", tc.path, ""); code != tc.code {
			t.Errorf("DELETE %s = %d %s, want %d", tc.path, code, body, tc.code)
		}
	}
	if diff := cmp.Diff([]string{"command.queued", "command.queued", "command.cancelled", "command.delivered"},
		types(e.events("/events?type=command"))); diff != "" {
		t.Errorf("command events (-want +got):\n%s", diff)
	}
}

// A command the node never picks up expires.
func TestCommandExpiry(t *testing.T) {
	e := newEnv(t, envOpts{commandExpiry: time.Minute})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})
	e.admin("POST", "/nodes/node1/commands", `{"command":"reboot"}`)
	e.clock.Advance(40 * time.Second)
	e.admin("POST", "/nodes/node1/commands", `{"command":"poweroff"}`)
	e.clock.Advance(30 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.core.Run(ctx) }() // expires at start
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n := e.nodes(); n[0]["pending_commands"] == float64(1) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-runDone
	if cmd, _ := e.checkin("hw_id=525400000001&last_state=idle"); cmd != "poweroff" {
		t.Errorf("checkin = %s, want poweroff (reboot expired)", cmd)
	}
	evs := e.events("/events?type=command.expired")
	if len(evs) != 1 || evs[0].Attrs["command"] != "reboot" || evs[0].Node != "node1" {
		t.Errorf("expired events = %+v, want the reboot", evs)
	}
}

// bootToken is the razor.token= of a microkernel boot script.
func bootToken(t *testing.T, script string) string {
	t.Helper()
	_, rest, ok := strings.Cut(script, "razor.token=")
	if !ok {
		t.Fatalf("no razor.token= in the boot script:\n%s", script)
	}
	return strings.Fields(rest)[0]
}
