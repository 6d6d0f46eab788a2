package webui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (scripts/deps.sh installs it).
func chromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("needs chromium (scripts/deps.sh installs Debian's chromium)")
	return ""
}

// The dashboard in a real browser: sign-in, live node table, node page
// with facts and timeline, a reboot queued from the page and seen
// delivered, a tag created in the page with its rule error shown, and a
// request without the CSRF token refused. Screenshots of each page go to
// the test's artefact directory, and to $RAZOR_UI_SCREENSHOTS if set
// (the README's pictures come from there).
func TestDashboardInChromium(t *testing.T) {
	exe := chromium(t)
	l := newLab(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("headless", "new"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	defer cancelT()
	// Accept the confirmation dialogs the action buttons open.
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	shots := []string{t.ArtifactDir()}
	if d := os.Getenv("RAZOR_UI_SCREENSHOTS"); d != "" {
		shots = append(shots, d)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			for _, d := range shots {
				if err := os.WriteFile(filepath.Join(d, "ui-"+name+".png"), png, 0o644); err != nil {
					return err
				}
			}
			return nil
		})
	}
	fail := func(step string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (at %s)", step, err, loc)
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(step, err)
		}
	}
	get := func(step string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			fail(step, err)
		}
		return v
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	base := l.srv.URL

	// A wrong token is refused; the right one signs in.
	do("wrong token",
		chromedp.Navigate(base+"/ui/nodes"),
		chromedp.WaitVisible(css(`#token`)),
		chromedp.SendKeys(css(`#token`), "not-the-token"),
		chromedp.Submit(css(`#token`)),
		chromedp.WaitVisible(css(`#token-error`)),
		shot("login"),
	)
	if msg := get("error text", chromedp.Text(css(`#token-error`))); !strings.Contains(msg, "not valid") {
		t.Errorf("sign-in error = %q", msg)
	}
	do("sign in",
		chromedp.SendKeys(css(`#token`), adminToken),
		chromedp.Submit(css(`#token`)),
		chromedp.WaitVisible(css(`form.filters`)),
		chromedp.Evaluate[chromedp.Void](`window.__stay = "same page"`),
	)
	// The live stream is connected once the page has said hello.
	do("live on", chromedp.Poll[chromedp.Void](`document.body.dataset.live === "on"`, chromedp.WithPollingTimeout(10*time.Second)))

	// A node registering appears in the open table without a reload.
	id := l.register("52:54:00:bb:00:01", "8d3c5a9e-2f1b-4c7d-9e6a-0b1c2d3e4f51", map[string]string{
		"serialnumber": "SER-4242", "productname": "PowerEdge R650", "manufacturer": "Dell Inc.",
		"processorcount": "4", "memorysize_mb": "8192", "ipaddress_eth0": "10.1.2.3", "macaddress_eth0": "52:54:00:bb:00:01",
		"blockdevice_sda_size": "500107862016", "is_virtual": "false",
	})
	do("live row", chromedp.WaitVisible(css(fmt.Sprintf(`tr[data-node=%q]`, id))), shot("nodes"))
	if marker := get("marker", chromedp.Evaluate[string](`window.__stay || "reloaded"`)); marker != "same page" {
		t.Errorf("the node appeared after a reload, want a live update")
	}
	if rows := get("rows", chromedp.Text(css(`table.nodes tbody`))); !strings.Contains(rows, "SER-4242") || !strings.Contains(rows, "10.1.2.3") || !strings.Contains(rows, "PowerEdge R650") {
		t.Errorf("node row = %q, want serial, IP and product", rows)
	}

	// Its page shows facts by family and the timeline; a reboot queued
	// from the page is delivered at the next checkin, and the page shows
	// that without a reload.
	do("node page",
		chromedp.Click(css(fmt.Sprintf(`a[href="/ui/nodes/%s"]`, id))),
		chromedp.WaitVisible(css(`#node-timeline`)),
	)
	facts := get("facts", chromedp.Text(css(`main`)))
	for _, want := range []string{"CPU", "Memory", "Disks", "NICs", "System", "SER-4242", "registered"} {
		if !strings.Contains(facts, want) {
			t.Errorf("node page lacks %q", want)
		}
	}
	do("reboot", chromedp.Click(css(`form[action$="/command"] button`)), chromedp.WaitVisible(css(`.flash`)))
	if pending := get("pending", chromedp.Text(css(`#pending`))); !strings.Contains(pending, "reboot") {
		t.Errorf("pending commands = %q, want reboot", pending)
	}
	do("mark node page",
		chromedp.Evaluate[chromedp.Void](`window.__stay = "node page"`),
		chromedp.Poll[chromedp.Void](`document.body.dataset.live === "on"`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if got := l.checkin("52:54:00:bb:00:01"); got != "reboot" {
		t.Fatalf("checkin after the page's reboot = %s", got)
	}
	do("delivered live",
		chromedp.Poll[chromedp.Void](`document.getElementById("commands").textContent.includes("delivered")`, chromedp.WithPollingTimeout(20*time.Second)),
		shot("node"),
	)
	if marker := get("marker", chromedp.Evaluate[string](`window.__stay || "reloaded"`)); marker != "node page" {
		t.Errorf("the delivery showed after a reload, want a live update")
	}
	// The timeline is the node's recorded events, the delivery among
	// them as soon as it happened.
	do("events timeline", chromedp.Poll[chromedp.Void](`!!document.querySelector('#timeline li[data-type="command.delivered"]')`, chromedp.WithPollingTimeout(20*time.Second)))
	if tl := get("timeline", chromedp.Text(css(`#timeline`))); !strings.Contains(tl, "registered: 9 facts") || !strings.Contains(tl, "command reboot queued") {
		t.Errorf("node timeline = %q, want the registration and the queued reboot from the events", tl)
	}

	// A tag made in the page: a bad rule is refused at its field, a good
	// one matches the node.
	do("bad tag",
		chromedp.Navigate(base+"/ui/tags"),
		chromedp.SendKeys(css(`#tag-name`), "dell"),
		chromedp.SendKeys(css(`#tag-rule`), `["like", ["fact", "manufacturer"]]`),
		chromedp.Submit(css(`#tag-rule`)),
		chromedp.WaitVisible(css(`#tag-error`)),
		shot("tags"),
	)
	tagErr := get("tag error", chromedp.Text(css(`#tag-error`)))
	invalid, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`#tag-rule`), "aria-invalid"))
	if err != nil || invalid.Value != "true" || tagErr == "" {
		t.Errorf("bad rule: error %q, aria-invalid %+v (%v); want the error at the rule field", tagErr, invalid, err)
	}
	do("good tag",
		chromedp.SetValue(css(`#tag-rule`), `["like", ["fact", "manufacturer"], "Dell.*"]`),
		chromedp.Submit(css(`#tag-rule`)),
		chromedp.WaitVisible(css(`#tag-nodes`)),
	)
	if matching := get("matching", chromedp.Text(css(`#tag-nodes`))); !strings.Contains(matching, id) {
		t.Errorf("tag page lists %q, want node %s", matching, id)
	}

	// A state-changing request without the CSRF token is refused, even
	// from the dashboard's own page with its cookie.
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch("/ui/nodes/%s/command", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "name=poweroff"}).then(r => r.status)`, id), chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("POST without the CSRF token from the page = %d, %v; want 403", status, err)
	}
	do("fleet", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(css(`#fleet`)), shot("fleet"))
	do("policies", chromedp.Navigate(base+"/ui/policies"), chromedp.WaitVisible(css(`#p-name`)), shot("policies"))
	// A phone-width view still shows the table.
	do("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/ui/nodes"), chromedp.WaitVisible(css(`table.nodes`)), shot("nodes-phone"))
}
