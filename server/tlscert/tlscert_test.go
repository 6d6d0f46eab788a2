package tlscert

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestAuto(t *testing.T) {
	dir := t.TempDir()
	b, err := Auto(dir, []string{"192.0.2.10", "razor.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	pin := b.CASHA256()
	if len(pin) != 64 || b.CA == nil || !b.CA.IsCA {
		t.Fatalf("CA pin %q, CA %v", pin, b.CA)
	}
	// The leaf chains to the CA and names both hosts.
	roots := x509.NewCertPool()
	roots.AddCert(b.CA)
	for _, h := range []string{"192.0.2.10", "razor.example"} {
		if _, err := b.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: h, CurrentTime: now}); err != nil {
			t.Errorf("leaf for %s: %v", h, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode = %v, %v; want 0600", st.Mode(), err)
	}
	// Reused across restarts.
	again, err := Auto(dir, []string{"razor.example", "192.0.2.10"}, now.Add(time.Hour))
	if err != nil || again.CASHA256() != pin || Fingerprint(again.Certificate.Leaf.Raw) != Fingerprint(b.Certificate.Leaf.Raw) {
		t.Errorf("second Auto made new certificates: %v", err)
	}
	// A new address: a new leaf from the same CA.
	moved, err := Auto(dir, []string{"192.0.2.99"}, now.Add(2*time.Hour))
	if err != nil || moved.CASHA256() != pin || moved.Certificate.Leaf.VerifyHostname("192.0.2.99") != nil {
		t.Errorf("Auto after an address change: %v", err)
	}
	// Near its end: renewed.
	late := now.Add(CertLifetime - CertLifetime/4)
	renewed, err := Auto(dir, []string{"192.0.2.99"}, late)
	if err != nil || renewed.Certificate.Leaf.NotAfter.Before(late.Add(CertLifetime/2)) {
		t.Errorf("Auto near the end of the certificate: %v", err)
	}
	// A key that does not match its certificate is an error, not a new CA.
	os.WriteFile(filepath.Join(dir, CAKeyFile), mustRead(t, filepath.Join(dir, CertKeyFile)), 0o600)
	if _, err := Auto(dir, []string{"192.0.2.99"}, now); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Auto with a mismatched CA key = %v", err)
	}
	if _, err := Auto(t.TempDir(), nil, now); err == nil {
		t.Error("Auto without hosts succeeded")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	b, err := Auto(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "chain.pem")
	os.WriteFile(chain, append(mustRead(t, filepath.Join(dir, CertFile)), mustRead(t, filepath.Join(dir, CAFile))...), 0o644)
	l, err := Load(chain, filepath.Join(dir, CertKeyFile))
	if err != nil || l.CASHA256() != b.CASHA256() {
		t.Errorf("Load(chain) pin %q, %v; want %q", l.CASHA256(), err, b.CASHA256())
	}
	l, err = Load(filepath.Join(dir, CertFile), filepath.Join(dir, CertKeyFile))
	if err != nil || l.CA != nil {
		t.Errorf("Load(leaf only) CA %v, %v; want none", l.CA, err)
	}
	if _, err := Load(filepath.Join(dir, CAFile), filepath.Join(dir, CertKeyFile)); err == nil {
		t.Error("Load with a key of another certificate succeeded")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
