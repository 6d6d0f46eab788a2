package core

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/secretbox"
	"github.com/razor-mk/razor-mk/server/store"
)

// fakePower records what it is asked and answers from state.
type fakePower struct {
	mu    sync.Mutex
	calls []string // action bmc password
	err   error
	on    bool
}

func (p *fakePower) Do(_ context.Context, b power.BMC, a power.Action) (power.State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, string(a)+" "+b.String()+" "+b.Password)
	if p.err != nil {
		return "", p.err
	}
	switch a {
	case power.On, power.Cycle:
		p.on = true
	case power.Off:
		p.on = false
	}
	if p.on {
		return power.StateOn, nil
	}
	return power.StateOff, nil
}

func (p *fakePower) last() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

type powerFixture struct {
	*fixture
	pw   *fakePower
	ev   *events.Recorder
	logs *bytes.Buffer
	key  string
}

func newPowerFixture(t *testing.T) *powerFixture {
	t.Helper()
	pf := &powerFixture{pw: &fakePower{}, logs: &bytes.Buffer{}, key: filepath.Join(t.TempDir(), "secret.key")}
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return pf.logs.Write(b)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, Options{Logger: lg, Power: pf.pw, Secrets: &secretbox.File{Path: pf.key}})
	pf.fixture = f
	pf.ev = events.New(f.st, events.Options{})
	f.core.ev = pf.ev
	return pf
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(b []byte) (int, error) { return w(b) }

