package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAdminAuth(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", adminToken}, {"Authorization", "Basic " + adminToken}} {
		code, body := e.do("GET", "/api/v1/nodes", "", "", hdr...)
		if code != 401 || !strings.Contains(body, `"error":"missing or unknown bearer token`) {
			t.Errorf("GET /api/v1/nodes with %v = %d %s, want 401", hdr, code, body)
		}
	}
	if code, _ := e.do("GET", "/api/v1/nope", "", ""); code != 401 {
		t.Errorf("unknown admin route without token = %d, want 401", code)
	}
	// RFC 9110 §11.1: the auth scheme is case-insensitive.
	for _, auth := range []string{"bearer " + adminToken, "BEARER " + adminToken, "Bearer  " + adminToken} {
		if code, body := e.do("GET", "/api/v1/nodes", "", "", "Authorization", auth); code != 200 {
			t.Errorf("GET /api/v1/nodes with Authorization %q = %d %s, want 200", auth, code, body)
		}
	}
	if code, body := e.admin("GET", "/nope", ""); code != 404 || !strings.Contains(body, "no route") {
		t.Errorf("unknown admin route = %d %s, want 404", code, body)
	}
}

func TestAdminNodes(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2", "manufacturer": "QEMU"})
	code, body := e.admin("GET", "/nodes", "")
	want := `{"nodes":[{"id":"node1","macs":["52:54:00:00:00:01"],"state":"active","tags":["cpus_2"],"last_state":"idle",` +
		`"created":"2025-06-01T12:00:00Z","registered":"2025-06-01T12:00:00Z","pending_commands":0}]}` + "\n"
	if code != 200 || body != want {
		t.Errorf("GET /nodes = %d\n%s\nwant\n%s", code, body, want)
	}
	if code, body := e.admin("POST", "/nodes/node1/commands", `{"command":"register"}`); code != 201 ||
		body != `{"id":1,"node":"node1","command":"register","queued":"2025-06-01T12:00:00Z"}`+"\n" {
		t.Errorf("POST command = %d %s", code, body)
	}
	code, body = e.admin("GET", "/nodes/node1", "")
	want = `{"id":"node1","macs":["52:54:00:00:00:01"],"state":"active","tags":["cpus_2"],"last_state":"idle",` +
		`"created":"2025-06-01T12:00:00Z","registered":"2025-06-01T12:00:00Z","pending_commands":1,` +
		`"facts":{"manufacturer":"QEMU","processorcount":"2"},` +
		`"commands":[{"id":1,"node":"node1","command":"register","queued":"2025-06-01T12:00:00Z"}]}` + "\n"
	if code != 200 || body != want {
		t.Errorf("GET /nodes/node1 = %d\n%s\nwant\n%s", code, body, want)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		field              string
	}{
		{"POST", "/nodes/node1/commands", `{"command":"dance"}`, 400, "command"},
		{"POST", "/nodes/node1/commands", `{}`, 400, "command"},
		{"POST", "/nodes/node1/commands", `{"command":"reboot","x":1}`, 400, "x"},
		{"POST", "/nodes/node1/commands", `{"command":7}`, 400, "command"},
		{"POST", "/nodes/node1/commands", `not json`, 400, "body"},
		{"POST", "/nodes/node9/commands", `{"command":"reboot"}`, 404, ""},
		{"GET", "/nodes/node9", ``, 404, ""},
		{"GET", "/nodes/garbage", ``, 404, ""},
		{"DELETE", "/nodes/node9", ``, 404, ""},
		{"DELETE", "/nodes/node9/policy", ``, 404, ""},
	} {
		code, body := e.admin(tc.method, tc.path, tc.body)
		var er struct{ Error, Field string }
		json.Unmarshal([]byte(body), &er)
		if code != tc.code || er.Field != tc.field || er.Error == "" {
			t.Errorf("%s %s %s = %d %s; want %d naming %q", tc.method, tc.path, tc.body, code, body, tc.code, tc.field)
		}
	}
	if code, _ := e.admin("DELETE", "/nodes/node1", ""); code != 204 {
		t.Errorf("DELETE /nodes/node1 = %d, want 204", code)
	}
	if len(e.nodes()) != 0 {
		t.Errorf("node still listed after delete")
	}
}

