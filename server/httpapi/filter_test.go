package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// GET /api/v1/nodes filters by tag, state, policy, MAC and facts; an
// unknown parameter is a 400 naming it (it used to be ignored).
func TestNodeFilters(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2", "manufacturer": "QEMU"})
	e.register("525400000002", "", "", map[string]string{"processorcount": "4", "manufacturer": "QEMU"})
	e.register("525400000003", "", "", map[string]string{"processorcount": "4", "manufacturer": "Dell"})
	ids := func(path string) []string {
		t.Helper()
		code, body := e.admin("GET", path, "")
		if code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		var l adminapi.NodeList
		json.Unmarshal([]byte(body), &l)
		out := []string{}
		for _, n := range l.Nodes {
			out = append(out, n.ID)
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/nodes", []string{"node1", "node2", "node3"}},
		{"/nodes?tag=cpus_4", []string{"node2", "node3"}},
		{"/nodes?tag=cpus_4&fact=manufacturer=QEMU", []string{"node2"}},
		{"/nodes?fact=manufacturer=Dell", []string{"node3"}},
		{"/nodes?mac=52-54-00-00-00-02", []string{"node2"}},
		{"/nodes?state=active", []string{"node1", "node2", "node3"}},
		{"/nodes?state=bound", []string{}},
		{"/nodes?policy=none", []string{}},
		{"/nodes?tag=cpus_2&tag=cpus_4", []string{}},
	} {
		if diff := cmp.Diff(tc.want, ids(tc.path)); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", tc.path, diff)
		}
	}
	for _, tc := range []struct{ path, field string }{
		{"/nodes?tags=cpus_4", "tags"},
		{"/nodes?state=asleep", "state"},
		{"/nodes?mac=zz", "mac"},
		{"/nodes?fact=novalue", "fact"},
	} {
		code, body := e.admin("GET", tc.path, "")
		var er adminapi.Error
		json.Unmarshal([]byte(body), &er)
		if code != 400 || er.Field != tc.field || !strings.Contains(er.Error, tc.field) {
			t.Errorf("GET %s = %d %s; want 400 naming %q", tc.path, code, body, tc.field)
		}
	}
}

// A policy preview says who would bind and why the others would not.
func TestPolicyPreview(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})
	e.register("525400000002", "", "", map[string]string{"processorcount": "4"})
	e.register("525400000003", "", "", map[string]string{"processorcount": "4"})
	e.register("525400000004", "", "", map[string]string{"processorcount": "4"})
	for _, p := range []string{
		`{"name":"first","order":1,"tags":["cpus_4"],"max_count":1,"target":{"kind":"local"}}`,
		`{"name":"four","order":2,"tags":["cpus_4"],"max_count":1,"target":{"kind":"local"}}`,
	} {
		if code, body := e.admin("POST", "/policies", p); code != 201 {
			t.Fatalf("POST policy = %d %s", code, body)
		}
	}
	e.checkin("hw_id=525400000002&last_state=idle") // binds to first (room 1)
	code, body := e.admin("GET", "/policies/four/preview", "")
	if code != 200 {
		t.Fatalf("preview = %d %s", code, body)
	}
	var p adminapi.PolicyPreview
	json.Unmarshal([]byte(body), &p)
	want := []adminapi.PreviewNode{
		{Node: "node1", Reason: "lacks tags cpus_4"},
		{Node: "node2", Reason: "bound to first"},
		{Node: "node3", Binds: true, Reason: "matches"},
		{Node: "node4", Reason: "no room left after the nodes above (max_count 1)"},
	}
	if diff := cmp.Diff(want, p.Nodes); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	if code, _ := e.admin("GET", "/policies/none/preview", ""); code != 404 {
		t.Errorf("preview of an unknown policy = %d, want 404", code)
	}
	// Nothing was bound by the preview.
	if code, body := e.admin("GET", "/nodes?policy=four", ""); code != 200 || !strings.Contains(body, `"nodes":[]`) {
		t.Errorf("nodes bound to four after preview = %d %s", code, body)
	}
}