func (pf *powerFixture) events(t *testing.T, node string) []store.Event {
	t.Helper()
	if err := pf.ev.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := pf.st.ListEvents(context.Background(), store.EventQuery{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSetBMCValidatesAndNeverReturnsPassword(t *testing.T) {
	pf := newPowerFixture(t)
	ctx := context.Background()
	n := pf.register(t, "525400000001", "", map[string]string{"bmc_ipaddress": "10.9.0.7"})
	for _, tc := range []struct {
		scope string
		in    BMCInput
		field string
	}{
		{"node:" + n.ID, BMCInput{Username: "", Password: "pw"}, "username"},
		{"node:" + n.ID, BMCInput{Username: strings.Repeat("u", 17), Password: "pw"}, "username"},
		{"node:" + n.ID, BMCInput{Username: "u", Password: ""}, "password"},
		{"node:" + n.ID, BMCInput{Username: "u", Password: strings.Repeat("p", 21)}, "password"},
		{"node:" + n.ID, BMCInput{Host: "not a host", Username: "u", Password: "pw"}, "host"},
		{"node:" + n.ID, BMCInput{Host: "0.0.0.0", Username: "u", Password: "pw"}, "host"},
		{"node:" + n.ID, BMCInput{Port: 70000, Username: "u", Password: "pw"}, "port"},
		{"nodes:x", BMCInput{Username: "u", Password: "pw"}, "scope"},
	} {
		_, err := pf.core.SetBMC(ctx, tc.scope, tc.in)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("SetBMC(%s, %+v) = %v, want an input error on %s", tc.scope, tc.in, err, tc.field)
		}
	}
	if _, err := pf.core.SetBMC(ctx, "node:node99", BMCInput{Username: "u", Password: "pw"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetBMC(unknown node) = %v, want ErrNotFound", err)
	}
	if _, err := pf.core.SetBMC(ctx, "policy:nope", BMCInput{Username: "u", Password: "pw"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetBMC(unknown policy) = %v, want ErrNotFound", err)
	}
	if l, _ := pf.core.BMCs(ctx); len(l) != 0 {
		t.Fatalf("refused SetBMC calls stored %+v", l)
	}
	// Nothing refused created the key file either.
	if _, err := (&secretbox.File{Path: pf.key}).Open([]byte{1}, "x"); !errors.Is(err, secretbox.ErrNoKey) {
		t.Errorf("key file after refused input: %v, want none yet", err)
	}

	// A node scope may name the node by MAC.
	info, err := pf.core.SetBMC(ctx, "node:52:54:00:00:00:01", BMCInput{Username: "admin", Password: "Sup3r-Secret"})
	if err != nil {
		t.Fatal(err)
	}
	want := BMCInfo{Scope: "node:" + n.ID, Username: "admin", PasswordSet: true, Updated: pf.Now()}
	if info != want {
		t.Errorf("SetBMC = %+v, want %+v", info, want)
	}
	stored, err := pf.st.GetBMCCredential(ctx, "node:"+n.ID)
	if err != nil || bytes.Contains(stored.Sealed, []byte("Sup3r-Secret")) {
		t.Errorf("stored credential = %v, %v: want it sealed", stored.Sealed, err)
	}
	if strings.Contains(pf.logs.String(), "Sup3r-Secret") {
		t.Errorf("the password was logged:\n%s", pf.logs)
	}
}

func TestPowerResolvesCredentialsAndRecords(t *testing.T) {
	pf := newPowerFixture(t)
	ctx := context.Background()
	n := pf.register(t, "525400000001", "", map[string]string{"bmc_ipaddress": "10.9.0.7"})
	if _, err := pf.core.Power(ctx, n.ID, power.Status); !errors.Is(err, ErrNoBMC) {
		t.Errorf("Power without credentials = %v, want ErrNoBMC", err)
	}
	// An unconfigured BMC reports 0.0.0.0: refused, not sent to.
	unset := pf.register(t, "525400000002", "", map[string]string{"bmc_ipaddress": "0.0.0.0"})
	if _, err := pf.core.SetBMC(ctx, "node:"+unset.ID, BMCInput{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.core.Power(ctx, unset.ID, power.Status); !errors.Is(err, ErrNoBMC) || !strings.Contains(err.Error(), "no LAN address") {
		t.Errorf("Power(bmc_ipaddress 0.0.0.0) = %v, want ErrNoBMC saying the BMC has no address", err)
	}
	if len(pf.pw.last()) != 0 {
		t.Errorf("the controller was called for 0.0.0.0: %q", pf.pw.last())
	}
	if _, err := pf.core.Power(ctx, n.ID, "reboot"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Power(reboot) = %v, want ErrInvalid", err)
	}
	// Global credential, host from the fact.
	if _, err := pf.core.SetBMC(ctx, store.ScopeGlobal, BMCInput{Username: "ADMIN", Password: "global-pw"}); err != nil {
		t.Fatal(err)
	}
	res, err := pf.core.Power(ctx, n.ID, power.On)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != power.StateOn || res.Credential != store.ScopeGlobal || res.BMC != "ADMIN@10.9.0.7:623" {
		t.Errorf("Power(on) = %+v", res)
	}
	// The node's own credential wins, with its own host and port.
	if _, err := pf.core.SetBMC(ctx, "node:"+n.ID, BMCInput{Host: "10.9.9.9", Port: 6230, Username: "root", Password: "node-pw"}); err != nil {
		t.Fatal(err)
	}
	if res, err = pf.core.Power(ctx, n.ID, power.Off); err != nil || res.BMC != "root@10.9.9.9:6230" || res.State != power.StateOff {
		t.Errorf("Power(off) = %+v, %v", res, err)
	}
	calls := pf.pw.last()
	if len(calls) != 2 || calls[0] != "on ADMIN@10.9.0.7:623 global-pw" || calls[1] != "off root@10.9.9.9:6230 node-pw" {
		t.Errorf("controller calls = %q", calls)
	}
	// A failure is recorded, with the BMC's error.
	pf.pw.err = errors.New("power: BMC root@10.9.9.9:6230: no session")
	if _, err := pf.core.Power(ctx, n.ID, power.Cycle); err == nil {
		t.Errorf("Power(cycle) with a failing BMC succeeded")
	}
	var got []string
	for _, e := range pf.events(t, n.ID) {
		if strings.HasPrefix(e.Type, "power.") || e.Type == events.BMCCredential {
			text, _ := events.Describe(e)
			got = append(got, text)
		}
	}
	want := []string{
		"power on → on via ADMIN@10.9.0.7:623 (admin)",
		"BMC credential set (root@10.9.9.9)",
		"power off → off via root@10.9.9.9:6230 (admin)",
		"power cycle failed: power: BMC root@10.9.9.9:6230: no session (admin)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, pw := range []string{"global-pw", "node-pw"} {
		if strings.Contains(pf.logs.String(), pw) {
			t.Errorf("password %q logged", pw)
		}
	}

	// Another key file (the server's key lost or replaced): a clear error.
	other := &secretbox.File{Path: filepath.Join(t.TempDir(), "other.key")}
	if _, err := other.Seal("x", "y"); err != nil {
		t.Fatal(err)
	}
	pf.core.opts.Secrets = other
	pf.pw.err = nil
	_, err = pf.core.Power(ctx, n.ID, power.Status)
	if !errors.Is(err, secretbox.ErrWrongKey) || !strings.Contains(err.Error(), "restore the key file") {
		t.Errorf("Power with another key = %v, want ErrWrongKey saying what to do", err)
	}
}

func TestBindPowerCyclesNodeOutsideMicrokernel(t *testing.T) {
	pf := newPowerFixture(t)
	ctx := context.Background()
	n := pf.register(t, "525400000001", "", map[string]string{"bmc_ipaddress": "10.9.0.7"})
	for _, p := range []store.Policy{
		{Name: "install", Enabled: true, Target: store.Target{Kind: store.TargetLocal, PowerCycle: true}},
		{Name: "plain", Enabled: true, Target: store.Target{Kind: store.TargetLocal}},
	} {
		if _, err := pf.core.CreatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// In the microkernel (it just registered): bound, no power action;
	// its next checkin reboots it.
	res, err := pf.core.Bind(ctx, n.ID, "install")
	if err != nil || res.Power != nil || res.PowerErr != nil || res.Node.Policy != "install" {
		t.Fatalf("Bind(in microkernel) = %+v, %v", res, err)
	}
	if got := pf.checkin(t, "525400000001"); got != "reboot" {
		t.Errorf("checkin after Bind = %s, want reboot", got)
	}
	if _, err := pf.core.Unbind(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	// Silent past the register timeout, without credentials: refused,
	// and not bound.
	pf.advance(10 * time.Minute)
	if _, err := pf.core.Bind(ctx, n.ID, "install"); !errors.Is(err, ErrNoBMC) {
		t.Errorf("Bind(no credential) = %v, want ErrNoBMC", err)
	}
	if got, _ := pf.core.Node(ctx, n.ID); got.Policy != "" {
		t.Errorf("refused Bind bound the node to %q", got.Policy)
	}
	// With the policy's credential: bound and power-cycled.
	if _, err := pf.core.SetBMC(ctx, "policy:install", BMCInput{Username: "ops", Password: "policy-pw"}); err != nil {
		t.Fatal(err)
	}
	res, err = pf.core.Bind(ctx, n.ID, "install")
	if err != nil || res.PowerErr != nil || res.Power == nil || res.Power.Action != power.Cycle || res.Power.Credential != "policy:install" {
		t.Fatalf("Bind(outside microkernel) = %+v, %v", res, err)
	}
	if calls := pf.pw.last(); len(calls) != 1 || calls[0] != "cycle ops@10.9.0.7:623 policy-pw" {
		t.Errorf("controller calls = %q", calls)
	}
	// A policy without power_cycle binds without a power action.
	if _, err := pf.core.Unbind(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if res, err = pf.core.Bind(ctx, n.ID, "plain"); err != nil || res.Power != nil {
		t.Errorf("Bind(plain) = %+v, %v", res, err)
	}
	if _, err := pf.core.Bind(ctx, n.ID, "install"); !errors.Is(err, store.ErrBound) {
		t.Errorf("Bind(bound node) = %v, want ErrBound", err)
	}
	if _, err := pf.core.Bind(ctx, n.ID, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Bind(no policy) = %v, want ErrInvalid", err)
	}
}
