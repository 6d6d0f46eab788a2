package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/razor-mk/razor-mk/agent/leasefile"
	"github.com/razor-mk/razor-mk/wire"
)

// fakeNetlink records the operations netup performs.
type fakeNetlink struct {
	mu    sync.Mutex
	links []Link
	ops   []string
}

func (f *fakeNetlink) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, s)
}

func (f *fakeNetlink) Links() ([]Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.links), nil
}
func (f *fakeNetlink) SetUp(name string) error {
	f.record("up " + name)
	return nil
}
func (f *fakeNetlink) Carrier(name string) (bool, error) { return name != "eth2", nil }
func (f *fakeNetlink) ReplaceAddr(name string, a netip.Prefix, valid, pref time.Duration) error {
	f.record(fmt.Sprintf("addr %s %s valid=%v", name, a, valid))
	return nil
}
func (f *fakeNetlink) ReplaceRoute(name string, dst netip.Prefix, gw netip.Addr) error {
	f.record(fmt.Sprintf("route %s %s via %v", name, dst, gw))
	return nil
}

func (f *fakeNetlink) has(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.ops, op)
}

func (f *fakeNetlink) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.ops {
		if o == op {
			n++
		}
	}
	return n
}

// fakeDHCP answers with a fixed ACK after a delay, failing the first
// `fails` requests.
type fakeDHCP struct {
	delay  time.Duration
	ack    func() *dhcpv4.DHCPv4
	mu     sync.Mutex
	fails  int
	reqs   int
	renews int
}

func (f *fakeDHCP) Request(ctx context.Context) (*nclient4.Lease, error) {
	f.mu.Lock()
	f.reqs++
	fail := f.reqs <= f.fails
	f.mu.Unlock()
	if fail {
		return nil, errors.New("no offer")
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &nclient4.Lease{ACK: f.ack(), CreationTime: time.Now()}, nil
}

func (f *fakeDHCP) Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error) {
	f.mu.Lock()
	f.renews++
	f.mu.Unlock()
	return &nclient4.Lease{ACK: f.ack(), CreationTime: time.Now()}, nil
}

func (f *fakeDHCP) Close() error { return nil }

