package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/wire"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	c := DefaultConfig()
	c.DataDir, c.HTTPAddr, c.DHCP, c.TFTP, c.AdvertiseIP = filepath.Join(dir, "data"), "127.0.0.1:0", "off", "off", "192.0.2.5"
	c.Store = "sqlite:" + filepath.Join(c.DataDir, "razor.db")
	c.ImagesDir = filepath.Join(c.DataDir, "images")
	return c
}

func TestAdminTokenCreatedOnceAndKept(t *testing.T) {
	cfg := testConfig(t)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	tok, err := adminToken(cfg)
	if err != nil || len(tok) != 48 {
		t.Fatalf("adminToken() = %q, %v; want 48 hex digits", tok, err)
	}
	st, _ := os.Stat(filepath.Join(cfg.DataDir, TokenFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode = %v, want 0600", st.Mode().Perm())
	}
	again, err := adminToken(cfg)
	if err != nil || again != tok {
		t.Errorf("adminToken() again = %q, %v; want the same %q", again, err, tok)
	}
	cfg.AdminToken = "given"
	if got, _ := adminToken(cfg); got != "given" {
		t.Errorf("adminToken(given) = %q", got)
	}
	cfg.AdminToken = ""
	os.WriteFile(filepath.Join(cfg.DataDir, TokenFile), []byte("\n"), 0o600)
	if _, err := adminToken(cfg); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("adminToken(empty file) = %v, want an error", err)
	}
}

func TestOpenRunShutdown(t *testing.T) {
	cfg := testConfig(t)
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !strings.HasPrefix(d.URL(), "http://192.0.2.5:") || strings.HasSuffix(d.URL(), ":0") {
		t.Errorf("URL() = %q, want the advertised IP and the real port", d.URL())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	resp, err := http.Get("http://" + d.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz = %v, %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + d.Addr().String() + "/images/none/vmlinuz")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /images/none/vmlinuz = %v, %v; want 404 from the image service", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil on cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// A failing service stops the others and is returned.
	d2, err := Open(context.Background(), testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	boom := func(context.Context) error { return os.ErrPermission }
	if err := d2.Run(context.Background(), boom); err != os.ErrPermission {
		t.Errorf("Run(failing service) = %v, want its error", err)
	}
}

func TestOpenBadStore(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store = "sqlite:" + filepath.Join(cfg.DataDir, "razor.db", "x", "y.db")
	os.MkdirAll(cfg.DataDir, 0o750)
	os.WriteFile(filepath.Join(cfg.DataDir, "razor.db"), []byte("not a directory"), 0o600)
	if _, err := Open(context.Background(), cfg, nil); err == nil {
		t.Errorf("Open(store under a file) = nil error")
	}
}

// The whole HTTP surface together: the microkernel script's kernel and
// initrd URLs are served by the image service, and the token on its
// command line lets the node check in.
func TestBootFlowOverHTTP(t *testing.T) {
	cfg := testConfig(t)
	writeTestImage(t, cfg)
	cfg.AdvertiseIP = "127.0.0.1"
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	code, script := get(d.URL() + "/boot.ipxe?mac=52:54:00:aa:bb:cc&platform=pcbios")
	if code != 200 {
		t.Fatalf("boot.ipxe = %d %s", code, script)
	}
	var kernel, initrd, token string
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "kernel":
			kernel = f[1]
			for _, a := range f {
				if v, ok := strings.CutPrefix(a, "razor.token="); ok {
					token = v
				}
			}
		case len(f) > 1 && f[0] == "initrd":
			initrd = f[1]
		}
	}
	for u, want := range map[string]string{kernel: "kernel bytes", initrd: "initrd bytes"} {
		if code, body := get(u); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want %q", u, code, body, want)
		}
	}
	if token == "" || !strings.Contains(script, "razor.server="+d.URL()) {
		t.Fatalf("script lacks razor.server= or razor.token=:\n%s", script)
	}
	if want := fmt.Sprintf("razor.checkin_skew=%d", cfg.CheckinSkew); !strings.Contains(script, want) {
		t.Errorf("script lacks %s:\n%s", want, script)
	}
	code, body := get(d.URL() + wire.DefaultCheckinPath + "?hw_id=525400AABBCC&first_checkin=true&token=" + token)
	if r, _, err := wire.ParseReply([]byte(body)); code != 200 || err != nil || r.Command() != wire.Register {
		t.Errorf("checkin with the script's token = %d %s", code, body)
	}
	if code, _ := get(d.URL() + wire.DefaultCheckinPath + "?hw_id=525400AABBCC&token=x" + token); code != 403 {
		t.Errorf("checkin with another token = %d, want 403", code)
	}
}

// writeTestImage installs a microkernel image "mk" in cfg's images
// directory.
func writeTestImage(t *testing.T, cfg Config) {
	t.Helper()
	img := filepath.Join(cfg.ImagesDir, "mk")
	os.MkdirAll(img, 0o755)
	files := map[string]string{"vmlinuz": "kernel bytes", "initrd": "initrd bytes"}
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Name: "mk", Cmdline: "quiet"}
	for name, body := range files {
		p := filepath.Join(img, name)
		os.WriteFile(p, []byte(body), 0o644)
		sum, size, _ := manifest.HashFile(p)
		a := manifest.Artefact{Path: name, Size: size, SHA256: sum}
		if name == "vmlinuz" {
			m.Kernel = a
		} else {
			m.Initrd = a
		}
	}
	b, _ := m.Encode()
	os.WriteFile(filepath.Join(img, manifest.FileName), b, 0o644)
}

// UEFI HTTP boot: DHCP gives HTTPClient clients <server>/ipxe/<file>;
// the daemon serves it from the iPXE directory, confined to it.
func TestIPXEOverHTTP(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdvertiseIP = "127.0.0.1" // d.URL() is dialled: loopback only
	cfg.IPXEDir = filepath.Join(t.TempDir(), "ipxe")
	if err := os.MkdirAll(cfg.IPXEDir, 0o755); err != nil {
		t.Fatal(err)
	}
	loader := []byte("MZ\x90\x00 snponly.efi stand-in")
	if err := os.WriteFile(filepath.Join(cfg.IPXEDir, "snponly.efi"), loader, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg.IPXEDir), "secret"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(cfg.IPXEDir, "escape")); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(d.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := get("/ipxe/snponly.efi"); code != 200 || string(b) != string(loader) {
		t.Errorf("GET /ipxe/snponly.efi = %d, %q; want 200 and the file", code, b)
	}
	for _, p := range []string{"/ipxe/escape", "/ipxe/../secret", "/ipxe/%2e%2e/secret", "/ipxe/missing.efi"} {
		if code, b := get(p); code == 200 || strings.Contains(string(b), "outside") {
			t.Errorf("GET %s = %d %q, want a refusal", p, code, b)
		}
	}
}
