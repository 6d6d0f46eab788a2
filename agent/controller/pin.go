package controller

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Errors of a pinned connection.
var (
	// ErrBadPin: razor.ca_sha256= is not 64 hex digits.
	ErrBadPin = errors.New("controller: razor.ca_sha256 must be 64 hex digits")
	// ErrNotPinned: the server's chain does not lead to the pinned CA.
	ErrNotPinned = errors.New("controller: server certificate does not chain to the pinned CA")
	// ErrPlainHTTP: a pinned agent was given a plain-HTTP server.
	ErrPlainHTTP = errors.New("controller: pinned to a CA: refusing a plain-HTTP server")
)

// ParsePin checks a razor.ca_sha256= value and returns it lower-case.
func ParsePin(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w, got %q", ErrBadPin, s)
	}
	return s, nil
}

// PinnedClient returns an HTTP client that speaks HTTPS only and accepts a
// server whose certificate chains, for the name dialled, to the CA whose
// DER certificate has SHA-256 pin. The server sends that CA in its chain
// (razor-netboot does); the agent needs no CA file, only the pin from the
// kernel command line.
func PinnedClient(pin string) (*http.Client, error) {
	pin, err := ParsePin(pin)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	// The name to verify is the host dialled; tls.ConnectionState does
	// not carry it for an IP address (no SNI), so each dial makes its
	// own config.
	dialTLS := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		raw, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, &tls.Config{
			MinVersion: tls.VersionTLS12,
			ServerName: host,
			// Verification is VerifyConnection's: the roots are the
			// pinned CA, not the system's.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				return verifyPinned(cs, pin, host)
			},
		})
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := conn.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			DialTLSContext:      dialTLS,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        2,
			IdleConnTimeout:     90 * time.Second,
		},
		// Never follow a redirect to plain HTTP.
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Scheme != "https" {
				return ErrPlainHTTP
			}
			return nil
		},
	}, nil
}

func verifyPinned(cs tls.ConnectionState, pin, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return ErrNotPinned
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	found := false
	for _, c := range cs.PeerCertificates[1:] {
		sum := sha256.Sum256(c.Raw)
		if hex.EncodeToString(sum[:]) == pin && c.IsCA {
			roots.AddCert(c)
			found = true
		} else {
			inter.AddCert(c)
		}
	}
	if !found {
		return fmt.Errorf("%w: the server did not present it", ErrNotPinned)
	}
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: host,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("%w: %v", ErrNotPinned, err)
	}
	return nil
}
