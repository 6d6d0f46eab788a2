package dhcp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/syncbuf"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// clientLab is a provisioning network in namespaces: the server's
// namespace has the bridge cbr0 (10.77.0.1/24) that each client
// namespace is plugged into, and a relay namespace joins it (10.77.0.2)
// to a second network, 10.88.0.0/24, behind it.
type clientLab struct {
	t     *testing.T
	srv   *testlab.TestNetns
	st    *leases.Memory
	dir   string
	seq   int
	relay *testlab.TestNetns
	log   syncbuf.Buffer
}

// labSubnets: the bridge's subnet, with a reservation, and the relayed
// one.
func labSubnets() []Subnet {
	a := netip.MustParseAddr
	return []Subnet{{
		Prefix:  netip.MustParsePrefix("10.77.0.0/24"),
		Ranges:  []Range{{a("10.77.0.100"), a("10.77.0.150")}},
		Routers: []netip.Addr{a("10.77.0.1")}, DNS: []netip.Addr{a("10.77.0.53"), a("10.77.0.54")}, NTP: []netip.Addr{a("10.77.0.123")},
		DomainName: "lab.example", DomainSearch: []string{"lab.example", "example.org"}, LeaseTime: 2 * time.Hour,
		Reservations: []Reservation{{MAC: "52:54:00:aa:00:09", IP: a("10.77.0.20"), Hostname: "resv-node"}},
	}, {
		Prefix:  netip.MustParsePrefix("10.88.0.0/24"),
		Ranges:  []Range{{a("10.88.0.100"), a("10.88.0.120")}},
		Routers: []netip.Addr{a("10.88.0.1")}, DNS: []netip.Addr{a("10.77.0.53")},
		DomainName: "relayed.example", LeaseTime: 30 * time.Minute,
	}}
}

