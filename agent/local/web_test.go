package local

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/wire"
)

// fakeStore behaves as the controller's SetConfig does.
type fakeStore struct {
	mu       sync.Mutex
	cfg      wire.ClientConfig
	restarts int
}

func (s *fakeStore) Config() wire.ClientConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

func (s *fakeStore) SetConfig(cfg wire.ClientConfig) (bool, error) {
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.SameAs(s.cfg) {
		return false, nil
	}
	s.cfg = cfg
	s.restarts++
	return true, nil
}

func TestSetMkConfig(t *testing.T) {
	base := wire.DefaultClientConfig()
	base.URI = "http://10.0.0.1:8026"
	changedJSON := `{"mk_checkin_interval":30,"mk_log_level":"Logger::DEBUG","mk_gem_mirror_uri":"http://localhost:2158/gem-mirror"}`
	tests := []struct {
		name         string
		method, body string
		ctype        string
		wantStatus   int
		wantBody     string // exact, or "" to check wantContains
		wantContains string
		wantRestarts int
		wantInterval int
	}{
		{
			name: "raw JSON, changed", method: "POST", body: changedJSON, ctype: "text/json",
			wantStatus: 200, wantBody: ReplyRestarted, wantRestarts: 1, wantInterval: 30,
		},
		{
			name: "original form-escaped JSON, changed", method: "POST", body: url.QueryEscape(changedJSON) + "=",
			ctype:      "application/x-www-form-urlencoded",
			wantStatus: 200, wantBody: ReplyRestarted, wantRestarts: 1, wantInterval: 30,
		},
		{
			name: "unchanged (derived keys ignored)", method: "POST", body: `{"mk_checkin_interval":60,"mk_uri":"http://elsewhere:8026"}`,
			wantStatus:   200,
			wantBody:     "{\n  \"json_received\": {\n    \"mk_checkin_interval\": 60,\n    \"mk_uri\": \"http://elsewhere:8026\"\n  },\n  \"message\": \"Configuration unchanged; no update\"\n}\n",
			wantInterval: 60,
		},
		{name: "invalid interval", method: "POST", body: `{"mk_checkin_interval":0}`, wantStatus: 400, wantContains: "mk_checkin_interval", wantInterval: 60},
		{name: "invalid regex", method: "POST", body: `{"mk_fact_excl_pattern":"(x"}`, wantStatus: 400, wantContains: "mk_fact_excl_pattern", wantInterval: 60},
		{name: "wrong type", method: "POST", body: `{"mk_checkin_interval":"soon"}`, wantStatus: 400, wantContains: "mk_checkin_interval", wantInterval: 60},
		{name: "not JSON", method: "POST", body: `hello`, wantStatus: 400, wantContains: "not a JSON object", wantInterval: 60},
		{name: "array", method: "POST", body: `[1]`, wantStatus: 400, wantContains: "bad configuration body", wantInterval: 60},
		{name: "empty", method: "POST", body: ``, wantStatus: 400, wantContains: "empty", wantInterval: 60},
		{name: "too large", method: "POST", body: `{"x":"` + strings.Repeat("a", MaxConfigBody) + `"}`, wantStatus: 413, wantContains: "larger", wantInterval: 60},
		{name: "GET not allowed", method: "GET", wantStatus: 405, wantInterval: 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{cfg: base}
			h := NewWebHandler(WebOptions{Config: store})
			req := httptest.NewRequest(tt.method, "/setMkConfig", strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("%s /setMkConfig %q status = %d, want %d (%s)", tt.method, truncate(tt.body, 40), rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantBody != "" {
				if diff := cmp.Diff(tt.wantBody, rec.Body.String()); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
			if tt.wantContains != "" && !strings.Contains(rec.Body.String(), tt.wantContains) {
				t.Errorf("body = %s, want it to contain %q", rec.Body, tt.wantContains)
			}
			if store.restarts != tt.wantRestarts || store.cfg.CheckinInterval != tt.wantInterval {
				t.Errorf("restarts %d interval %d, want %d, %d", store.restarts, store.cfg.CheckinInterval, tt.wantRestarts, tt.wantInterval)
			}
		})
	}
}

func TestParseSetMkConfigMerges(t *testing.T) {
	base := wire.DefaultClientConfig()
	got, recv, err := ParseSetMkConfig([]byte(` {"mk_checkin_skew": 1} `), base)
	if err != nil {
		t.Fatalf("ParseSetMkConfig = %v", err)
	}
	want := base
	want.CheckinSkew = 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSetMkConfig mismatch (-want +got):\n%s", diff)
	}
	if string(recv) != `{"mk_checkin_skew": 1}` {
		t.Errorf("received = %s", recv)
	}
	// CGI.escape turns spaces into "+".
	got, _, err = ParseSetMkConfig([]byte("%7B%22mk_log_level%22%3A+%22Logger%3A%3AWARN%22%7D="), base)
	if err != nil || got.LogLevel != "Logger::WARN" {
		t.Errorf("ParseSetMkConfig(form) = %q, %v; want Logger::WARN", got.LogLevel, err)
	}
	if _, _, err := ParseSetMkConfig([]byte("%zz="), base); !errors.Is(err, ErrBadBody) {
		t.Errorf("ParseSetMkConfig(bad escape) = %v, want ErrBadBody", err)
	}
}

func FuzzParseSetMkConfig(f *testing.F) {
	f.Add([]byte(`{"mk_checkin_interval":30}`))
	f.Add([]byte(url.QueryEscape(`{"mk_checkin_interval":30,"mk_fact_excl_pattern":"(^a$)"}`) + "="))
	f.Add([]byte(`{"mk_checkin_interval":null,"mk_uri":1}`))
	f.Add([]byte("%7B%7D"))
	f.Fuzz(func(t *testing.T, body []byte) {
		base := wire.DefaultClientConfig()
		cfg, recv, err := ParseSetMkConfig(body, base)
		if err != nil {
			if !errors.Is(err, ErrBadBody) {
				t.Fatalf("ParseSetMkConfig error %v does not wrap ErrBadBody", err)
			}
			if cfg != base {
				t.Fatalf("ParseSetMkConfig changed the config on error")
			}
			return
		}
		if !json.Valid(recv) {
			t.Fatalf("received %q is not JSON", recv)
		}
		_ = cfg.Validate() // must not panic; SetConfig refuses invalid ones
	})
}

func TestStatus(t *testing.T) {
	store := &fakeStore{cfg: wire.DefaultClientConfig()}
	for _, tt := range []struct {
		name   string
		status func() any
		want   string
	}{
		{"from func", func() any { return map[string]any{"registered": true, "facts_count": 3} }, "{\n  \"facts_count\": 3,\n  \"registered\": true\n}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			NewWebHandler(WebOptions{Config: store, Status: tt.status}).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("GET /status = %d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			if diff := cmp.Diff(tt.want, rec.Body.String()); diff != "" {
				t.Errorf("GET /status mismatch (-want +got):\n%s", diff)
			}
		})
	}
	rec := httptest.NewRecorder()
	NewWebHandler(WebOptions{Config: store}).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	var got struct{ Config wire.ClientConfig }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Config != store.cfg {
		t.Errorf("GET /status without Status func = %s, %v", rec.Body, err)
	}
}

func TestServeShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	store := &fakeStore{cfg: wire.DefaultClientConfig()}
	go func() { done <- Serve(ctx, ln, NewWebHandler(WebOptions{Config: store}), nil) }()
	resp, err := http.Post("http://"+ln.Addr().String()+"/setMkConfig", "text/json", strings.NewReader(`{"mk_checkin_skew":2}`))
	if err != nil {
		t.Fatalf("POST /setMkConfig over TCP: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != ReplyRestarted {
		t.Errorf("POST /setMkConfig over TCP = %q, want %q", body, ReplyRestarted)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve() after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve() did not return within 10 s of cancel")
	}
}
