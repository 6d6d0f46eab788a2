package webui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/httpapi"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
	"github.com/razor-mk/razor-mk/server/webui"
	"github.com/razor-mk/razor-mk/wire"
)

const (
	adminToken  = "admin-s3cret"
	viewerToken = "viewer-s3cret"
)

// lab is a checkin server with the dashboard, over real HTTP.
type lab struct {
	t    testing.TB
	srv  *httptest.Server
	core *core.Core
}

func newLab(t testing.TB) *lab {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "razor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := events.New(st, events.Options{FlushInterval: 20 * time.Millisecond})
	c, err := core.New(ctx, st, core.Options{ServerURL: "http://192.0.2.1:8026", Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { c.Run(runCtx); done <- struct{}{} }()
	go func() { rec.Run(runCtx); done <- struct{}{} }()
	t.Cleanup(func() { c.Shutdown(); cancel(); <-done; <-done })
	ui, err := webui.New(webui.Options{Fleet: c, Poll: 100e6, Authenticate: func(tok string) (webui.Role, string, bool) {
		switch tok {
		case adminToken:
			return webui.Admin, "admin.token", true
		case viewerToken:
			return webui.Viewer, "auditor", true
		}
		return "", "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Options{Core: c, AdminToken: adminToken, ServerURL: "http://192.0.2.1:8026", ClientConfig: wire.DefaultClientConfig(), UI: ui})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &lab{t: t, srv: srv, core: c}
}

// register posts a registration as the microkernel does.
func (l *lab) register(mac, uuid string, facts map[string]string) string {
	l.t.Helper()
	b, _ := wire.RegisterRequest{HWID: strings.ReplaceAll(strings.ToUpper(mac), ":", ""), UUID: uuid, Facts: facts}.Encode()
	res, err := http.Post(l.srv.URL+"/razor/api/node/register", "application/json", strings.NewReader(string(b)))
	if err != nil {
		l.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		l.t.Fatalf("register %s = %d %s", mac, res.StatusCode, body)
	}
	nodes, err := l.core.Nodes(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	for _, n := range nodes {
		for _, m := range n.MACs {
			if strings.EqualFold(strings.ReplaceAll(m, ":", ""), strings.ReplaceAll(mac, ":", "")) {
				return n.ID
			}
		}
	}
	l.t.Fatalf("registered %s but no node holds it", mac)
	return ""
}

// checkin checks in as the node with mac and returns the command.
func (l *lab) checkin(mac string) wire.Command {
	l.t.Helper()
	res, err := http.Get(l.srv.URL + "/razor/api/node/checkin?last_state=idle&hw_id=" + strings.ReplaceAll(strings.ToUpper(mac), ":", ""))
	if err != nil {
		l.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r, _, err := wire.ParseReply(b)
	if err != nil {
		l.t.Fatalf("checkin reply %q: %v", b, err)
	}
	return r.Command()
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects.
type browser struct {
	t   testing.TB
	l   *lab
	c   *http.Client
	hdr http.Header
}

func (l *lab) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: l.t, l: l, hdr: http.Header{}, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.l.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.hdr {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	s, _ := io.ReadAll(res.Body)
	return res, string(s)
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	res, body := b.do("POST", "/ui/login", url.Values{"token": {token}, "next": {"/ui/"}})
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in = %d %s", res.StatusCode, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token a page carries.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.do("GET", path, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("%s carries no CSRF token", path)
	}
	return m[1]
}