func newClientLab(t *testing.T) *clientLab {
	testlab.Require(t)
	l := &clientLab{t: t, srv: testlab.NewNetns(t, "csrv"), st: &leases.Memory{}, dir: t.TempDir()}
	l.srv.AddBridge("cbr0", "10.77.0.1/24")
	l.srv.MustIP("route", "add", "10.88.0.0/24", "via", "10.77.0.2")
	// New reads the interface's addresses: the server's address and its
	// directly attached subnet come from there, as in production.
	var s *Server
	if err := testlab.InNetns(l.srv.Name, func() error {
		var err error
		s, err = New(Options{Mode: Full, Interface: "cbr0", Subnets: labSubnets(),
			Logger: slog.New(slog.NewTextHandler(&l.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}, l.st)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", l.log.String())
		}
	})
	runServer(t, s, l.srv.Name, "cbr0")
	return l
}

// plug makes a namespace with interface ifname (MAC hw) on the bridge.
func (l *clientLab) plug(prefix, ifname, hw string) *testlab.TestNetns {
	l.seq++
	ns := testlab.NewNetns(l.t, prefix)
	port := fmt.Sprintf("cport%d", l.seq)
	testlab.Veth(l.t, ns, ifname, "", l.srv, port, "")
	l.srv.MustIP("link", "set", port, "master", "cbr0")
	ns.MustIP("link", "set", ifname, "address", hw)
	return ns
}

// relayed makes a client namespace behind a real dhcrelay. The first
// call makes the relay namespace: ru0 10.77.0.2/24 on the server's
// bridge, the bridge rbr0 10.88.0.1/24 towards its clients, forwarding
// between them, and dhcrelay relaying DHCP from rbr0 to 10.77.0.1.
// Like a switch, the relay adds option 82 (-a) and strips it from the
// answers; RFC 3046 §2.2: the server echoes it.
func (l *clientLab) relayed(ifname, hw string) *testlab.TestNetns {
	testlab.Require(l.t, "dhcrelay")
	if l.relay == nil {
		l.relay = testlab.NewNetns(l.t, "crelay")
		testlab.Veth(l.t, l.relay, "ru0", "10.77.0.2/24", l.srv, "cportr", "")
		l.srv.MustIP("link", "set", "cportr", "master", "cbr0")
		l.relay.AddBridge("rbr0", "10.88.0.1/24")
		if out, err := l.relay.Command("sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
			l.t.Fatalf("ip_forward: %v: %s", err, out)
		}
		pid := filepath.Join(l.dir, "dhcrelay.pid")
		testlab.Start(l.t, "dhcrelay", l.relay.Command("dhcrelay", "-4", "-d", "-a", "-pf", pid, "-id", "rbr0", "-iu", "ru0", "10.77.0.1"))
	}
	l.seq++
	cli := testlab.NewNetns(l.t, "crcli")
	port := fmt.Sprintf("rport%d", l.seq)
	testlab.Veth(l.t, cli, ifname, "", l.relay, port, "")
	l.relay.MustIP("link", "set", port, "master", "rbr0")
	cli.MustIP("link", "set", ifname, "address", hw)
	return cli
}

// script writes a client hook script that appends its event and
// environment to a log, and configures what the client leaves to its
// script (dhclient and udhcpc; dhcpcd configures the interface itself).
// Nothing outside the namespace is touched: no resolv.conf, no host
// name.
func (l *clientLab) script(name string) (path, log string) {
	path = filepath.Join(l.dir, name+".sh")
	log = filepath.Join(l.dir, name+".log")
	body := `#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
ev="${reason:-$1}"
case "$ev" in
PREINIT) ip link set "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
	ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
	for r in $new_routers; do ip route replace default via "$r" dev "$interface"; break; done ;;
EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev "$interface" ;;
bound|renew)
	ip addr replace "$ip/$subnet" dev "$interface"
	for r in $router; do ip route replace default via "$r" dev "$interface"; break; done ;;
deconfig) ip link set "$interface" up; ip addr flush dev "$interface" ;;
esac
# Logged once the interface is configured, so that the test acts on a
# configured client.
{ echo "=== $ev"; env | sort; echo "=== ."; } >>` + log + `
exit 0
`
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return path, log
}

// event waits until the script log holds the n-th event matching re and
// returns its environment.
func (l *clientLab) event(t *testing.T, log string, re string, n int, timeout time.Duration) map[string]string {
	t.Helper()
	rx := regexp.MustCompile(`^=== (` + re + `)$`)
	deadline := time.Now().Add(timeout)
	for {
		if env := nthEvent(log, rx, n); env != nil {
			return env
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("no event %q #%d in %s after %v; log:\n%s", re, n, filepath.Base(log), timeout, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nthEvent parses the log: blocks "=== EVENT", the variables, "=== .";
// a block still being written does not count.
func nthEvent(log string, rx *regexp.Regexp, n int) map[string]string {
	f, err := os.Open(log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var env map[string]string
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "=== .":
			if env != nil {
				if seen++; seen == n {
					return env
				}
			}
			env = nil
		case strings.HasPrefix(line, "=== "):
			env = nil
			if rx.MatchString(line) {
				env = map[string]string{"event": strings.TrimPrefix(line, "=== ")}
			}
		case env != nil:
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
	}
	return nil
}

// check compares the script's variables with want.
func check(t *testing.T, who string, env map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := strings.Join(strings.Fields(env[k]), " "); got != v {
			t.Errorf("%s: %s = %q, want %q", who, k, got, v)
		}
	}
}

// waitLease waits until the store's lease of mac satisfies ok.
func (l *clientLab) waitLease(t *testing.T, mac string, what string, ok func(leases.Lease, error) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lease, err := l.st.GetLease(context.Background(), mac)
		if ok(lease, err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of %s: %v, %v; want %s", mac, lease, err, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRealClients: ISC dhclient, busybox udhcpc and dhcpcd, each in its
// own namespace, get the address, router, DNS, domain, search list, NTP
// and lease time configured for their subnet; the reserved MAC gets its
// address and host name; renewal and release reach the lease store; and
// a PXE client behind a real dhcrelay gets an address of the relayed
// subnet, its boot file, and releases it through the relay's routing.
func TestRealClients(t *testing.T) {
	l := newClientLab(t)
	ctx := context.Background()

	t.Run("dhclient", func(t *testing.T) {
		testlab.Require(t, "dhclient")
		const hw = "52:54:00:aa:00:09" // reserved: 10.77.0.20, resv-node
		ns := l.plug("cdhc", "dhc0", hw)
		script, log := l.script("dhclient")
		conf := filepath.Join(l.dir, "dhclient.conf")
		os.WriteFile(conf, []byte("request subnet-mask, routers, domain-name-servers, domain-name, domain-search, host-name, ntp-servers;\n"), 0o644)
		args := []string{"-4", "-sf", script, "-cf", conf, "-lf", filepath.Join(l.dir, "dhclient.leases"), "-pf", filepath.Join(l.dir, "dhclient.pid"), "dhc0"}
		testlab.Start(t, "dhclient", ns.Command("dhclient", append([]string{"-d", "-v"}, args...)...))
		env := l.event(t, log, "BOUND", 1, 20*time.Second)
		check(t, "dhclient", env, map[string]string{
			"new_ip_address": "10.77.0.20", "new_host_name": "resv-node", "new_subnet_mask": "255.255.255.0",
			"new_routers": "10.77.0.1", "new_domain_name_servers": "10.77.0.53 10.77.0.54", "new_domain_name": "lab.example",
			"new_domain_search": "lab.example. example.org.", "new_ntp_servers": "10.77.0.123",
			"new_dhcp_lease_time": "7200", "new_dhcp_server_identifier": "10.77.0.1",
		})
		l.waitLease(t, "52:54:00:AA:00:09", "stored", func(le leases.Lease, err error) bool { return err == nil && le.Hostname == "resv-node" })
		// dhclient -r stops the running one and sends DHCPRELEASE.
		if out, err := ns.Command("dhclient", append([]string{"-r", "-v"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("dhclient -r: %v\n%s", err, out)
		}
		l.waitLease(t, "52:54:00:AA:00:09", "released", func(_ leases.Lease, err error) bool { return err != nil })
	})

	t.Run("udhcpc", func(t *testing.T) {
		testlab.Require(t, "busybox")
		const hw = "52:54:00:aa:00:02"
		ns := l.plug("cudh", "udh0", hw)
		ns.MustIP("link", "set", "udh0", "up")
		script, log := l.script("udhcpc")
		p := testlab.Start(t, "udhcpc", ns.Command("busybox", "udhcpc", "-f", "-i", "udh0", "-s", script, "-t", "10", "-T", "1",
			"-O", "search", "-O", "ntpsrv", "-O", "lease"))
		env := l.event(t, log, "bound", 1, 20*time.Second)
		check(t, "udhcpc", env, map[string]string{
			"subnet": "255.255.255.0", "router": "10.77.0.1", "dns": "10.77.0.53 10.77.0.54", "domain": "lab.example",
			"search": "lab.example example.org", "ntpsrv": "10.77.0.123", "lease": "7200", "serverid": "10.77.0.1",
		})
		ip := env["ip"]
		if a, err := netip.ParseAddr(ip); err != nil || !netip.MustParsePrefix("10.77.0.0/24").Contains(a) || ip == "10.77.0.20" {
			t.Fatalf("udhcpc address %q, want one of the bridge's range, not the reserved 10.77.0.20", ip)
		}
		first, err := l.st.GetLease(ctx, "52:54:00:AA:00:02")
		if err != nil {
			t.Fatalf("lease not stored: %v", err)
		}
		// SIGUSR1: renew now (RENEWING, unicast from the leased address).
		time.Sleep(1100 * time.Millisecond)
		p.Cmd.Process.Signal(syscall.SIGUSR1)
		renew := l.event(t, log, "renew", 1, 10*time.Second)
		check(t, "udhcpc renew", renew, map[string]string{"ip": ip, "lease": "7200"})
		l.waitLease(t, "52:54:00:AA:00:02", "renewed", func(le leases.Lease, err error) bool { return err == nil && le.Expires.After(first.Expires) })
		// RENEWING is unicast to the server identifier (RFC 2131
		// §4.4.5). Our ACK goes to ciaddr either way; on a loaded machine
		// udhcpc has been seen to miss it on its UDP socket and rebind by
		// broadcast, whose ACK (also to ciaddr) it takes. Either way the
		// renewal must reach the store.
		if out := p.Output(); !strings.Contains(out, "sending renew to server 10.77.0.1") {
			t.Errorf("udhcpc did not renew by unicast:\n%s", out)
		} else if strings.Contains(out, "broadcasting renew") {
			t.Log("udhcpc fell back to REBINDING after the unicast renewal")
		}
		// SIGUSR2: release.
		p.Cmd.Process.Signal(syscall.SIGUSR2)
		l.waitLease(t, "52:54:00:AA:00:02", "released", func(_ leases.Lease, err error) bool { return err != nil })
	})

	t.Run("dhcpcd", func(t *testing.T) {
		testlab.Require(t, "dhcpcd")
		const hw = "52:54:00:aa:00:03"
		ns := l.plug("cdcd", "dcd0", hw)
		script, log := l.script("dhcpcd")
		conf := filepath.Join(l.dir, "dhcpcd.conf")
		os.WriteFile(conf, []byte("option domain_name_servers, domain_name, domain_search, ntp_servers, host_name\nnoipv4ll\nnoarp\nipv4only\n"), 0o644)
		testlab.Start(t, "dhcpcd", ns.Command("dhcpcd", "-B", "-d", "-f", conf, "-c", script, "dcd0"))
		env := l.event(t, log, "BOUND", 1, 30*time.Second)
		check(t, "dhcpcd", env, map[string]string{
			"new_subnet_mask": "255.255.255.0", "new_routers": "10.77.0.1", "new_domain_name_servers": "10.77.0.53 10.77.0.54",
			"new_domain_name": "lab.example", "new_domain_search": "lab.example example.org", "new_ntp_servers": "10.77.0.123",
			"new_dhcp_lease_time": "7200", "new_dhcp_server_identifier": "10.77.0.1",
		})
		l.waitLease(t, "52:54:00:AA:00:03", "stored", func(le leases.Lease, err error) bool { return err == nil && le.IP.String() == env["new_ip_address"] })
		if out, err := ns.Command("dhcpcd", "-k", "dcd0").CombinedOutput(); err != nil {
			t.Fatalf("dhcpcd -k: %v\n%s", err, out)
		}
		l.waitLease(t, "52:54:00:AA:00:03", "released", func(_ leases.Lease, err error) bool { return err != nil })
	})

	t.Run("relay", func(t *testing.T) {
		testlab.Require(t, "dhclient", "dhcrelay")
		const hw = "52:54:00:aa:00:04"
		ns := l.relayed("rly0", hw)
		script, log := l.script("relayed")
		conf := filepath.Join(l.dir, "relayed.conf")
		// A BIOS PXE client's vendor class and architecture (RFC 4578).
		os.WriteFile(conf, []byte(`option pxe-arch code 93 = unsigned integer 16;
send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";
send pxe-arch 0;
request subnet-mask, routers, domain-name-servers, domain-name, dhcp-lease-time;
`), 0o644)
		args := []string{"-4", "-sf", script, "-cf", conf, "-lf", filepath.Join(l.dir, "relayed.leases"), "-pf", filepath.Join(l.dir, "relayed.pid"), "rly0"}
		testlab.Start(t, "dhclient-relayed", ns.Command("dhclient", append([]string{"-d", "-v"}, args...)...))
		env := l.event(t, log, "BOUND", 1, 30*time.Second)
		check(t, "relayed dhclient", env, map[string]string{
			"new_routers": "10.88.0.1", "new_domain_name": "relayed.example", "new_dhcp_lease_time": "1800",
			"new_filename": "undionly.kpxe", "new_next_server": "10.77.0.1", "new_dhcp_server_identifier": "10.77.0.1",
		})
		a, err := netip.ParseAddr(env["new_ip_address"])
		if err != nil || a.Less(netip.MustParseAddr("10.88.0.100")) || netip.MustParseAddr("10.88.0.120").Less(a) {
			t.Fatalf("relayed client address %q, want 10.88.0.100-10.88.0.120", env["new_ip_address"])
		}
		l.waitLease(t, "52:54:00:AA:00:04", "stored", func(le leases.Lease, err error) bool { return err == nil && le.IP == a })
		// The release goes by unicast to the server identifier, routed
		// through the relay namespace.
		if out, err := ns.Command("dhclient", append([]string{"-r", "-v"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("dhclient -r: %v\n%s", err, out)
		}
		l.waitLease(t, "52:54:00:AA:00:04", "released", func(_ leases.Lease, err error) bool { return err != nil })
	})

	t.Run("relay-renew", func(t *testing.T) {
		testlab.Require(t, "busybox", "dhcrelay")
		const hw = "52:54:00:aa:00:05"
		ns := l.relayed("rly1", hw)
		ns.MustIP("link", "set", "rly1", "up")
		script, log := l.script("relayed-udhcpc")
		// A UEFI x86-64 PXE client: vendor class and option 93 = 7.
		p := testlab.Start(t, "udhcpc-relayed", ns.Command("busybox", "udhcpc", "-f", "-i", "rly1", "-s", script, "-t", "10", "-T", "1",
			"-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007", "-O", "lease"))
		env := l.event(t, log, "bound", 1, 30*time.Second)
		check(t, "relayed udhcpc", env, map[string]string{
			"router": "10.88.0.1", "domain": "relayed.example", "lease": "1800", "boot_file": "snponly.efi", "siaddr": "10.77.0.1", "serverid": "10.77.0.1",
		})
		a, err := netip.ParseAddr(env["ip"])
		if err != nil || a.Less(netip.MustParseAddr("10.88.0.100")) || netip.MustParseAddr("10.88.0.120").Less(a) {
			t.Fatalf("relayed client address %q, want 10.88.0.100-10.88.0.120", env["ip"])
		}
		first, err := l.st.GetLease(ctx, "52:54:00:AA:00:05")
		if err != nil {
			t.Fatalf("lease not stored: %v", err)
		}
		// RENEWING: unicast from 10.88.0.x to the server identifier,
		// routed through the relay namespace, answered to ciaddr.
		time.Sleep(1100 * time.Millisecond)
		p.Cmd.Process.Signal(syscall.SIGUSR1)
		check(t, "relayed udhcpc renew", l.event(t, log, "renew", 1, 15*time.Second), map[string]string{"ip": env["ip"], "lease": "1800"})
		l.waitLease(t, "52:54:00:AA:00:05", "renewed", func(le leases.Lease, err error) bool { return err == nil && le.Expires.After(first.Expires) })
		if strings.Contains(p.Output(), "broadcasting renew") {
			t.Log("udhcpc fell back to REBINDING (through the relay) after the unicast renewal")
		}
		p.Cmd.Process.Signal(syscall.SIGUSR2)
		l.waitLease(t, "52:54:00:AA:00:05", "released", func(_ leases.Lease, err error) bool { return err != nil })
	})
}
