// Package tlscert provides the checkin server's TLS certificate: either
// the operator's (--tls-cert/--tls-key) or one made by the server itself
// (--tls auto): a private CA and a server certificate signed by it, kept
// in a directory and reused across restarts. Nodes pin the CA by the
// SHA-256 of its DER encoding (razor.ca_sha256= on the microkernel's
// command line), which Fingerprint computes.
package tlscert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names in the auto directory.
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	CertFile    = "server.pem"
	CertKeyFile = "server-key.pem"
)

// Lifetimes of what Auto makes. The server certificate is renewed when
// less than a third of its life remains or its names changed.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	CertLifetime = 2 * 365 * 24 * time.Hour
)

// ErrNoCA: a loaded chain holds no CA certificate to pin.
var ErrNoCA = errors.New("tlscert: the certificate file holds no CA certificate")

// Bundle is a server certificate ready to serve, with its chain's CA.
type Bundle struct {
	// Certificate is the server certificate, its chain (the CA last) and
	// its key.
	Certificate tls.Certificate
	// CA is the chain's last certificate, the one nodes pin; nil when the
	// operator's file holds only the leaf.
	CA *x509.Certificate
}

// CASHA256 is the pin of the bundle's CA ("" without one).
func (b Bundle) CASHA256() string {
	if b.CA == nil {
		return ""
	}
	return Fingerprint(b.CA.Raw)
}

// Fingerprint is the lower-case hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// Load reads the operator's certificate chain and key (PEM). The chain's
// last certificate, when it is a CA, is what nodes pin: include the CA in
// the file to let nodes pin it.
func Load(certFile, keyFile string) (Bundle, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return Bundle{}, fmt.Errorf("tlscert: %w", err)
	}
	b := Bundle{Certificate: c}
	last, err := x509.ParseCertificate(c.Certificate[len(c.Certificate)-1])
	if err != nil {
		return Bundle{}, fmt.Errorf("tlscert: %s: %w", certFile, err)
	}
	if len(c.Certificate) > 1 && last.IsCA {
		b.CA = last
	}
	return b, nil
}

// Auto returns the certificate kept in dir, making the CA on first use
// and the server certificate whenever it is missing, near its end, or
// lacks one of hosts (IP addresses or DNS names). Keys are ECDSA P-256,
// written with mode 0600.
func Auto(dir string, hosts []string, now time.Time) (Bundle, error) {
	if len(hosts) == 0 {
		return Bundle{}, errors.New("tlscert: auto: no host names")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Bundle{}, fmt.Errorf("tlscert: auto: %w", err)
	}
	ca, caKey, err := loadPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		ca, caKey, err = newCA(dir, now)
	}
	if err != nil {
		return Bundle{}, err
	}
	leaf, key, err := loadPair(filepath.Join(dir, CertFile), filepath.Join(dir, CertKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && !fresh(leaf, ca, hosts, now):
		leaf, key, err = newLeaf(dir, ca, caKey, hosts, now)
	}
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{Certificate: tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: key, Leaf: leaf}, CA: ca}, nil
}

// fresh reports whether leaf is signed by ca, names every host and has a
// third of its life left.
func fresh(leaf, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) < life/3 {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func newCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "razor-netboot CA " + now.UTC().Format("2006-01-02T15:04:05Z"), Organization: []string{"Razor MK"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return write(dir, CAFile, CAKeyFile, tmpl, tmpl, key, key)
}

func newLeaf(dir string, ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: server key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: server certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"Razor MK"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range slices.Compact(slices.Sorted(slices.Values(hosts))) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return write(dir, CertFile, CertKeyFile, tmpl, ca, key, caKey)
}

// write signs tmpl, writes certificate and key atomically, and returns
// the parsed certificate.
func write(dir, certName, keyName string, tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %s: %w", certName, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %s: %w", keyName, err)
	}
	if err := writeFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFile(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %s: %w", certName, err)
	}
	return c, key, nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("tlscert: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tlscert: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tlscert: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	return nil
}

// loadPair reads a PEM certificate and its PKCS#8 key; fs.ErrNotExist
// when either file is missing.
func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil || cp.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("tlscert: %s or %s: not PEM", certPath, keyPath)
	}
	c, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %s: %w", certPath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("tlscert: %s: not a signing key", keyPath)
	}
	if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(signer.Public()) {
		return nil, nil, fmt.Errorf("tlscert: %s does not match %s", keyPath, certPath)
	}
	return c, signer, nil
}