func (f *fakeDHCP) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs, f.renews
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ack(t *testing.T, yiaddr string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.ParseIP(yiaddr)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithServerIP(net.ParseIP("10.0.0.1")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.1"))),
	}
	d, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestStartFirstLeaseWins(t *testing.T) {
	nl := &fakeNetlink{links: []Link{
		{Name: "lo", Index: 1, Encap: "loopback", Kind: "device"},
		{Name: "eth0", Index: 2, Encap: "ether", Kind: "device", MAC: mac("52:54:00:12:34:56")},
		{Name: "eth1", Index: 3, Encap: "ether", Kind: "device", MAC: mac("52:54:00:12:34:57")},
		{Name: "br0", Index: 4, Encap: "ether", Kind: "bridge", MAC: mac("52:54:00:12:34:58")},
	}}
	clients := map[string]*fakeDHCP{
		// eth1 answers first and gets the default route.
		"eth0": {delay: 600 * time.Millisecond, ack: func() *dhcpv4.DHCPv4 {
			return ack(t, "10.1.0.5", dhcpv4.WithRouter(net.ParseIP("10.1.0.1")), dhcpv4.WithDNS(net.ParseIP("10.1.0.53")))
		}},
		"eth1": {delay: 10 * time.Millisecond, fails: 2, ack: func() *dhcpv4.DHCPv4 {
			return ack(t, "10.0.0.15",
				dhcpv4.WithRouter(net.ParseIP("10.0.0.1")),
				dhcpv4.WithDNS(net.ParseIP("10.0.0.3"), net.ParseIP("10.0.0.4")),
				dhcpv4.WithOption(dhcpv4.OptDomainName("lab.example")),
				dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionServer), []byte{10, 0, 0, 2})),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionPort), []byte{0x1f, 0x5a})),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionBaseURI), []byte("/razor/api"))),
			)
		}},
	}
	var hostnames []string
	var hmu sync.Mutex
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := Start(ctx, Options{
		Netlink: nl,
		NewDHCP: func(l Link, hostname string) (DHCPClient, error) {
			hmu.Lock()
			hostnames = append(hostnames, hostname)
			hmu.Unlock()
			return clients[l.Name], nil
		},
		Hostname:   func(m net.HardwareAddr) string { return "mk" + m.String()[15:] },
		LeaseDir:   filepath.Join(dir, "leases"),
		ResolvConf: filepath.Join(dir, "resolv.conf"),
		RetryMin:   5 * time.Millisecond,
		RetryMax:   10 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Start = %v", err)
	}
	if got := len(n.Links()); got != 2 {
		t.Errorf("Start selected %d links, want eth0 and eth1", got)
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	first, err := n.First(fctx)
	if err != nil {
		t.Fatalf("First = %v", err)
	}
	if first.Interface != "eth1" || first.Addr != netip.MustParsePrefix("10.0.0.15/24") {
		t.Errorf("First = %s %s, want eth1 10.0.0.15/24", first.Interface, first.Addr)
	}
	// Wait for eth0's lease too.
	deadline := time.Now().Add(5 * time.Second)
	for len(n.Leases()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	n.Wait()

	for _, op := range []string{
		"up lo", "up eth0", "up eth1",
		"addr eth1 10.0.0.15/24 valid=1h0m0s",
		"route eth1 0.0.0.0/0 via 10.0.0.1",
		"addr eth0 10.1.0.5/24 valid=0s",
	} {
		if !nl.has(op) {
			t.Errorf("netlink ops %q lack %q", nl.ops, op)
		}
	}
	if nl.has("route eth0 0.0.0.0/0 via 10.1.0.1") || nl.has("up br0") {
		t.Errorf("netlink ops %q: the second lease must not take the default route; bridges are left alone", nl.ops)
	}
	resolv, _ := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	wantResolv := "# Written by mk-agent init from the DHCP lease on eth1.\nsearch lab.example\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n"
	if diff := cmp.Diff(wantResolv, string(resolv)); diff != "" {
		t.Errorf("resolv.conf mismatch (-want +got):\n%s", diff)
	}
	infos, err := leasefile.ReadAll(filepath.Join(dir, "leases"))
	if err != nil || len(infos) != 2 {
		t.Fatalf("leasefile.ReadAll = %d leases, %v; want 2", len(infos), err)
	}
	got := infos[0]
	got.Obtained = time.Time{}
	want := leasefile.Info{
		Interface: "eth1", MAC: "52:54:00:12:34:57", Address: "10.0.0.15/24", Gateway: "10.0.0.1",
		DNS: []string{"10.0.0.3", "10.0.0.4"}, Domain: "lab.example", ServerID: "10.0.0.1", NextServer: "10.0.0.1",
		RazorServerIP: "10.0.0.2", RazorPort: 8026, RazorBaseURI: "/razor/api", LeaseSeconds: 3600,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first lease file mismatch (-want +got):\n%s", diff)
	}
	if reqs, _ := clients["eth1"].counts(); reqs != 3 {
		t.Errorf("eth1 DHCP requests = %d, want 3 (two failures, then success)", reqs)
	}
	slices.Sort(hostnames)
	if diff := cmp.Diff([]string{"mk56", "mk57"}, hostnames); diff != "" {
		t.Errorf("hostnames sent mismatch (-want +got):\n%s", diff)
	}
}

func TestRenewal(t *testing.T) {
	nl := &fakeNetlink{links: []Link{{Name: "eth0", Index: 2, Encap: "ether", Kind: "device", MAC: mac("52:54:00:00:00:01")}}}
	c := &fakeDHCP{ack: func() *dhcpv4.DHCPv4 {
		return ack(t, "10.0.0.9",
			dhcpv4.WithRouter(net.ParseIP("10.0.0.1")),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(10*time.Second)),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(time.Second)),
		)
	}}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := Start(ctx, Options{Netlink: nl, NewDHCP: func(Link, string) (DHCPClient, error) { return c, nil },
		LeaseDir: dir, ResolvConf: filepath.Join(dir, "resolv.conf")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.First(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Second)
	for {
		if _, renews := c.counts(); renews >= 2 {
			break
		}
		if time.Now().After(deadline) {
			_, renews := c.counts()
			t.Fatalf("renewals after 4s = %d, want >= 2 (T1 = 1s)", renews)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	n.Wait()
	if reqs, _ := c.counts(); reqs != 1 {
		t.Errorf("requests = %d, want 1: renewals must not restart discovery", reqs)
	}
	if got := nl.count("addr eth0 10.0.0.9/24 valid=10s"); got < 3 {
		t.Errorf("address configured %d times, want >= 3 (lease + each renewal refreshes lifetimes)", got)
	}
}

func TestLateLink(t *testing.T) {
	// The link is found by the poll.
	lateLink(t, 20*time.Millisecond, false)
}

// TestRescan: a link that appears is adopted on Rescan, long before the
// next LinkPoll (the init calls it after each coldplug round).
func TestRescan(t *testing.T) {
	lateLink(t, time.Hour, true)
}

// lateLink starts the network with no Ethernet link, then makes eth0
// appear (and calls Rescan twice, a second call while one is pending
// being harmless, when rescan is set) and wants a lease on it.
func lateLink(t *testing.T, poll time.Duration, rescan bool) {
	t.Helper()
	nl := &fakeNetlink{links: []Link{{Name: "lo", Encap: "loopback", Kind: "device", Up: true}}}
	c := &fakeDHCP{ack: func() *dhcpv4.DHCPv4 { return ack(t, "10.0.0.9", dhcpv4.WithRouter(net.ParseIP("10.0.0.1"))) }}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := Start(ctx, Options{Netlink: nl, NewDHCP: func(Link, string) (DHCPClient, error) { return c, nil },
		LeaseDir: dir, ResolvConf: filepath.Join(dir, "resolv.conf"), LinkPoll: poll})
	if err != nil {
		t.Fatalf("Start(no Ethernet yet) = %v", err)
	}
	if got := len(n.Links()); got != 0 {
		t.Fatalf("Links() = %d, want none yet", got)
	}
	// The NIC's driver creates its link only now.
	nl.mu.Lock()
	nl.links = append(nl.links, Link{Name: "eth0", Index: 2, Encap: "ether", Kind: "device", MAC: mac("52:54:00:00:00:09")})
	nl.mu.Unlock()
	if rescan {
		n.Rescan()
		n.Rescan()
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	l, err := n.First(wctx)
	if err != nil || l.Interface != "eth0" {
		t.Errorf("First = %s, %v; want a lease on the late eth0", l.Interface, err)
	}
	cancel()
	n.Wait()
}

func TestFirstTimeout(t *testing.T) {
	nl := &fakeNetlink{links: []Link{{Name: "eth0", Index: 2, Encap: "ether", Kind: "device", MAC: mac("52:54:00:00:00:01")}}}
	c := &fakeDHCP{fails: 1 << 30}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Start(ctx, Options{Netlink: nl, NewDHCP: func(Link, string) (DHCPClient, error) { return c, nil },
		LeaseDir: t.TempDir(), RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer wcancel()
	if _, err := n.First(wctx); !errors.Is(err, ErrNoLease) {
		t.Errorf("First(no server) = %v, want ErrNoLease", err)
	}
	cancel()
	n.Wait()
	if reqs, _ := c.counts(); reqs < 2 {
		t.Errorf("requests = %d, want retries with backoff", reqs)
	}
}
