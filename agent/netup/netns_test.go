package netup

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/agent/leasefile"
	"github.com/razor-mk/razor-mk/internal/syncbuf"
)

// helperEnv, when set, makes the test binary (TestMain) run netup for real in
// the network namespace its parent put it in.
const helperEnv = "NETUP_HELPER_DIR"

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDHCPAgainstDnsmasq runs the real client (raw sockets, netlink)
// against dnsmasq across a veth pair between two network namespaces, with
// the Razor options 224/225/226 configured, and checks what the client
// configured.
func TestDHCPAgainstDnsmasq(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, bin := range []string{"ip", "dnsmasq"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (packages iproute2, dnsmasq-base): %v", bin, err)
		}
	}
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	srv, cli := "rznu-s"+id, "rznu-c"+id
	vs, vc := "rzs"+id, "rzc"+id
	dir := t.TempDir()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", srv).Run()
		exec.Command("ip", "netns", "del", cli).Run()
	})
	run(t, "ip", "netns", "add", srv)
	run(t, "ip", "netns", "add", cli)
	run(t, "ip", "link", "add", vs, "netns", srv, "type", "veth", "peer", "name", vc, "netns", cli)
	run(t, "ip", "-n", srv, "addr", "add", "10.231.7.1/24", "dev", vs)
	run(t, "ip", "-n", srv, "link", "set", vs, "up")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dnsmasq := exec.CommandContext(ctx, "ip", "netns", "exec", srv, "dnsmasq",
		"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--log-dhcp", "--log-facility=-",
		"--user=root", "--interface="+vs, "--bind-interfaces", "--no-ping",
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"),
		"--dhcp-range=10.231.7.50,10.231.7.60,255.255.255.0,1h",
		"--dhcp-option=3,10.231.7.1",
		"--dhcp-option=6,10.231.7.1,10.231.7.2",
		"--domain=razor.test",
		"--dhcp-option=224,10.231.7.9",
		"--dhcp-option=225,8150",
		"--dhcp-option=226,/razor/api",
		"--dhcp-boot=undionly.kpxe,,10.231.7.1",
	)
	var dlog syncbuf.Buffer
	dnsmasq.Stdout, dnsmasq.Stderr = &dlog, &dlog
	if err := dnsmasq.Start(); err != nil {
		t.Fatalf("starting dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		dnsmasq.Wait()
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", dlog.String())
		}
	})

	// dnsmasq logs its DHCP range once it listens; a DISCOVER sent before
	// that would only cost a retransmission.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(dlog.String(), "DHCP, IP range"); {
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq did not start:\n%s", dlog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.CommandContext(ctx, "ip", "netns", "exec", cli, self)
	child.Env = append(os.Environ(), helperEnv+"="+dir, "NETUP_HELPER_IFACE="+vc)
	start := time.Now()
	out, err := child.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HELPER-OK") {
		t.Fatalf("client in namespace: %v\n%s", err, out)
	}
	t.Logf("lease obtained and configured in %v", time.Since(start))

	addr := run(t, "ip", "-n", cli, "-4", "-o", "addr", "show", "dev", vc)
	if !strings.Contains(addr, "inet 10.231.7.") || !strings.Contains(addr, "/24") {
		t.Errorf("address on %s = %q, want one from 10.231.7.50-60/24", vc, addr)
	}
	if route := run(t, "ip", "-n", cli, "-4", "route", "show", "default"); !strings.Contains(route, "default via 10.231.7.1 dev "+vc) {
		t.Errorf("default route = %q, want via 10.231.7.1 dev %s", route, vc)
	}
	if lo := run(t, "ip", "-n", cli, "-o", "link", "show", "lo"); !strings.Contains(lo, "UP") {
		t.Errorf("loopback = %q, want it up", lo)
	}
	resolv, err := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# Written by mk-agent init from the DHCP lease on " + vc + ".\nsearch razor.test\nnameserver 10.231.7.1\nnameserver 10.231.7.2\n"
	if string(resolv) != want {
		t.Errorf("resolv.conf = %q, want %q", resolv, want)
	}
	leases, err := leasefile.ReadAll(filepath.Join(dir, "leases"))
	if err != nil || len(leases) != 1 {
		t.Fatalf("leasefile.ReadAll = %v, %v; want one lease", leases, err)
	}
	l := leases[0]
	pfx, err := netip.ParsePrefix(l.Address)
	if err != nil || !netip.MustParsePrefix("10.231.7.0/24").Contains(pfx.Addr()) || !strings.Contains(addr, l.Address) {
		t.Errorf("lease address = %q, want the configured address %q", l.Address, addr)
	}
	if l.Interface != vc || l.Gateway != "10.231.7.1" || l.ServerID != "10.231.7.1" || l.NextServer != "10.231.7.1" ||
		l.RazorServerIP != "10.231.7.9" || l.RazorPort != 8150 || l.RazorBaseURI != "/razor/api" ||
		l.Domain != "razor.test" || l.LeaseSeconds != 3600 {
		t.Errorf("lease file = %+v, want gateway/server/next-server 10.231.7.1, razor 10.231.7.9:8150 /razor/api, domain razor.test, 3600s", l)
	}
}

// TestMain runs this test binary as the client side of
// TestDHCPAgainstDnsmasq when helperEnv is set.
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		if err := dhcpClientHelper(dir); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dhcpClientHelper runs netup for real in the client namespace and prints
// the first lease.
func dhcpClientHelper(dir string) error {
	k, err := NewKernel()
	if err != nil {
		return err
	}
	defer k.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := Start(ctx, Options{
		Netlink:    k,
		LeaseDir:   filepath.Join(dir, "leases"),
		ResolvConf: filepath.Join(dir, "resolv.conf"),
		Interfaces: []string{os.Getenv("NETUP_HELPER_IFACE")},
		Hostname:   func(net.HardwareAddr) string { return "mk-test" },
	})
	if err != nil {
		return err
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	l, err := n.First(fctx)
	cancel()
	n.Wait()
	if err != nil {
		return err
	}
	fmt.Printf("HELPER-OK %s %s\n", l.Interface, l.Addr)
	return nil
}