func TestAdminTagsPolicies(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "16"})
	code, body := e.admin("POST", "/tags", `{"name":"big","rule":[">=", ["num", ["fact", "processorcount"]], 8]}`)
	want := `{"name":"big","rule":[">=",["num",["fact","processorcount"]],8],"nodes":1,"created":"2025-06-01T12:00:00Z","updated":"2025-06-01T12:00:00Z"}` + "\n"
	if code != 201 || body != want {
		t.Errorf("POST /tags = %d\n%s\nwant\n%s", code, body, want)
	}
	// The node's tags follow the new rule at once.
	if n := e.nodes()[0]; strings.Join(toStrings(n["tags"]), ",") != "big,cpus_16" {
		t.Errorf("node tags = %v, want big and cpus_16", n["tags"])
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		field              string
	}{
		{"POST", "/tags", `{"name":"bad","rule":["and",["=",1,1],["frob",2]]}`, 400, "rule[2]"},
		{"POST", "/tags", `{"name":"bad","rule":["tag","nope"]}`, 400, "rule"},
		{"POST", "/tags", `{"name":"bad"}`, 400, "rule"},
		{"POST", "/tags", `{"name":"-bad","rule":true}`, 400, "name"},
		{"POST", "/tags", `{"name":"big","rule":["=",1,1]}`, 409, ""},
		{"PUT", "/tags/missing", `{"rule":["=",1,1]}`, 404, ""},
		{"PUT", "/tags/big", `{"name":"other","rule":["=",1,1]}`, 400, "name"},
		{"POST", "/policies", `{"name":"p","target":{"kind":"kernel"}}`, 400, "target.kernel"},
		{"POST", "/policies", `{"name":"p","target":{"kind":"grub"}}`, 400, "target.kind"},
		{"POST", "/policies", `{"name":"p","max_count":-1,"target":{"kind":"local"}}`, 400, "max_count"},
		{"POST", "/policies", `{"name":"p","tags":["ok","bad tag"],"target":{"kind":"local"}}`, 400, "tags[1]"},
		{"POST", "/policies", `{"name":"p","target":{"kind":"ipxe","script":"{{.Nope}}"}}`, 400, "target.script"},
		{"POST", "/policies", `{"name":"p","order":"first","target":{"kind":"local"}}`, 400, "order"},
		{"GET", "/policies/none", ``, 404, ""},
	} {
		code, body := e.admin(tc.method, tc.path, tc.body)
		var er struct{ Error, Field string }
		json.Unmarshal([]byte(body), &er)
		if code != tc.code || er.Field != tc.field || er.Error == "" {
			t.Errorf("%s %s %s = %d %s; want %d naming %q", tc.method, tc.path, tc.body, code, body, tc.code, tc.field)
		}
	}
	// Nothing of the above was stored.
	if code, body := e.admin("GET", "/policies", ""); code != 200 || body != `{"policies":[]}`+"\n" {
		t.Errorf("GET /policies after bad input = %d %s", code, body)
	}
	code, body = e.admin("POST", "/policies", `{"name":"install","order":5,"tags":["big"],"max_count":2,"target":{"kind":"local","local":"sanboot"}}`)
	want = `{"name":"install","order":5,"enabled":true,"tags":["big"],"max_count":2,"target":{"kind":"local","local":"sanboot"},"bound":0,"created":"2025-06-01T12:00:00Z","updated":"2025-06-01T12:00:00Z"}` + "\n"
	if code != 201 || body != want {
		t.Errorf("POST /policies = %d\n%s\nwant\n%s", code, body, want)
	}
	if code, body := e.admin("DELETE", "/tags/big", ""); code != 409 || !strings.Contains(body, "install") {
		t.Errorf("DELETE a tag a policy needs = %d %s, want 409 naming the policy", code, body)
	}
	code, body = e.admin("PUT", "/policies/install", `{"order":5,"enabled":false,"tags":["big"],"target":{"kind":"poweroff"}}`)
	if code != 200 || !strings.Contains(body, `"enabled":false`) || !strings.Contains(body, `"kind":"poweroff"`) {
		t.Errorf("PUT /policies/install = %d %s", code, body)
	}
	if code, _ := e.admin("DELETE", "/policies/install", ""); code != 204 {
		t.Errorf("DELETE policy = %d, want 204", code)
	}
	if code, _ := e.admin("DELETE", "/tags/big", ""); code != 204 {
		t.Errorf("DELETE tag = %d, want 204", code)
	}
	if code, _ := e.admin("DELETE", "/tags/big", ""); code != 404 {
		t.Errorf("DELETE tag twice = %d, want 404", code)
	}
	big := `{"name":"x","rule":"` + strings.Repeat("a", 1<<20) + `"}`
	if code, body := e.admin("POST", "/tags", big); code != 413 || !strings.Contains(body, `"field":"body"`) {
		t.Errorf("POST oversized tag = %d %.100s, want 413", code, body)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// A policy naming a tag that does not exist is refused (a typo would
// match nothing), unless ?allow_unknown_tags=true; system tag forms and
// tags a known node carries exist.
func TestAdminPolicyUnknownTags(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "4", "mk_hw_bus_vendor": "Dell Inc."})
	code, body := e.admin("POST", "/policies", `{"name":"p","tags":["cpus_4","bigg"],"target":{"kind":"local"}}`)
	if code != 400 || !strings.Contains(body, `"field":"tags[1]"`) || !strings.Contains(body, `tag \"bigg\" does not exist`) || !strings.Contains(body, "allow_unknown_tags") {
		t.Errorf("POST /policies with an unknown tag = %d %s, want 400 naming tags[1] and the way round", code, body)
	}
	for _, tags := range []string{`["cpus_64","memsize_16GiB","nics_2","kvm_vm"]`, `["DellInc"]`} {
		if code, body := e.admin("POST", "/policies", `{"name":"sys","tags":`+tags+`,"target":{"kind":"local"}}`); code != 201 {
			t.Errorf("POST /policies with tags %s = %d %s, want 201", tags, code, body)
		}
		e.admin("DELETE", "/policies/sys", "")
	}
	if code, body := e.admin("POST", "/policies?allow_unknown_tags=true", `{"name":"p","tags":["bigg"],"target":{"kind":"local"}}`); code != 201 {
		t.Errorf("POST /policies?allow_unknown_tags=true = %d %s, want 201", code, body)
	}
	// An update keeps the tags it had, but a tag it adds must exist.
	if code, body := e.admin("PUT", "/policies/p", `{"enabled":false,"tags":["bigg"],"target":{"kind":"local"}}`); code != 200 {
		t.Errorf("PUT keeping the unknown tag = %d %s, want 200", code, body)
	}
	if code, body := e.admin("PUT", "/policies/p", `{"tags":["bigg","other"],"target":{"kind":"local"}}`); code != 400 || !strings.Contains(body, `"field":"tags[1]"`) {
		t.Errorf("PUT adding an unknown tag = %d %s, want 400", code, body)
	}
	if code, body := e.admin("PUT", "/policies/p?allow_unknown_tags=1", `{"tags":["bigg","other"],"target":{"kind":"local"}}`); code != 200 {
		t.Errorf("PUT ?allow_unknown_tags=1 = %d %s, want 200", code, body)
	}
}
