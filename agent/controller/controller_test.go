package controller

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/wire"
)

const (
	testInterval = 60 * time.Second
	testSkew     = 5 * time.Second // Rand 0.5 of mk_checkin_skew 10
)

func testConfig() wire.ClientConfig {
	c := wire.DefaultClientConfig()
	c.CheckinInterval = 60
	c.CheckinSkew = 10
	return c
}

type harness struct {
	t     *testing.T
	clk   *fakeClock
	srv   *fakeServer
	facts *fakeFacts
	power *fakePower
	ctl   *Controller
	dir   string
	stop  func()
}

// start runs a controller against srv with a fake clock; Rand is 0.5, so
// the initial skew is testSkew and jitter takes 3/4 of each backoff step.
func start(t *testing.T, srv *fakeServer, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{
		t:     t,
		clk:   newFakeClock(t),
		srv:   srv,
		facts: &fakeFacts{facts: map[string]string{"processorcount": "2", "memorysize": "1.00 GB", "uptime_seconds": "17", "macaddress": "52:54:00:12:34:56"}},
		power: &fakePower{},
		dir:   t.TempDir(),
	}
	opts := Options{
		Config:     testConfig(),
		ConfigPath: filepath.Join(h.dir, "mk_conf.yaml"),
		StateDir:   filepath.Join(h.dir, "state"),
		Identity: func() (Identity, error) {
			return Identity{HWID: "525400123456", UUID: "8F3B9A52-1D7E-4C1F-9A55-3C1A2B4D5E6F"}, nil
		},
		Facts: h.facts.gather,
		Power: h.power.do,
		Token: "tok-1",
		Clock: h.clk,
		Rand:  func() float64 { return 0.5 },
	}
	if srv != nil {
		opts.Discover = srv.discover()
	}
	if mod != nil {
		mod(&opts)
	}
	ctl, err := New(opts)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	h.ctl = ctl
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { stopRun(t, cancel, done) }) }
	t.Cleanup(h.stop)
	return h
}

func stopRun(t *testing.T, cancel func(), done chan error) {
	{
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run() did not return within 10 s of cancel")
		}
	}
}

func (h *harness) wantCounts(checkins, registers int) {
	h.t.Helper()
	c, r := h.srv.counts()
	if c != checkins || r != registers {
		h.t.Fatalf("server saw %d checkins, %d registers; want %d, %d", c, r, checkins, registers)
	}
}

func TestFirstCheckinRegistersThenAcknowledges(t *testing.T) {
	srv := newFakeServer(t, cmd(wire.Register, nil), ack(nil))
	h := start(t, srv, nil)

	h.clk.step(t, testSkew)
	// Checkin 1: first_checkin, register command, registration.
	h.clk.step(t, testInterval)
	h.wantCounts(1, 1)
	wantCheckin := wire.CheckinRequest{HWID: "525400123456", UUID: "8F3B9A52-1D7E-4C1F-9A55-3C1A2B4D5E6F", LastState: "idle", FirstCheckin: true, Token: "tok-1"}
	if diff := cmp.Diff(wantCheckin, srv.lastCheckin()); diff != "" {
		t.Errorf("first checkin mismatch (-want +got):\n%s", diff)
	}
	wantReg := wire.RegisterRequest{
		HWID: "525400123456", UUID: "8F3B9A52-1D7E-4C1F-9A55-3C1A2B4D5E6F", LastState: "idle", Token: "tok-1",
		// uptime_seconds is dropped by the default mk_fact_excl_pattern.
		Facts: map[string]string{"processorcount": "2", "memorysize": "1.00 GB", "macaddress": "52:54:00:12:34:56"},
	}
	if diff := cmp.Diff(wantReg, srv.lastRegister()); diff != "" {
		t.Errorf("registration mismatch (-want +got):\n%s", diff)
	}
	// Checkin 2: no longer first; facts unchanged, so no registration.
	h.clk.step(t, testInterval)
	h.wantCounts(2, 1)
	if srv.lastCheckin().FirstCheckin {
		t.Error("second checkin has first_checkin=true after a successful registration")
	}
	data, err := os.ReadFile(filepath.Join(h.dir, "state", FirstCheckinFile))
	if err != nil || strings.TrimSpace(string(data)) != "false" {
		t.Errorf("state %s = %q, %v; want false", FirstCheckinFile, data, err)
	}
	st := h.ctl.Status()
	if !st.Registered || st.FirstCheckin || st.LastResult != "acknowledge" || st.Server != srv.URL || st.FactsCount != 3 {
		t.Errorf("Status() = %+v", st)
	}
}

