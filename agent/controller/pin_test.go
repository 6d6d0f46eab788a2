package controller

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/wire"
)

func wireCheckin(token string) wire.CheckinRequest {
	return wire.CheckinRequest{HWID: "525400123456", LastState: "idle", Token: token}
}

// testCA is a CA with the means to sign server certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{c, key}
}

func (ca testCA) pin() string {
	s := sha256.Sum256(ca.cert.Raw)
	return hex.EncodeToString(s[:])
}

// serverCert signs a certificate for ips; withCA puts the CA in the chain.
func (ca testCA) serverCert(t *testing.T, withCA bool, ips ...net.IP) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: ips}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if withCA {
		chain = append(chain, ca.cert.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key}
}

func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestPinnedClient(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	lo := net.ParseIP("127.0.0.1")
	for _, tc := range []struct {
		name    string
		cert    tls.Certificate
		pin     string
		wantErr error
	}{
		{"chains to the pinned CA", ca.serverCert(t, true, lo), ca.pin(), nil},
		{"another CA", other.serverCert(t, true, lo), ca.pin(), ErrNotPinned},
		{"pinned CA not presented", ca.serverCert(t, false, lo), ca.pin(), ErrNotPinned},
		{"certificate for another address", ca.serverCert(t, true, net.ParseIP("192.0.2.1")), ca.pin(), ErrNotPinned},
		{"pin of the server certificate, not a CA", ca.serverCert(t, true, lo), "", ErrNotPinned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tlsServer(t, tc.cert)
			pin := tc.pin
			if pin == "" {
				s := sha256.Sum256(tc.cert.Certificate[0])
				pin = hex.EncodeToString(s[:])
			}
			c, err := PinnedClient(pin)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Get(srv.URL)
			if resp != nil {
				resp.Body.Close()
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("GET = %v, want %v", err, tc.wantErr)
			}
		})
	}
	for _, bad := range []string{"", "abc", "zz" + ca.pin()[2:], ca.pin() + "00"} {
		if _, err := PinnedClient(bad); !errors.Is(err, ErrBadPin) {
			t.Errorf("PinnedClient(%q) = %v, want ErrBadPin", bad, err)
		}
	}
	// Upper-case hex is the same pin.
	if _, err := ParsePin(" " + hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + " "); err != nil {
		t.Errorf("ParsePin with spaces = %v", err)
	}
}

// A pinned agent refuses a plain-HTTP server (from DHCP, DNS, a stale
// config) instead of falling back to it.
func TestPinnedRefusesPlainHTTP(t *testing.T) {
	ca := newTestCA(t)
	c, err := New(Options{Config: testConfig(), CASHA256: ca.pin(),
		Discover: func(context.Context) (discover.Server, error) {
			return discover.ParseServer("http://192.0.2.10:8026", false)
		},
		Identity: func() (Identity, error) { return Identity{HWID: "525400123456"}, nil },
		Facts:    func(context.Context) (map[string]string, error) { return map[string]string{"a": "b"}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ensureServer(t.Context()); !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("ensureServer(http) = %v, want ErrPlainHTTP", err)
	}
	if _, err := New(Options{Config: testConfig(), CASHA256: "nope",
		Discover: func(context.Context) (discover.Server, error) { return discover.Server{}, nil },
		Identity: func() (Identity, error) { return Identity{}, nil },
		Facts:    func(context.Context) (map[string]string, error) { return nil, nil },
	}); !errors.Is(err, ErrBadPin) {
		t.Errorf("New with a bad pin = %v, want ErrBadPin", err)
	}
}

// The boot token rides in the checkin query: a failed request's error
// (which is logged and shown in /status) must not carry it.
func TestTokenNotInErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	c, err := New(Options{Config: testConfig(), Token: "secret-boot-token",
		Discover: func(context.Context) (discover.Server, error) { return discover.ParseServer("http://"+addr, false) },
		Identity: func() (Identity, error) { return Identity{HWID: "525400123456"}, nil },
		Facts:    func(context.Context) (map[string]string, error) { return map[string]string{"a": "b"}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := c.ensureServer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.checkin(t.Context(), srv, wireCheckin("secret-boot-token"))
	if err == nil || strings.Contains(err.Error(), "secret-boot-token") || !strings.Contains(err.Error(), addr) {
		t.Errorf("checkin error = %v; want one naming the server, not the token", err)
	}
}
