package testlab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RequireNetns skips t unless this process can create network namespaces
// and tap devices (root, iproute2, /dev/net/tun).
func RequireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and taps")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun for tap devices")
	}
}

var nsSeq atomic.Int32

// TestNetns is a network namespace created for one test: a Netns whose
// failures end the test instead of returning errors.
type TestNetns struct {
	*Netns
	t testing.TB
}

// NewNetns creates a namespace with its loopback up; t.Cleanup kills every
// process left in it and deletes it.
func NewNetns(t testing.TB, prefix string) *TestNetns {
	t.Helper()
	RequireNetns(t)
	ns, err := OpenNetns(fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nsSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Log(err)
		}
	})
	return &TestNetns{Netns: ns, t: t}
}

// MustIP is IP that fails the test on error.
func (n *TestNetns) MustIP(args ...string) {
	n.t.Helper()
	if err := n.IP(args...); err != nil {
		n.t.Fatal(err)
	}
}

// AddBridge creates a bridge with the given address (CIDR) and brings it
// up, forwarding as soon as a port is up.
func (n *TestNetns) AddBridge(name, cidr string) {
	n.t.Helper()
	if err := n.Netns.AddBridge(name, cidr); err != nil {
		n.t.Fatal(err)
	}
}

// AddTap creates a tap device enslaved to bridge and brings it up.
func (n *TestNetns) AddTap(name, bridge string) {
	n.t.Helper()
	if bridge == "" {
		n.MustIP("tuntap", "add", "dev", name, "mode", "tap")
		n.MustIP("link", "set", name, "up")
		return
	}
	if err := n.Netns.AddTap(name, bridge); err != nil {
		n.t.Fatal(err)
	}
}

// Start runs cmd in the background, its output read line by line;
// t.Cleanup stops it (SIGTERM, then SIGKILL) and logs its output if the
// test failed.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p, err := StartProc(name, cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	return p
}

// StartVM starts QEMU and registers its teardown with t.Cleanup; on test
// failure the console is attached to the test output. It skips t when
// QEMU or (for UEFI) OVMF is not installed.
func StartVM(t testing.TB, cfg VMOptions) *VM {
	t.Helper()
	if _, err := exec.LookPath(cfg.qemu()); err != nil {
		t.Skipf("%s not installed (make deps installs qemu-system-x86 and qemu-system-arm)", cfg.qemu())
	}
	if _, err := os.Stat(cfg.varsTemplate()); cfg.uefi() && err != nil {
		t.Skipf("UEFI firmware not installed (make deps installs ovmf and qemu-efi-aarch64): %v", err)
	}
	v, err := LaunchVM(cfg, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", v.Config.Name, strings.Join(v.Cmd.Args, " "))
	t.Cleanup(func() {
		v.Close()
		if t.Failed() {
			t.Logf("%s console (%s):\n%s", v.Config.Name, v.Config.Accel, v.Console())
		}
	})
	return v
}

// Veth creates a veth pair, end a in namespace na and end b in nb, each
// up with its address (CIDR, "" for none) and IPv6 duplicate address
// detection off so that link-local addresses are usable at once.
func Veth(t testing.TB, na *TestNetns, a, cidrA string, nb *TestNetns, b, cidrB string) {
	t.Helper()
	NoDAD(t, na)
	NoDAD(t, nb)
	na.MustIP("link", "add", a, "type", "veth", "peer", "name", b, "netns", nb.Name)
	for _, e := range []struct {
		ns   *TestNetns
		name string
		cidr string
	}{{na, a, cidrA}, {nb, b, cidrB}} {
		if e.cidr != "" {
			e.ns.MustIP("addr", "add", e.cidr, "dev", e.name)
		}
		e.ns.MustIP("link", "set", e.name, "up")
	}
}

// NoDAD turns IPv6 duplicate address detection off for interfaces
// created in ns from now on.
func NoDAD(t testing.TB, ns *TestNetns) {
	t.Helper()
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		if out, err := exec.Command("ip", "netns", "exec", ns.Name, "sysctl", "-qw", k).CombinedOutput(); err != nil {
			t.Fatalf("sysctl %s in %s: %v: %s", k, ns.Name, err, strings.TrimSpace(string(out)))
		}
	}
}

// Require skips t unless namespaces, root and the named programs exist.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	RequireNetns(t)
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s (installed by scripts/deps.sh): %v", p, err)
		}
	}
}

// StartLLDPD runs Debian's lldpd in ns on iface as a switch would on a
// node's port, announcing hostname every second; t.Cleanup stops it. It
// skips t when lldpd is not installed.
func StartLLDPD(t testing.TB, ns *TestNetns, iface, hostname string, more ...[]string) {
	t.Helper()
	Require(t, "lldpd", "lldpcli")
	// lldpd's unprivileged half (user _lldpd) must reach its control
	// socket: a directory of its own that others may enter, not under
	// the test's private temporary directory.
	dir, err := os.MkdirTemp("", "lldpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := dir + "/lldpd.sock"
	// -d: foreground; -u: our own control socket; -I: only this port;
	// -M 4: a network device.
	Start(t, "lldpd", ns.Command("lldpd", "-d", "-u", sock, "-I", iface, "-M", "4"))
	cmds := append([][]string{{"configure", "system", "hostname", hostname}, {"configure", "lldp", "tx-interval", "1"}}, more...)
	for _, args := range cmds {
		var out []byte
		for range 50 { // lldpd needs a moment to open its socket
			if out, err = ns.Command("lldpcli", append([]string{"-u", sock}, args...)...).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("lldpcli %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}
