package webui_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/wire"
)

func TestSignIn(t *testing.T) {
	l := newLab(t)
	b := l.browser()
	res, _ := b.do("GET", "/ui/nodes?q=x", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login?next=%2Fui%2Fnodes%3Fq%3Dx" {
		t.Fatalf("GET /ui/nodes signed out = %d → %q, want 303 to the sign-in page", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := b.do("POST", "/ui/login", url.Values{"token": {"wrong"}, "next": {"/ui/nodes"}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not valid") || len(res.Cookies()) != 0 {
		t.Errorf("sign in with a wrong token = %d, cookies %v; want 401, an error and no cookie", res.StatusCode, res.Cookies())
	}
	res, _ = b.do("POST", "/ui/login", url.Values{"token": {adminToken}, "next": {"//evil.example/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
		t.Errorf("sign in with next=//evil = → %q, want /ui/", res.Header.Get("Location"))
	}
	c := res.Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/ui/" || len(c[0].Value) < 40 {
		t.Errorf("session cookie = %+v, want one HttpOnly, SameSite=Strict cookie on /ui/ with a long random value", c)
	}
	res, body = b.do("GET", "/ui/", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "<h1>Fleet</h1>") {
		t.Errorf("GET /ui/ signed in = %d, want the fleet page", res.StatusCode)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// Signing out ends the session on the server, not only in the browser.
	old := c[0]
	res, _ = b.do("POST", "/ui/logout", url.Values{"csrf": {b.csrf("/ui/")}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out = %d", res.StatusCode)
	}
	b2 := l.browser()
	u, _ := url.Parse(l.srv.URL + "/ui/")
	b2.c.Jar.SetCookies(u, []*http.Cookie{old})
	if res, _ := b2.do("GET", "/ui/", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /ui/ with a signed-out cookie = %d, want 303 to sign in", res.StatusCode)
	}
	if res, _ := l.browser().do("GET", "/", nil); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d → %q, want a redirect to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestActionsNeedCSRFAndRole(t *testing.T) {
	l := newLab(t)
	id := l.register("52:54:00:aa:00:01", "", map[string]string{"serialnumber": "S-1", "productname": "Box"})
	b := l.browser()
	b.signIn(adminToken)
	path := "/ui/nodes/" + id + "/command"
	tok := b.csrf("/ui/nodes/" + id)
	for _, tc := range []struct {
		name string
		form url.Values
		site string
	}{
		{"no token", url.Values{"name": {"reboot"}}, ""},
		{"wrong token", url.Values{"name": {"reboot"}, "csrf": {"x" + tok}}, ""},
		{"cross-site", url.Values{"name": {"reboot"}, "csrf": {tok}}, "cross-site"},
	} {
		b.hdr.Set("Sec-Fetch-Site", tc.site)
		if tc.site == "" {
			b.hdr.Del("Sec-Fetch-Site")
		}
		if res, _ := b.do("POST", path, tc.form); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST %s = %d, want 403", tc.name, path, res.StatusCode)
		}
	}
	b.hdr.Set("Sec-Fetch-Site", "same-origin")
	if cmds, _ := l.core.Commands(context.Background(), id); len(cmds) != 0 {
		t.Fatalf("refused requests queued %v", cmds)
	}
	res, _ := b.do("POST", path, url.Values{"name": {"reboot"}, "csrf": {tok}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reboot with the token = %d, want 303", res.StatusCode)
	}
	if got := l.checkin("52:54:00:aa:00:01"); got != wire.Reboot {
		t.Errorf("checkin after a reboot from the page = %s, want reboot", got)
	}
	if res, _ := b.do("POST", path, url.Values{"name": {"format-disks"}, "csrf": {tok}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("POST an unknown command = %d, want 400", res.StatusCode)
	}

	v := l.browser()
	v.signIn(viewerToken)
	_, page := v.do("GET", "/ui/nodes/"+id, nil)
	if strings.Contains(page, ">Reboot<") || strings.Contains(page, ">Delete<") {
		t.Errorf("a viewer's node page shows action buttons")
	}
	vtok := v.csrf("/ui/")
	if res, _ := v.do("POST", path, url.Values{"name": {"poweroff"}, "csrf": {vtok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer POST poweroff = %d, want 403", res.StatusCode)
	}
	if res, _ := v.do("POST", "/ui/nodes/"+id+"/delete", url.Values{"csrf": {vtok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer POST delete = %d, want 403", res.StatusCode)
	}
	if _, err := l.core.Node(context.Background(), id); err != nil {
		t.Errorf("node gone after a refused delete: %v", err)
	}
}

func TestTagFormShowsRuleErrorsAtTheField(t *testing.T) {
	l := newLab(t)
	id := l.register("52:54:00:aa:00:02", "", map[string]string{"is_virtual": "true", "processorcount": "4"})
	b := l.browser()
	b.signIn(adminToken)
	tok := b.csrf("/ui/tags")
	res, body := b.do("POST", "/ui/tags", url.Values{"csrf": {tok}, "name": {"vm4"}, "rule": {`["=", ["fact", "is_virtual"]`}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `aria-invalid="true" aria-describedby="tag-error"`) || !strings.Contains(body, "not JSON") {
		t.Errorf("create tag with broken JSON = %d, want 400 with the error at the rule field", res.StatusCode)
	}
	res, body = b.do("POST", "/ui/tags", url.Values{"csrf": {tok}, "name": {"vm4"}, "rule": {`["frobnicate", 1]`}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `data-field="rule`) {
		t.Errorf("create tag with an unknown operator = %d, want 400 naming the rule field; body has error: %v", res.StatusCode, strings.Contains(body, "tag-error"))
	}
	if tags, _ := l.core.Tags(context.Background()); len(tags) != 0 {
		t.Fatalf("refused tags were stored: %v", tags)
	}
	res, _ = b.do("POST", "/ui/tags", url.Values{"csrf": {tok}, "name": {"vm4"}, "rule": {`["and", ["=", ["fact", "is_virtual"], "true"], [">=", ["num", ["fact", "processorcount"]], 4]]`}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create a good tag = %d", res.StatusCode)
	}
	n, _ := l.core.Node(context.Background(), id)
	if !strings.Contains(strings.Join(n.Tags, ","), "vm4") {
		t.Errorf("node tags after creating vm4 = %v, want vm4", n.Tags)
	}
	_, body = b.do("GET", "/ui/tags/vm4", nil)
	if !strings.Contains(body, `href="/ui/nodes/`+id+`"`) {
		t.Errorf("the tag page does not list matching node %s", id)
	}
}

func TestNodesSearch(t *testing.T) {
	l := newLab(t)
	a := l.register("52:54:00:aa:00:03", "8d3c5a9e-2f1b-4c7d-9e6a-0b1c2d3e4f50", map[string]string{"serialnumber": "SER-777", "productname": "Rack 2U"})
	other := l.register("52:54:00:aa:00:04", "", map[string]string{"serialnumber": "SER-888"})
	b := l.browser()
	b.signIn(adminToken)
	for _, q := range []string{"52:54:00:AA:00:03", "525400aa0003", "52-54-00-aa-00-03", "5254.00aa.0003", "8D3C5A9E-2F1B-4C7D-9E6A-0B1C2D3E4F50", "SER-777", a} {
		_, body := b.do("GET", "/ui/nodes?q="+url.QueryEscape(q), nil)
		if !strings.Contains(body, `data-node="`+a+`"`) || strings.Contains(body, `data-node="`+other+`"`) {
			t.Errorf("search %q: want node %s only", q, a)
		}
	}
	_, body := b.do("GET", "/ui/nodes", nil)
	if !strings.Contains(body, "SER-777") || !strings.Contains(body, "Rack 2U") {
		t.Errorf("node table lacks serial and product")
	}
}

func TestLiveStreamSaysWhenTheFleetChanges(t *testing.T) {
	l := newLab(t)
	b := l.browser()
	b.signIn(adminToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", l.srv.URL+"/ui/live", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("live Content-Type = %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	want := "event: hello"
	for sc.Scan() {
		if sc.Text() == want {
			if want == "event: change" {
				return
			}
			l.register("52:54:00:aa:00:05", "", map[string]string{"a": "b"})
			want = "event: change"
		}
	}
	t.Fatalf("no %q on the live stream after a registration: %v", want, sc.Err())
}

func TestPolicyFormsToggleAndReorder(t *testing.T) {
	l := newLab(t)
	id := l.register("52:54:00:aa:00:09", "", map[string]string{"is_virtual": "true", "virtual": "kvm"})
	b := l.browser()
	b.signIn(adminToken)
	tok := b.csrf("/ui/policies")
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {tok}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	// A bad field is shown at the field and nothing is stored.
	res, body := b.do("POST", "/ui/policies", form("name", "install", "order", "ten", "kind", "local", "enabled", "on"))
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="p-order" name="order" value="0" inputmode="numeric" aria-invalid="true"`) {
		t.Errorf("create with order=ten = %d, want 400 with the error at the order field", res.StatusCode)
	}
	res, body = b.do("POST", "/ui/policies", form("name", "install", "order", "5", "kind", "kernel", "enabled", "on"))
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `data-field="target.kernel"`) {
		t.Errorf("create a kernel target without a kernel = %d, want 400 naming target.kernel", res.StatusCode)
	}
	if ps, _ := l.core.Policies(context.Background()); len(ps) != 0 {
		t.Fatalf("refused policies were stored: %v", ps)
	}
	for _, p := range []struct{ name, order string }{{"first", "10"}, {"second", "20"}} {
		if res, body := b.do("POST", "/ui/policies", form("name", p.name, "order", p.order, "kind", "local", "local", "exit", "enabled", "on", "tags", "kvm_vm")); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("create policy %s = %d %s", p.name, res.StatusCode, body)
		}
	}
	// Move "second" up: it now comes first.
	if res, _ := b.do("POST", "/ui/policies/second/move", form("dir", "up")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("move second up = %d", res.StatusCode)
	}
	ps, _ := l.core.Policies(context.Background())
	order := map[string]int{}
	for _, p := range ps {
		order[p.Name] = p.Order
	}
	if order["second"] >= order["first"] {
		t.Errorf("orders after moving second up = %v, want second before first", order)
	}
	// Disable one, and edit the other's target.
	if res, _ := b.do("POST", "/ui/policies/first/toggle", form()); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("toggle first = %d", res.StatusCode)
	}
	if p, _ := l.core.Policy(context.Background(), "first"); p.Enabled {
		t.Errorf("policy first still enabled after the toggle")
	}
	if res, body := b.do("POST", "/ui/policies/second", form("order", "1", "kind", "local", "local", "sanboot", "enabled", "on", "tags", "kvm_vm", "power_cycle", "on", "loaders", "ipxe, grub")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("update second = %d %s", res.StatusCode, body)
	}
	if _, body := b.do("GET", "/ui/policies/second", nil); !strings.Contains(body, `name="power_cycle" checked`) {
		t.Errorf("policy page after setting power_cycle: the box is not checked")
	}
	if _, body := b.do("GET", "/ui/policies/second", nil); !strings.Contains(body, `name="loaders" value="ipxe grub"`) {
		t.Errorf("policy page after setting loaders: the field does not hold them")
	}
	if p, _ := l.core.Policy(context.Background(), "second"); p.Target.Local != "sanboot" || p.Order != 1 || !p.Target.PowerCycle || len(p.Target.Loaders) != 2 {
		t.Errorf("policy second after the edit = %+v", p)
	}
	// The node (a VM) binds to the enabled policy at its next checkin.
	l.checkin("52:54:00:aa:00:09")
	if n, _ := l.core.Node(context.Background(), id); n.Policy != "second" {
		t.Errorf("node bound to %q, want second", n.Policy)
	}
	_, body = b.do("GET", "/ui/policies/second", nil)
	if !strings.Contains(body, `href="/ui/nodes/`+id+`"`) {
		t.Errorf("the policy page does not list its bound node")
	}
}
