package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/secretbox"
)

// fakeBMC answers power actions; err fails them.
type fakeBMC struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeBMC) Do(_ context.Context, b power.BMC, a power.Action) (power.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s", a, b))
	if f.err != nil {
		return "", f.err
	}
	if a == power.Off || a == power.Status {
		return power.StateOff, nil
	}
	return power.StateOn, nil
}

const bmcPassword = "Pa55-w0rd-xyz"

func TestAdminBMCNeverReturnsPassword(t *testing.T) {
	var logs lockedBuffer
	dir := t.TempDir()
	bmc := &fakeBMC{}
	e := newEnv(t, envOpts{logger: slogTo(&logs), power: bmc, secrets: &secretbox.File{Path: filepath.Join(dir, "secret.key")}})
	e.register("525400000001", "", "", map[string]string{"bmc_ipaddress": "10.9.0.7"})

	// Bad input: refused naming the field, nothing stored.
	for _, tc := range []struct {
		path, body string
		code       int
		field      string
	}{
		{"/bmc/global", `{"username":"admin"}`, 400, "password"},
		{"/bmc/global", `{"password":"x"}`, 400, "username"},
		{"/bmc/global", `{"username":"admin","password":"x","host":"a b"}`, 400, "host"},
		{"/bmc/global", `{"username":"admin","password":"x","port":-1}`, 400, "port"},
		{"/bmc/global", `{"username":"admin","password":"x","pass":"y"}`, 400, "pass"},
		{"/bmc/everyone", `{"username":"admin","password":"x"}`, 400, "scope"},
		{"/bmc/node:node9", `{"username":"admin","password":"x"}`, 404, ""},
		{"/bmc/policy:nope", `{"username":"admin","password":"x"}`, 404, ""},
	} {
		code, body := e.admin("PUT", tc.path, tc.body)
		var er adminapi.Error
		json.Unmarshal([]byte(body), &er)
		if code != tc.code || er.Field != tc.field || er.Error == "" {
			t.Errorf("PUT %s %s = %d %s; want %d naming %q", tc.path, tc.body, code, body, tc.code, tc.field)
		}
	}
	if code, body := e.admin("GET", "/bmc", ""); code != 200 || body != `{"credentials":[]}`+"\n" {
		t.Errorf("GET /bmc after refused input = %d %s, want none", code, body)
	}

	code, body := e.admin("PUT", "/bmc/node:52:54:00:00:00:01", `{"username":"admin","password":"`+bmcPassword+`","port":6230}`)
	want := `{"scope":"node:node1","port":6230,"username":"admin","password_set":true,"updated":"2025-06-01T12:00:00Z"}` + "\n"
	if code != 200 || body != want {
		t.Errorf("PUT /bmc/node:… = %d %s, want %s", code, body, want)
	}
	for _, path := range []string{"/bmc", "/bmc/node:node1", "/nodes/node1", "/events?node=node1"} {
		code, body := e.admin("GET", path, "")
		if code != 200 || strings.Contains(body, bmcPassword) {
			t.Errorf("GET %s = %d, carries the password: %s", path, code, body)
		}
	}
	// Not in the database file either (sealed), nor in the logs.
	if err := e.ev.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	creds, err := e.st.ListBMCCredentials(context.Background())
	if err != nil || len(creds) != 1 || strings.Contains(string(creds[0].Sealed), bmcPassword) {
		t.Errorf("stored credentials = %+v, %v; want one, sealed", creds, err)
	}
	if strings.Contains(logs.String(), bmcPassword) {
		t.Errorf("password logged:\n%s", logs.String())
	}

	// Power: through the fake BMC; a BMC failure is a 502 naming it.
	code, body = e.admin("POST", "/nodes/node1/power", `{"action":"cycle"}`)
	want = `{"node":"node1","action":"cycle","state":"on","bmc":"admin@10.9.0.7:6230","credential":"node:node1"}` + "\n"
	if code != 200 || body != want {
		t.Errorf("POST power = %d %s, want %s", code, body, want)
	}
	if code, body := e.admin("POST", "/nodes/node1/power", `{"action":"reboot"}`); code != 400 || !strings.Contains(body, `"field":"action"`) {
		t.Errorf("POST power reboot = %d %s, want 400 on action", code, body)
	}
	bmc.err = fmt.Errorf("%w admin@10.9.0.7:6230: no session (unreachable, or wrong username or password)", power.ErrBMC)
	if code, body := e.admin("POST", "/nodes/node1/power", `{"action":"off"}`); code != 502 || !strings.Contains(body, "no session") {
		t.Errorf("POST power with a failing BMC = %d %s, want 502", code, body)
	}
	bmc.err = nil
	if code, body := e.admin("DELETE", "/bmc/node:node1", ""); code != 204 {
		t.Errorf("DELETE /bmc/node:node1 = %d %s", code, body)
	}
	if code, body := e.admin("POST", "/nodes/node1/power", `{"action":"status"}`); code != 409 || !strings.Contains(body, "no BMC credential") {
		t.Errorf("POST power without credential = %d %s, want 409", code, body)
	}

	// Bind with power_cycle: the node has been silent, so it is cycled.
	if code, body := e.admin("POST", "/policies", `{"name":"install","target":{"kind":"local","power_cycle":true},"tags":[]}`); code != 201 || !strings.Contains(body, `"power_cycle":true`) {
		t.Fatalf("POST policy = %d %s", code, body)
	}
	if code, body := e.admin("PUT", "/bmc/global", `{"username":"ops","password":"`+bmcPassword+`"}`); code != 200 {
		t.Fatalf("PUT /bmc/global = %d %s", code, body)
	}
	e.clock.Advance(1 << 40) // ~18 min: past the register timeout
	code, body = e.admin("POST", "/nodes/node1/policy", `{"policy":"install"}`)
	var br adminapi.BindResult
	if err := json.Unmarshal([]byte(body), &br); err != nil || code != 200 || br.Node.Policy != "install" || br.Power == nil ||
		br.Power.Action != "cycle" || br.Power.Credential != "global" {
		t.Errorf("POST bind = %d %s", code, body)
	}
	if code, body := e.admin("POST", "/nodes/node1/policy", `{"policy":"install"}`); code != 409 {
		t.Errorf("POST bind again = %d %s, want 409", code, body)
	}
}

func TestAdminPowerNotConfigured(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})
	if code, body := e.admin("PUT", "/bmc/global", `{"username":"u","password":"p"}`); code != 503 {
		t.Errorf("PUT /bmc without secrets = %d %s, want 503", code, body)
	}
	if code, body := e.admin("POST", "/nodes/node1/power", `{"action":"status"}`); code != 503 {
		t.Errorf("POST power without a controller = %d %s, want 503", code, body)
	}
}