func TestReregistersWhenFactsChange(t *testing.T) {
	srv := newFakeServer(t, ack(nil))
	h := start(t, srv, nil)
	h.clk.step(t, testSkew)
	// No registration since boot: the agent registers on its own even
	// though the server only acknowledged.
	h.clk.step(t, testInterval)
	h.wantCounts(1, 1)
	h.clk.step(t, testInterval)
	h.wantCounts(2, 1)
	h.facts.set("memorysize", "2.00 GB")
	h.clk.step(t, testInterval)
	h.wantCounts(3, 2)
	if got := srv.lastRegister().Facts["memorysize"]; got != "2.00 GB" {
		t.Errorf("re-registration memorysize = %q, want 2.00 GB", got)
	}
	// A change in an excluded fact is no change.
	h.facts.set("uptime_seconds", "999")
	h.clk.step(t, testInterval)
	h.wantCounts(4, 2)
}

func TestFirstCheckinStaysUntilRegistrationSucceeds(t *testing.T) {
	srv := newFakeServer(t, cmd(wire.Register, nil))
	srv.regStatus = http.StatusInternalServerError
	h := start(t, srv, nil)
	h.clk.step(t, testSkew)
	h.clk.step(t, Backoff(1, time.Second, testInterval, 0.5)) // failed registration backs off
	h.wantCounts(1, 1)
	srv.mu.Lock()
	srv.regStatus = 0
	srv.mu.Unlock()
	h.clk.step(t, testInterval)
	h.wantCounts(2, 2)
	if !srv.lastCheckin().FirstCheckin {
		t.Error("checkin after a failed registration lost first_checkin=true")
	}
	h.clk.step(t, testInterval)
	if srv.lastCheckin().FirstCheckin {
		t.Error("checkin after a successful registration still has first_checkin=true")
	}
}

func TestStatePersistsAcrossControllers(t *testing.T) {
	srv := newFakeServer(t, cmd(wire.Register, nil), ack(nil))
	h := start(t, srv, nil)
	h.clk.step(t, testSkew)
	h.clk.step(t, testInterval)
	h.wantCounts(1, 1)
	h.stop()

	// A new controller process on the same (tmpfs) state dir: not a first
	// checkin, and the same facts are not registered again.
	srv.setReplies(ack(nil))
	h2 := start(t, srv, func(o *Options) { o.StateDir = filepath.Join(h.dir, "state") })
	h2.clk.step(t, testSkew)
	h2.clk.step(t, testInterval)
	h2.wantCounts(2, 1)
	if srv.lastCheckin().FirstCheckin {
		t.Error("restarted controller sent first_checkin=true after a registration")
	}
}

func TestConfigChangeRestarts(t *testing.T) {
	running := testConfig()
	same := running
	same.URI = "http://server-view:8026" // derived keys do not count
	same.CheckinPath = "/elsewhere/node/checkin"
	changed := running
	changed.CheckinInterval = 30
	changed.CheckinSkew = 2

	srv := newFakeServer(t, ack(&same), ack(&changed), ack(&changed))
	var level slog.LevelVar
	h := start(t, srv, func(o *Options) { o.LevelVar = &level })
	h.clk.step(t, testSkew)
	// Unchanged (ignoring derived keys): no restart, no file.
	h.clk.step(t, testInterval)
	if _, err := os.Stat(filepath.Join(h.dir, "mk_conf.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config file written for an unchanged config: %v", err)
	}
	// Changed: saved, and the controller restarts (a new skew delay of
	// 0.5 × 2 s instead of the interval).
	h.clk.step(t, time.Second)
	got, err := LoadConfig(filepath.Join(h.dir, "mk_conf.yaml"))
	if err != nil {
		t.Fatalf("LoadConfig(saved) = %v", err)
	}
	want := changed
	want.URI, want.CheckinPath, want.RegisterPath = srv.URL, wire.DefaultCheckinPath, wire.DefaultRegisterPath
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("saved config mismatch (-want +got):\n%s", diff)
	}
	if st := h.ctl.Status(); st.Restarts != 1 || st.Config.CheckinInterval != 30 {
		t.Errorf("Status() restarts %d interval %d, want 1, 30", st.Restarts, st.Config.CheckinInterval)
	}
	if got := level.Level(); got != slog.LevelError {
		t.Errorf("log level after mk_log_level Logger::ERROR = %v, want ERROR", got)
	}
	// The restarted controller checks in every 30 s and stays put.
	h.clk.step(t, 30*time.Second)
	h.clk.step(t, 30*time.Second)
	if st := h.ctl.Status(); st.Restarts != 1 {
		t.Errorf("Status().Restarts = %d after an unchanged config, want 1", st.Restarts)
	}
}

