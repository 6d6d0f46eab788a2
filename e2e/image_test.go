package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"golang.org/x/crypto/ssh"
)

// A VM under QEMU user networking reaches the host's loopback at 10.0.2.2.
const slirpHost = "10.0.2.2"

// vmFacts are the hardware a test VM is given, and what its facts must say.
type vmFacts struct {
	cpus         int
	memMiB       int
	mac          string
	manufacturer string
	product      string
	serial       string
	uuid         string
}

func (f vmFacts) smbios() string {
	return fmt.Sprintf("type=1,manufacturer=%s,product=%s,serial=%s,uuid=%s", f.manufacturer, f.product, f.serial, f.uuid)
}

// checkFacts compares a registered node's facts with the VM's hardware.
func checkFacts(t *testing.T, n adminapi.Node, hw vmFacts) {
	t.Helper()
	f := n.Facts
	want := map[string]string{
		"processorcount": strconv.Itoa(hw.cpus),
		"manufacturer":   hw.manufacturer,
		"productname":    hw.product,
		"serialnumber":   hw.serial,
		"uuid":           strings.ToUpper(hw.uuid),
		"macaddress":     strings.ToUpper(hw.mac),
		"is_virtual":     "true",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("fact %s = %q, want %q", k, f[k], v)
		}
	}
	// The kernel sees a little less than -m (firmware and the kernel keep
	// some); the SMBIOS memory devices say exactly -m.
	mb, err := strconv.ParseFloat(f["memorysize_mb"], 64)
	if err != nil || mb > float64(hw.memMiB) || mb < float64(hw.memMiB)*0.75 {
		t.Errorf("fact memorysize_mb = %q, want a little under %d", f["memorysize_mb"], hw.memMiB)
	}
	if want := fmt.Sprintf("%dMiB", hw.memMiB); f["mk_hw_mem_size"] != want {
		t.Errorf("fact mk_hw_mem_size = %q, want %q", f["mk_hw_mem_size"], want)
	}
	if !strings.EqualFold(n.UUID, hw.uuid) {
		t.Errorf("node uuid = %q, want %q", n.UUID, hw.uuid)
	}
	if !hasMAC(n, hw.mac) {
		t.Errorf("node MACs = %v, want %s among them", n.MACs, hw.mac)
	}
}

// bootImage boots dir's kernel and initrd with user networking against a
// checkin server on the host's loopback, and waits for the node to
// register. It returns the VM, the server and the node.
func bootImage(t *testing.T, dir string, hw vmFacts, hostfwd string) (*testlab.VM, *server, adminapi.Node) {
	t.Helper()
	port := testlab.FreePort(t)
	srv := startServer(t, nil, fmt.Sprintf("127.0.0.1:%d", port), slirpHost, "--dhcp", "off", "--tftp", "off")
	netdev := "user"
	if hostfwd != "" {
		netdev += ",hostfwd=" + hostfwd
	}
	vm := testlab.StartVM(t, testlab.VMOptions{
		Name:   filepath.Base(dir),
		CPUs:   hw.cpus,
		Memory: hw.memMiB,
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initrd"),
		// The image's own command line, then what the server's boot
		// script would add.
		Append: imageCmdline(t, dir) + fmt.Sprintf(" razor.server=http://%s:%d", slirpHost, port),
		NICs:   []testlab.NIC{{Netdev: netdev, MAC: hw.mac}},
		SMBIOS: []string{hw.smbios()},
	})
	start := time.Now()
	n := srv.waitNode(t, vm, "registered with "+hw.mac, 5*time.Minute, func(n adminapi.Node) bool {
		return hasMAC(n, hw.mac) && len(n.Facts) > 0
	})
	t.Logf("node %s registered %v after power-on (%s, %s)", n.ID, time.Since(start).Round(100*time.Millisecond), testlab.Accel(), testlab.AccelReason())
	return vm, srv, n
}

func TestProdImageBootsAndRegisters(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	dir := buildImage(t, "images/prod.yaml")
	testlab.ProbeAccel(filepath.Join(dir, "vmlinuz"))
	hw := vmFacts{cpus: 2, memMiB: 512, mac: "52:54:00:e2:e0:01", manufacturer: "Razor Test Inc.",
		product: "E2E Box", serial: "E2E-PROD-0001", uuid: "8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d5e01"}
	vm, _, n := bootImage(t, dir, hw, "")
	checkFacts(t, n, hw)
	// The prod console never offers a shell.
	for _, l := range vm.Lines() {
		if strings.Contains(l.Text, "login:") || strings.Contains(l.Text, "Please press Enter to activate") {
			t.Errorf("prod console offers a login or shell: %q", l.Text)
		}
	}
}

func TestDevImageBootsRegistersAndTakesSSH(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519.pub")
	if err := os.WriteFile(keyFile, ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := buildImage(t, "images/dev.yaml", "--authorized-keys", keyFile)
	testlab.ProbeAccel(filepath.Join(dir, "vmlinuz"))
	sshPort := testlab.FreePort(t)
	hw := vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:e2:e0:02", manufacturer: "Razor Test Inc.",
		product: "E2E Dev Box", serial: "E2E-DEV-0002", uuid: "8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d5e02"}
	_, _, n := bootImage(t, dir, hw, fmt.Sprintf("tcp:127.0.0.1:%d-:22", sshPort))
	checkFacts(t, n, hw)

	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sshPort)
	out := sshRun(t, addr, signer, "cat /proc/sys/kernel/hostname; ls /sys/class/net")
	wantHost := "mk" + strings.ReplaceAll(hw.mac, ":", "")
	if !strings.Contains(out, wantHost) || !strings.Contains(out, "eth0") {
		t.Errorf("ssh output = %q, want the hostname %s and eth0", out, wantHost)
	}

	// A key the image does not hold is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	if c, err := sshDial(addr, otherSigner); err == nil {
		c.Close()
		t.Error("ssh with an unknown key succeeded, want refused")
	}
}

func sshDial(addr string, signer ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // a fresh per-boot host key
		Timeout:         20 * time.Second,
	})
}

// sshRun runs cmd over SSH, retrying the connection while the guest's
// server comes up behind QEMU's forward.
func sshRun(t *testing.T, addr string, signer ssh.Signer, cmd string) string {
	t.Helper()
	var lastErr error
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		c, err := sshDial(addr, signer)
		if err != nil {
			lastErr = err
			time.Sleep(time.Second)
			continue
		}
		defer c.Close()
		s, err := c.NewSession()
		if err != nil {
			t.Fatalf("ssh session: %v", err)
		}
		defer s.Close()
		out, err := s.CombinedOutput(cmd)
		if err != nil {
			t.Fatalf("ssh %q: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	t.Fatalf("ssh %s: %v", addr, lastErr)
	return ""
}
