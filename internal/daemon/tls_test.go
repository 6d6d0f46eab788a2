package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/razor-mk/razor-mk/server/tlscert"
	"github.com/razor-mk/razor-mk/wire"
)

// --tls auto: a CA and certificate in the data directory, the admin and
// node APIs over HTTPS on their own port, the boot script telling the
// microkernel the HTTPS URL and the CA's SHA-256 (which is the CA file's),
// plain HTTP still serving iPXE.
func TestTLSAuto(t *testing.T) {
	cfg := testConfig(t)
	writeTestImage(t, cfg)
	cfg.AdvertiseIP, cfg.TLS, cfg.HTTPSAddr = "127.0.0.1", "auto", "127.0.0.1:0"
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)

	caPEM, err := os.ReadFile(filepath.Join(cfg.DataDir, TLSDir, tlscert.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pin := tlscert.Fingerprint(ca.Raw)
	if d.CASHA256() != pin || !strings.HasPrefix(d.SecureURL(), "https://127.0.0.1:") {
		t.Fatalf("CASHA256() = %q, SecureURL() = %q; want %q and https://127.0.0.1:PORT", d.CASHA256(), d.SecureURL(), pin)
	}

	// The boot script, over plain HTTP, points the agent at HTTPS with the pin.
	resp, err := http.Get(d.URL() + "/boot.ipxe?mac=52:54:00:aa:bb:cc")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(script), "razor.server="+d.SecureURL()+" razor.ca_sha256="+pin+" ") {
		t.Fatalf("boot script lacks the HTTPS server and the pin:\n%s", script)
	}
	token := ""
	for _, f := range strings.Fields(string(script)) {
		if v, ok := strings.CutPrefix(f, "razor.token="); ok {
			token = v
		}
	}

	// A client trusting only that CA reaches the node and admin APIs.
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err = client.Get(d.SecureURL() + wire.DefaultCheckinPath + "?hw_id=525400AABBCC&first_checkin=true&token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, _, err := wire.ParseReply(body)
	if err != nil || r.Command() != wire.Register || r.ClientConfig == nil || r.ClientConfig.URI != d.SecureURL() {
		t.Errorf("checkin over HTTPS = %s; want register with mk_uri %s", body, d.SecureURL())
	}
	if st := resp.TLS; st == nil || len(st.PeerCertificates) < 2 || tlscert.Fingerprint(st.PeerCertificates[len(st.PeerCertificates)-1].Raw) != pin {
		t.Errorf("the server does not present the CA in its chain (the agent needs it to check the pin)")
	}
	tok, _ := os.ReadFile(filepath.Join(cfg.DataDir, TokenFile))
	req, _ := http.NewRequest("GET", d.SecureURL()+"/api/v1/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err = client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("admin API over HTTPS = %v, %v", resp, err)
	}
	resp.Body.Close()
	// A client that does not trust the CA is refused.
	if _, err := http.Get(d.SecureURL() + "/healthz"); err == nil {
		t.Error("HTTPS accepted by a client without the CA")
	}

	// Restarted: the same CA, so booted nodes' pins stay valid.
	d.Close()
	cancel()
	d2, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if d2.CASHA256() != pin {
		t.Errorf("CA changed across a restart")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad mode", func(c *Config) { c.TLS = "on" }, "tls:"},
		{"auto and cert", func(c *Config) { c.TLS, c.TLSCert, c.TLSKey = "auto", "a", "b" }, "tls:"},
		{"cert without key", func(c *Config) { c.TLSCert = "a" }, "tls_key"},
		{"bad https addr", func(c *Config) { c.TLS, c.HTTPSAddr = "auto", "8443" }, "https_addr"},
	} {
		c := testConfig(t)
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %s", tc.name, err, tc.want)
		}
	}
	// An operator's files that do not load: Open fails naming TLS.
	c := testConfig(t)
	c.TLSCert, c.TLSKey, c.HTTPSAddr = filepath.Join(t.TempDir(), "none.pem"), filepath.Join(t.TempDir(), "none-key.pem"), "127.0.0.1:0"
	if _, err := Open(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("Open with missing certificate files = %v", err)
	}
}

// The dashboard signs in with the same tokens as the admin API: the first
// admin token, or a stored one with its role and name; revoked refused.
func TestDashboardTokens(t *testing.T) {
	d, err := Open(context.Background(), testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	_, secret, err := d.core.CreateAdminToken(ctx, "ops", "operator")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok, role, name string
		ok              bool
	}{
		{d.token, "admin", TokenFile, true},
		{secret, "operator", "ops", true},
		{"rzt_unknown", "", "", false},
		{"", "", "", false},
	} {
		role, name, ok := d.authenticateUI(tc.tok)
		if string(role) != tc.role || name != tc.name || ok != tc.ok {
			t.Errorf("authenticateUI(%.8s…) = %q %q %v, want %q %q %v", tc.tok, role, name, ok, tc.role, tc.name, tc.ok)
		}
	}
	if _, err := d.core.RevokeAdminToken(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := d.authenticateUI(secret); ok {
		t.Error("a revoked token signs in to the dashboard")
	}
}