func TestBadConfigRefused(t *testing.T) {
	tests := []struct{ name, body string }{
		{"interval zero", `{"errcode":0,"response":{"command_name":"acknowledge"},"client_config":{"mk_checkin_interval":0,"mk_checkin_skew":1,"mk_fact_excl_pattern":""}}`},
		{"bad regex", `{"errcode":0,"response":{"command_name":"acknowledge"},"client_config":{"mk_checkin_interval":5,"mk_checkin_skew":1,"mk_fact_excl_pattern":"(^kernel"}}`},
		{"negative interval", `{"errcode":0,"response":{"command_name":"acknowledge"},"client_config":{"mk_checkin_interval":-3}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, scripted{body: tt.body})
			h := start(t, srv, nil)
			h.clk.step(t, testSkew)
			h.clk.step(t, testInterval) // old interval, no restart
			h.clk.step(t, testInterval)
			if _, err := os.Stat(filepath.Join(h.dir, "mk_conf.yaml")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("config file written for an invalid config: %v", err)
			}
			st := h.ctl.Status()
			if st.Restarts != 0 || st.Config.CheckinInterval != 60 {
				t.Errorf("Status() restarts %d interval %d, want 0, 60", st.Restarts, st.Config.CheckinInterval)
			}
			if len(st.Errors) == 0 || st.Errors[0].Op != "client_config" {
				t.Errorf("Status().Errors = %+v, want a client_config error", st.Errors)
			}
		})
	}
}

func TestBackoffWhenServerDown(t *testing.T) {
	tests := []struct {
		name  string
		reply scripted
		dead  bool
	}{
		{name: "HTTP 500", reply: scripted{status: 500, body: `{"errcode":1,"result":"boom"}`}},
		{name: "not JSON", reply: scripted{body: `<html>proxy error</html>`}},
		{name: "errcode not 0 is ignored", reply: scripted{body: `{"errcode":1,"result":"store down","response":{"command_name":"reboot","command_param":{}}}`}},
		{name: "no answer", dead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, tt.reply)
			var discovers atomic.Int32
			url := srv.URL
			if tt.dead {
				srv.Close() // connection refused
			}
			h := start(t, srv, func(o *Options) {
				o.Discover = func(context.Context) (discover.Server, error) {
					discovers.Add(1)
					return discover.Server{URI: url, CheckinPath: wire.DefaultCheckinPath, RegisterPath: wire.DefaultRegisterPath}, nil
				}
			})
			h.clk.step(t, testSkew)
			// 1, 2, 4 … s doubling, capped at the 60 s interval; the
			// jitter (Rand 0.5) picks 3/4 of each step.
			for _, want := range []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second,
				12 * time.Second, 24 * time.Second, 45 * time.Second, 45 * time.Second, 45 * time.Second} {
				h.clk.step(t, want)
			}
			if got := h.power.got(); len(got) != 0 {
				t.Errorf("power commands %v after ignored replies, want none", got)
			}
			if st := h.ctl.Status(); st.Failures != 9 || st.Registered {
				t.Errorf("Status() failures %d registered %v, want 9, false", st.Failures, st.Registered)
			}
			if tt.dead {
				// Unanswered checkins make it look for the server again
				// every RediscoverAfter failures.
				if got := discovers.Load(); got != 3 {
					t.Errorf("Discover called %d times in 9 failed checkins, want 3", got)
				}
				return
			}
			// The server recovers: back to the interval at once.
			srv.setReplies(ack(nil))
			h.clk.step(t, testInterval)
			if st := h.ctl.Status(); st.Failures != 0 {
				t.Errorf("Status().Failures = %d after a good checkin, want 0", st.Failures)
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	limit := 60 * time.Second
	for failures := 1; failures <= 70; failures++ {
		step := min(time.Second<<min(failures-1, 10), limit)
		for _, r := range []float64{0, 0.25, 0.999999} {
			got := Backoff(failures, time.Second, limit, r)
			if got < step/2 || got > step || got > limit || got <= 0 {
				t.Errorf("Backoff(%d, 1s, 60s, %v) = %v, want within [%v, %v]", failures, r, got, step/2, step)
			}
		}
	}
	if got := Backoff(1, 10*time.Second, 4*time.Second, 0); got != 2*time.Second {
		t.Errorf("Backoff(1, 10s, 4s, 0) = %v, want 2s (capped at the interval)", got)
	}
}

func TestPowerCommands(t *testing.T) {
	srv := newFakeServer(t, cmd(wire.Reboot, nil), cmd(wire.Poweroff, nil), ack(nil))
	h := start(t, srv, nil)
	h.clk.step(t, testSkew)
	h.clk.step(t, testInterval)
	h.clk.step(t, testInterval)
	if diff := cmp.Diff([]wire.Command{wire.Reboot, wire.Poweroff}, h.power.got()); diff != "" {
		t.Errorf("power commands mismatch (-want +got):\n%s", diff)
	}
	// Going down: no registration happened on those checkins.
	h.wantCounts(2, 0)
}

func TestPowerDryRunInLoop(t *testing.T) {
	srv := newFakeServer(t, cmd(wire.Reboot, nil), ack(nil))
	var killed atomic.Int32
	p := &SystemPower{DryRun: true, ProcRoot: t.TempDir(),
		Kill: func(int, syscall.Signal) error { killed.Add(1); return nil },
		Run:  func(context.Context, string) error { killed.Add(1); return nil }}
	h := start(t, srv, func(o *Options) { o.Power = p.Do })
	h.clk.step(t, testSkew)
	h.clk.step(t, testInterval)
	h.clk.step(t, testInterval) // still checking in after a dry-run reboot
	if killed.Load() != 0 {
		t.Error("dry run signalled or ran a program")
	}
}

func TestLongPollWait(t *testing.T) {
	cfg := testConfig()
	cfg.CheckinWait = 20
	srv := newFakeServer(t, ack(&cfg))
	h := start(t, srv, func(o *Options) { o.Config = cfg })
	h.clk.step(t, testSkew)
	h.clk.step(t, testInterval)
	if got := srv.lastCheckin().Wait; got != 20*time.Second {
		t.Errorf("checkin wait = %v, want 20s", got)
	}
}

func TestSetConfigRestartsSleepingController(t *testing.T) {
	srv := newFakeServer(t, ack(nil))
	h := start(t, srv, nil)
	h.clk.step(t, testSkew)
	h.clk.step(t, testInterval)
	cur := h.ctl.Config()
	if changed, err := h.ctl.SetConfig(cur); err != nil || changed {
		t.Errorf("SetConfig(running) = %v, %v; want false, nil", changed, err)
	}
	bad := cur
	bad.FactExclPattern = "(("
	if _, err := h.ctl.SetConfig(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetConfig(bad regex) = %v, want ErrInvalidConfig", err)
	}
	next := cur
	next.CheckinSkew = 4
	if changed, err := h.ctl.SetConfig(next); err != nil || !changed {
		t.Fatalf("SetConfig(changed) = %v, %v; want true, nil", changed, err)
	}
	// The sleeping session ends and a new one starts with the new skew.
	h.clk.step(t, 2*time.Second)
	h.clk.step(t, testInterval)
	if st := h.ctl.Status(); st.Restarts != 1 || st.Config.CheckinSkew != 4 {
		t.Errorf("Status() restarts %d skew %d, want 1, 4", st.Restarts, st.Config.CheckinSkew)
	}
}

func TestPinnedLogLevel(t *testing.T) {
	srv := newFakeServer(t, ack(nil))
	var level slog.LevelVar
	level.Set(slog.LevelDebug)
	h := start(t, srv, func(o *Options) { o.LevelVar = &level; o.PinLevel = true })
	h.clk.step(t, testSkew)
	if got := level.Level(); got != slog.LevelDebug {
		t.Errorf("pinned level = %v, want DEBUG", got)
	}
}

func TestNoIdentityBacksOff(t *testing.T) {
	srv := newFakeServer(t, ack(nil))
	h := start(t, srv, func(o *Options) {
		o.Identity = func() (Identity, error) { return Identity{}, nil }
	})
	h.clk.step(t, testSkew)
	h.clk.step(t, 750*time.Millisecond)
	h.wantCounts(0, 0)
	if st := h.ctl.Status(); len(st.Errors) == 0 || st.Errors[0].Op != "identity" {
		t.Errorf("Status().Errors = %+v, want an identity error", st.Errors)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	srv := newFakeServer(t, ack(nil))
	base := Options{Config: testConfig(), Discover: srv.discover(), Identity: func() (Identity, error) { return Identity{}, nil },
		Facts: func(context.Context) (map[string]string, error) { return nil, nil }}
	if _, err := New(base); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	bad := base
	bad.Config.CheckinInterval = 0
	if _, err := New(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(interval 0) = %v, want ErrInvalidConfig", err)
	}
	bad = base
	bad.Facts = nil
	if _, err := New(bad); err == nil {
		t.Error("New(no Facts) = nil error")
	}
}

func TestRegisterReplyErrcode(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /r", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"errcode":"1","result":"facts refused"}`))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c, err := New(Options{Config: testConfig(), Discover: func(context.Context) (discover.Server, error) { return discover.Server{}, nil },
		Identity: func() (Identity, error) { return Identity{}, nil }, Facts: func(context.Context) (map[string]string, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := discover.Server{URI: ts.URL, RegisterPath: "/r"}
	if err := c.register(context.Background(), srv, Identity{HWID: "525400123456"}, map[string]string{"a": "b"}); !errors.Is(err, ErrServerStatus) {
		t.Errorf("register() against errcode 1 = %v, want ErrServerStatus", err)
	}
	if err := c.register(context.Background(), srv, Identity{HWID: "525400123456"}, nil); !errors.Is(err, ErrNoFacts) {
		t.Errorf("register(no facts) = %v, want ErrNoFacts", err)
	}
}
