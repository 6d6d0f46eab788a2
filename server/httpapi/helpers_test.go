package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/metrics"
	"github.com/razor-mk/razor-mk/server/mkimage"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
	"github.com/razor-mk/razor-mk/wire"
)

const (
	serverURL  = "http://10.0.0.1:8026"
	adminToken = "s3cret"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// counter is a deterministic token source: bytes 0, 1, 2, ...
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// env is a server under test.
type env struct {
	t     testing.TB
	st    store.Store
	core  *core.Core
	h     *Handler
	clock *clock
	reg   *prometheus.Registry
	ev    *events.Recorder
}

type envOpts struct {
	noImage   bool
	nodeToken core.TokenMode
	secureURL string
	ui        http.Handler
	logger    *slog.Logger
	rateLimit float64
	rateBurst int
	// commandExpiry is the core's CommandExpiry.
	commandExpiry time.Duration
	// power and secrets are the core's Power and Secrets.
	power   power.Controller
	secrets core.Sealer
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "razor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	images := filepath.Join(dir, "images")
	if !o.noImage {
		writeImage(t, images, "mk-prod")
	}
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	var c *core.Core
	m, err := metrics.New(reg, func() map[string]int { return c.NodeStates() })
	if err != nil {
		t.Fatal(err)
	}
	ev := events.New(st, events.Options{Now: clk.Now})
	c, err = core.New(ctx, st, core.Options{
		Metrics: m, Now: clk.Now, ServerURL: serverURL, Images: mkimage.New(images, nil),
		KernelArgs: "console=ttyS0", Rand: &counter{}, NodeToken: o.nodeToken, Logger: o.logger, Events: ev, CommandExpiry: o.commandExpiry,
		Power: o.power, Secrets: o.secrets,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Options{
		Core: c, Metrics: m, Gatherer: reg, AdminToken: adminToken, ServerURL: serverURL, Logger: o.logger, SecureURL: o.secureURL, UI: o.ui,
		ClientConfig: wire.DefaultClientConfig(), RateLimit: o.rateLimit, RateBurst: o.rateBurst,
	})
	return &env{t: t, st: st, core: c, h: h, clock: clk, reg: reg, ev: ev}
}

// writeImage makes a verified microkernel image directory.
func writeImage(t testing.TB, dir, name string) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Name: name, Cmdline: "quiet"}
	for _, f := range []struct {
		path string
		a    *manifest.Artefact
	}{{"vmlinuz", &m.Kernel}, {"initrd", &m.Initrd}} {
		p := filepath.Join(d, f.path)
		if err := os.WriteFile(p, []byte("test "+f.path), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, size, err := manifest.HashFile(p)
		if err != nil {
			t.Fatal(err)
		}
		*f.a = manifest.Artefact{Path: f.path, Size: size, SHA256: sum}
	}
	b, _ := m.Encode()
	if err := os.WriteFile(filepath.Join(d, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs one request and returns status and body.
func (e *env) do(method, target, contentType, body string, hdr ...string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.RemoteAddr = "192.0.2.10:40000"
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// admin runs an authorised admin request with a JSON body.
func (e *env) admin(method, path, body string) (int, string) {
	e.t.Helper()
	return e.do(method, "/api/v1"+path, "application/json", body, "Authorization", "Bearer "+adminToken)
}

// checkin sends a checkin query and returns the command (or "" on error)
// and the status.
func (e *env) checkin(q string) (wire.Command, int) {
	e.t.Helper()
	code, body := e.do("GET", "/razor/api/node/checkin?"+q, "", "")
	r, _, err := wire.ParseReply([]byte(body))
	if err != nil {
		e.t.Fatalf("checkin %s: bad reply %q: %v", q, body, err)
	}
	return r.Command(), code
}

// register posts our JSON registration.
func (e *env) register(hwid, uuid, token string, facts map[string]string) (int, string) {
	e.t.Helper()
	b, _ := wire.RegisterRequest{HWID: hwid, UUID: uuid, Token: token, Facts: facts}.Encode()
	return e.do("POST", "/razor/api/node/register", "application/json", string(b))
}

func (e *env) nodes() []map[string]any {
	e.t.Helper()
	code, body := e.admin("GET", "/nodes", "")
	if code != 200 {
		e.t.Fatalf("GET /nodes = %d %s", code, body)
	}
	var l struct{ Nodes []map[string]any }
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		e.t.Fatal(err)
	}
	return l.Nodes
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

var _ http.Handler = (*Handler)(nil)
