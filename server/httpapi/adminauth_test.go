package httpapi

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// Roles, revocation and the audit log of the admin API.
func TestAdminTokenRoles(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, envOpts{logger: slogTo(&logs)})
	as := func(tok, method, path, body string) (int, string) {
		t.Helper()
		return e.do(method, "/api/v1"+path, "application/json", body, "Authorization", "Bearer "+tok)
	}
	mk := func(name, role string) string {
		t.Helper()
		code, body := e.admin("POST", "/tokens", `{"name":"`+name+`","role":"`+role+`"}`)
		var tok adminapi.Token
		if err := json.Unmarshal([]byte(body), &tok); err != nil || code != 201 || !strings.HasPrefix(tok.Secret, "rzt_") || tok.Role != role {
			t.Fatalf("create %s token = %d %s", role, code, body)
		}
		return tok.Secret
	}
	viewer, operator, admin := mk("dash", "viewer"), mk("ci", "operator"), mk("alice", "admin")
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})

	// Bad requests to create a token: refused, nothing stored.
	for _, body := range []string{`{"name":"x y","role":"viewer"}`, `{"name":"bob","role":"root"}`, `{"name":"dash","role":"viewer"}`} {
		if code, resp := e.admin("POST", "/tokens", body); code != 400 && code != 409 {
			t.Errorf("POST /tokens %s = %d %s, want 400 or 409", body, code, resp)
		}
	}

	tag := `{"name":"two","rule":["=",["fact","processorcount"],"2"]}`
	policy := `{"name":"p","order":1,"tags":["two"],"target":{"kind":"local"}}`
	for _, tc := range []struct {
		name, tok, method, path, body string
		want                          int
	}{
		{"viewer reads nodes", viewer, "GET", "/nodes", "", 200},
		{"viewer creates a tag", viewer, "POST", "/tags", tag, 403},
		{"viewer queues a command", viewer, "POST", "/nodes/node1/commands", `{"command":"reboot"}`, 403},
		{"viewer lists tokens", viewer, "GET", "/tokens", "", 403},
		{"operator creates a tag", operator, "POST", "/tags", tag, 201},
		{"operator creates a policy", operator, "POST", "/policies", policy, 201},
		{"operator queues a command", operator, "POST", "/nodes/node1/commands", `{"command":"poweroff"}`, 201},
		{"operator creates a token", operator, "POST", "/tokens", `{"name":"mallory","role":"admin"}`, 403},
		{"operator revokes a token", operator, "DELETE", "/tokens/alice", "", 403},
		{"operator deletes a node", operator, "DELETE", "/nodes/node1", "", 403},
		{"admin lists tokens", admin, "GET", "/tokens", "", 200},
	} {
		if code, body := as(tc.tok, tc.method, tc.path, tc.body); code != tc.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.path, code, body, tc.want)
		}
	}
	// The operator's policy binds the node (after its queued poweroff).
	e.checkin("hw_id=525400000001&last_state=idle")
	if cmd, _ := e.checkin("hw_id=525400000001&last_state=idle"); cmd != "reboot" {
		t.Errorf("checkin after the operator's policy = %s, want reboot (bound)", cmd)
	}
	if code, body := as(operator, "DELETE", "/nodes/node1/policy", ""); code != 200 {
		t.Errorf("operator unbinds = %d %s", code, body)
	}

	// Revoked: refused at once, listed as revoked.
	if code, body := as(admin, "DELETE", "/tokens/ci", ""); code != 200 || !strings.Contains(body, `"revoked":`) {
		t.Fatalf("revoke ci = %d %s", code, body)
	}
	if code, body := as(operator, "GET", "/nodes", ""); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("revoked token = %d %s, want 401 revoked", code, body)
	}
	code, body := as(admin, "GET", "/tokens", "")
	var l adminapi.TokenList
	if err := json.Unmarshal([]byte(body), &l); err != nil || code != 200 || len(l.Tokens) != 3 {
		t.Fatalf("GET /tokens = %d %s", code, body)
	}
	for _, tok := range l.Tokens {
		if tok.Secret != "" {
			t.Errorf("listed token %s shows its secret", tok.Name)
		}
		if (tok.Name == "ci") != (tok.Revoked != nil) {
			t.Errorf("token %s revoked = %v", tok.Name, tok.Revoked)
		}
	}

	// The audit log: who did what, refusals too, never a secret.
	out := logs.String()
	for _, want := range []string{
		`msg="admin audit" token=admin.token role=admin method=POST path=/api/v1/tokens status=201`,
		`msg="admin audit" token=ci role=operator method=POST path=/api/v1/tags status=201`,
		`msg="admin audit" token=ci role=operator method=DELETE path=/api/v1/nodes/node1/policy status=200`,
		`msg="admin audit: refused" token=dash role=viewer method=POST path=/api/v1/tags status=403`,
		`msg="admin audit: refused" token=ci role=operator method=GET path=/api/v1/nodes status=401`,
		`msg="admin audit" token=alice role=admin method=DELETE path=/api/v1/tokens/ci status=200`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	for _, secret := range []string{viewer, operator, admin, adminToken} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows a token")
		}
	}
}

// With TLS on, the admin API refuses plain HTTP from other hosts (the
// bearer token would cross the network in clear); loopback and HTTPS
// are served, and node replies over TLS name the HTTPS URL.
func TestAdminOverHTTPSOnly(t *testing.T) {
	e := newEnv(t, envOpts{secureURL: "https://10.0.0.1:8443"})
	code, body := e.admin("GET", "/nodes", "") // from 192.0.2.10, plain HTTP
	if code != 403 || !strings.Contains(body, "https://10.0.0.1:8443") {
		t.Errorf("admin over plain HTTP from the network = %d %s, want 403 naming the HTTPS URL", code, body)
	}
	req := httptest.NewRequest("GET", "/api/v1/nodes", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("Authorization", "Bearer "+adminToken)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("admin over plain HTTP from loopback = %d", rec.Code)
	}
	req = httptest.NewRequest("GET", "/api/v1/nodes", nil)
	req.TLS = &tls.ConnectionState{}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("admin over HTTPS = %d", rec.Code)
	}
	req = httptest.NewRequest("GET", "/razor/api/node/checkin?hw_id=525400000001", nil)
	req.TLS = &tls.ConnectionState{}
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"mk_uri":"https://10.0.0.1:8443"`) {
		t.Errorf("checkin over TLS = %s, want mk_uri https", rec.Body.String())
	}
	if _, body := e.do("GET", "/razor/api/node/checkin?hw_id=525400000001", "", ""); !strings.Contains(body, `"mk_uri":"http://10.0.0.1:8026"`) {
		t.Errorf("checkin over HTTP = %s, want mk_uri http", body)
	}
}

// The dashboard is guarded like the admin API once TLS is on.
func TestDashboardOverHTTPSOnly(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("dashboard")) })
	e := newEnv(t, envOpts{secureURL: "https://10.0.0.1:8443", ui: ui})
	if code, body := e.do("GET", "/ui/", "", ""); code != 403 || !strings.Contains(body, "https://10.0.0.1:8443/ui/") {
		t.Errorf("dashboard over plain HTTP from the network = %d %s", code, body)
	}
	req := httptest.NewRequest("GET", "/ui/", nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "dashboard" {
		t.Errorf("dashboard over HTTPS = %d %s", rec.Code, rec.Body.String())
	}
}
