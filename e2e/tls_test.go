package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/adminapi"
)

// The prod microkernel's agent over HTTPS: razor-netboot --tls auto, and
// the kernel command line its boot script would give (razor.server=https…
// razor.ca_sha256=<the CA's SHA-256>). The agent is told only the HTTPS
// port, and a pinned agent refuses plain HTTP, so a registration proves
// it checked in and registered over TLS, trusting the pinned CA.
func TestProdImageOverTLS(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	dir := buildImage(t, "images/prod.yaml")
	testlab.ProbeAccel(filepath.Join(dir, "vmlinuz"))
	port, tlsPort := testlab.FreePort(t), testlab.FreePort(t)
	srv := startServer(t, nil, fmt.Sprintf("127.0.0.1:%d", port), slirpHost, "--dhcp", "off", "--tftp", "off",
		"--tls", "auto", "--https-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort))
	caPEM, err := os.ReadFile(filepath.Join(srv.DataDir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ca.Raw)
	pin := hex.EncodeToString(sum[:])
	if !strings.Contains(srv.Proc.Output(), "ca_sha256="+pin) {
		t.Errorf("the server did not print the CA's SHA-256 at start:\n%s", srv.Proc.Output())
	}
	hw := vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:e2:e0:71", manufacturer: "Razor Test Inc.",
		product: "TLS Box", serial: "E2E-TLS-0001", uuid: "8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d5e71"}
	vm := testlab.StartVM(t, testlab.VMOptions{
		Name: "tls", CPUs: hw.cpus, Memory: hw.memMiB,
		Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd"),
		Append: imageCmdline(t, dir) + fmt.Sprintf(" razor.server=https://%s:%d razor.ca_sha256=%s", slirpHost, tlsPort, pin),
		NICs:   []testlab.NIC{{Netdev: "user", MAC: hw.mac}},
		SMBIOS: []string{hw.smbios()},
	})
	// A second machine is given the pin of another CA: it must refuse
	// the server's certificate and never register.
	wrong := sha256.Sum256([]byte("not the CA"))
	bad := vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:e2:e0:72", manufacturer: "Razor Test Inc.",
		product: "TLS Box", serial: "E2E-TLS-0002", uuid: "8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d5e72"}
	badVM := testlab.StartVM(t, testlab.VMOptions{
		Name: "tls-wrong-pin", CPUs: bad.cpus, Memory: bad.memMiB,
		Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd"),
		Append: imageCmdline(t, dir) + fmt.Sprintf(" razor.server=https://%s:%d razor.ca_sha256=%s", slirpHost, tlsPort, hex.EncodeToString(wrong[:])),
		NICs:   []testlab.NIC{{Netdev: "user", MAC: bad.mac}},
		SMBIOS: []string{bad.smbios()},
	})
	start := time.Now()
	n := srv.waitNode(t, vm, "registered over TLS with "+hw.mac, 5*time.Minute, func(n adminapi.Node) bool {
		return hasMAC(n, hw.mac) && len(n.Facts) > 0
	})
	t.Logf("node %s registered over TLS %v after power-on", n.ID, time.Since(start).Round(100*time.Millisecond))
	if l, _, err := badVM.WaitFor(t.Context(), 0, regexp.MustCompile(`does not chain to the pinned CA`), 3*time.Minute); err != nil {
		t.Errorf("the machine with the wrong pin did not report the refused certificate: %v", err)
	} else {
		t.Logf("wrong pin: %s", l.Text)
	}
	nodes, err := srv.Client.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if hasMAC(n, bad.mac) {
			t.Errorf("the machine with the wrong pin registered: %+v", n)
		}
	}
}
