package dhcp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases/leasetest"
)

var biosPXE = []dhcpv4.Modifier{
	dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
	dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
}

// runServer starts s inside namespace ns on interface ifname: port 67,
// and 4011 too in proxy mode. It stops when the test ends.
func runServer(t *testing.T, s *Server, ns, ifname string) (stop func()) {
	t.Helper()
	var c67, c4011 net.PacketConn
	if err := testlab.InNetns(ns, func() error {
		var err error
		if c67, err = server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: 67}); err != nil {
			return err
		}
		if s.cfg.Mode == Proxy {
			c4011, err = server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: PXEPort})
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	n := 1
	go func() { done <- s.ServeConn(ctx, c67) }()
	if c4011 != nil {
		n++
		go func() { done <- s.ServePXEConn(ctx, c4011) }()
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range n {
			if err := <-done; err != nil {
				t.Errorf("Serve = %v, want nil after cancel", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// pair makes a server namespace with dsrv0 10.77.0.1/24 and a client
// namespace with dcli0.
func pair(t *testing.T) (srv, cli *testlab.TestNetns) {
	testlab.Require(t)
	srv = testlab.NewNetns(t, "dsrv")
	cli = testlab.NewNetns(t, "dcli")
	testlab.Veth(t, srv, "dsrv0", "10.77.0.1/24", cli, "dcli0", "")
	return srv, cli
}

func nsConfig() Options {
	c := fullConfig()
	c.Interface = "dsrv0"
	c.RangeTo = netip.MustParseAddr("10.77.0.250")
	c.Now = nil
	return c
}

func newClient(t *testing.T, ns, ifname string, hw net.HardwareAddr) *nclient4.Client {
	t.Helper()
	var c *nclient4.Client
	if err := testlab.InNetns(ns, func() error {
		var err error
		c, err = nclient4.New(ifname, nclient4.WithHWAddr(hw), nclient4.WithTimeout(time.Second), nclient4.WithRetry(3))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestNclient4Exchange runs DORA, renewal, release and a restart over
// a real veth pair with broadcast.
//
// With the journal store, REQUESTs take the batched path
// (commitRequests); with the in-memory one, a goroutine each.
func TestNclient4Exchange(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testNclient4Exchange(t, &leases.Memory{}) })
	t.Run("journal", func(t *testing.T) {
		f, err := leasetest.OpenFile(filepath.Join(t.TempDir(), "leases.journal"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		testNclient4Exchange(t, f)
	})
}

func testNclient4Exchange(t *testing.T, st leases.Store) {
	srv, cli := pair(t)
	s1 := newServer(t, nsConfig(), st)
	stop := runServer(t, s1, srv.Name, "dsrv0")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t, cli.Name, "dcli0", mac(1))
	l, err := c.Request(ctx, biosPXE...)
	if err != nil {
		t.Fatalf("Request() = %v", err)
	}
	ip := l.ACK.YourIPAddr
	if got, want := fmt.Sprint(ip, " ", l.ACK.BootFileName, " ", l.ACK.ClassIdentifier(), " ", l.Offer.ClassIdentifier()), "10.77.0.100 undionly.kpxe PXEClient PXEClient"; got != want {
		t.Errorf("lease = %s, want %s", got, want)
	}
	if _, err := st.GetLease(ctx, "52:54:00:00:00:01"); err != nil {
		t.Errorf("lease not in the store after ACK: %v", err)
	}

	// RENEWING: unicast from the leased address to the server.
	cli.MustIP("addr", "add", ip.String()+"/24", "dev", "dcli0")
	var uc net.PacketConn
	if err := testlab.InNetns(cli.Name, func() error {
		var err error
		uc, err = net.ListenPacket("udp4", ip.String()+":68")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	renew := msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip))
	ack := roundTrip(t, uc, renew, &net.UDPAddr{IP: ip4("10.77.0.1"), Port: 67})
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(ip) {
		t.Fatalf("renewal reply = %v %v, want ACK for %v", ack.MessageType(), ack.YourIPAddr, ip)
	}

	// Restart on the same store: the client keeps its address.
	stop()
	s2 := newServer(t, nsConfig(), st)
	runServer(t, s2, srv.Name, "dsrv0")
	l2, err := newClient(t, cli.Name, "dcli0", mac(1)).Request(ctx)
	if err != nil {
		t.Fatalf("Request() after restart = %v", err)
	}
	if !l2.ACK.YourIPAddr.Equal(ip) {
		t.Errorf("address after restart = %v, want %v", l2.ACK.YourIPAddr, ip)
	}
	// RELEASE frees it in the store.
	rel := msg(t, mac(1), dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(ip), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip4("10.77.0.1"))))
	if _, err := uc.WriteTo(rel.ToBytes(), &net.UDPAddr{IP: ip4("10.77.0.1"), Port: 67}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := st.GetLease(ctx, "52:54:00:00:00:01"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lease still in the store 5 s after RELEASE")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A second client gets a different address, and iPXE gets the script.
	l3, err := newClient(t, cli.Name, "dcli0", mac(2)).Request(ctx, append(biosPXE, dhcpv4.WithUserClass("iPXE", false))...)
	if err != nil {
		t.Fatalf("Request(iPXE) = %v", err)
	}
	if l3.ACK.BootFileName != "http://10.77.0.1:8026/boot.ipxe" {
		t.Errorf("iPXE boot file = %q", l3.ACK.BootFileName)
	}
}

// roundTrip sends req from conn to dst and returns the reply with the
// same transaction id.
func roundTrip(t *testing.T, conn net.PacketConn, req *dhcpv4.DHCPv4, dst net.Addr) *dhcpv4.DHCPv4 {
	t.Helper()
	for try := 0; try < 3; try++ {
		if _, err := conn.WriteTo(req.ToBytes(), dst); err != nil {
			t.Fatalf("send to %v: %v", dst, err)
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			if m, err := dhcpv4.FromBytes(buf[:n]); err == nil && m.TransactionID == req.TransactionID && m.OpCode == dhcpv4.OpcodeBootReply {
				return m
			}
		}
	}
	t.Fatalf("no reply to %v from %v", req.MessageType(), dst)
	return nil
}

// TestPerfdhcp drives the full-mode server with Kea's perfdhcp: DORA at
// a fixed rate for a few seconds over the veth pair, durable leases.
func TestPerfdhcp(t *testing.T) {
	testlab.Require(t, "perfdhcp")
	srv, cli := pair(t)
	st, err := leasetest.OpenFile(filepath.Join(t.TempDir(), "leases.journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := nsConfig()
	cfg.RangeTo = netip.MustParseAddr("10.77.3.250")
	cfg.Subnet = netip.MustParsePrefix("10.77.0.0/16")
	s := newServer(t, cfg, st)
	runServer(t, s, srv.Name, "dsrv0")
	// perfdhcp acts as a relay: it sends from port 67 with giaddr set to
	// its address, and the server answers the relay.
	cli.MustIP("addr", "add", "10.77.200.1/16", "dev", "dcli0")
	out, err := cli.Command("perfdhcp", "-4", "-l", "dcli0", "-r", "300", "-p", "3", "-R", "800", "-W", "500000").CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("sent packets")) {
		t.Fatalf("perfdhcp: %v\n%s", err, out)
	}
	stats := perfdhcpStats(string(out))
	t.Logf("perfdhcp: %v", stats)
	if stats["sent DISCOVER"] < 300 || stats["recv ACK"] < stats["sent DISCOVER"]*95/100 {
		t.Errorf("perfdhcp: %v, want ≥300 DISCOVERs and ≥95%% answered with an ACK\n%s", stats, out)
	}
	ls, _ := st.ListLeases(context.Background())
	if len(ls) < 300 || len(ls) > 800 {
		t.Errorf("leases in the store = %d, want between 300 and 800 (perfdhcp's -R 800 clients)", len(ls))
	}
}

// perfdhcpStats reads perfdhcp's report: sent/received packets per
// exchange ("DISCOVER-OFFER", "REQUEST-ACK").
func perfdhcpStats(out string) map[string]int {
	m := map[string]int{}
	var ex string
	re := regexp.MustCompile(`^\s*(sent|received) packets: (\d+)`)
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "DISCOVER-OFFER"):
			ex = "DO"
		case strings.Contains(line, "REQUEST-ACK"):
			ex = "RA"
		}
		if g := re.FindStringSubmatch(line); g != nil {
			n, _ := strconv.Atoi(g[2])
			key := map[string]string{"DOsent": "sent DISCOVER", "DOreceived": "recv OFFER", "RAsent": "sent REQUEST", "RAreceived": "recv ACK"}[ex+g[1]]
			if key != "" {
				m[key] = n
			}
		}
	}
	return m
}

// TestProxyBesideDnsmasq: dnsmasq leases the address, we give the boot
// file. A PXE client sees both offers, takes dnsmasq's address, then asks
// us on 4011.
func TestProxyBesideDnsmasq(t *testing.T) {
	testlab.Require(t, "dnsmasq")
	srv := testlab.NewNetns(t, "psrv")
	site := testlab.NewNetns(t, "psite")
	cli := testlab.NewNetns(t, "pcli")
	srv.AddBridge("pbr0", "10.78.0.1/24")
	testlab.Veth(t, site, "psite0", "10.78.0.2/24", srv, "psite1", "")
	testlab.Veth(t, cli, "pcli0", "", srv, "pcli1", "")
	srv.MustIP("link", "set", "psite1", "master", "pbr0")
	srv.MustIP("link", "set", "pcli1", "master", "pbr0")

	dir := t.TempDir()
	dm := testlab.Start(t, "dnsmasq", site.Command("dnsmasq", "-d", "-k", "--conf-file=/dev/null", "--port=0",
		"--interface=psite0", "--bind-interfaces", "--dhcp-range=10.78.0.50,10.78.0.60,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--user=root", "--log-dhcp", "--no-ping"))

	s := newServer(t, Options{Mode: Proxy, Interface: "pbr0", ServerIP: netip.MustParseAddr("10.78.0.1")}, nil)
	runServer(t, s, srv.Name, "pbr0")

	var raw net.PacketConn
	if err := testlab.InNetns(cli.Name, func() error {
		var err error
		raw, err = nclient4.NewRawUDPConn("pcli0", 68)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hw := mac(7)
	disc := msg(t, hw, dhcpv4.MessageTypeDiscover, append(biosPXE, dhcpv4.WithBroadcast(true))...)
	var site4, proxy *dhcpv4.DHCPv4
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	for try := 0; try < 10 && (site4 == nil || proxy == nil); try++ {
		raw.WriteTo(disc.ToBytes(), bcast)
		raw.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 1500)
		for {
			n, _, err := raw.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil || m.TransactionID != disc.TransactionID || m.MessageType() != dhcpv4.MessageTypeOffer {
				continue
			}
			if m.ServerIdentifier().Equal(ip4("10.78.0.2")) {
				site4 = m
			} else if m.ServerIdentifier().Equal(ip4("10.78.0.1")) {
				proxy = m
			}
		}
	}
	if site4 == nil || proxy == nil {
		t.Fatalf("offers: dnsmasq %v, proxy %v; want both\ndnsmasq: %s", site4 != nil, proxy != nil, dm.Output())
	}
	if !proxy.YourIPAddr.IsUnspecified() || proxy.BootFileName != "undionly.kpxe" || proxy.ClassIdentifier() != "PXEClient" || !proxy.ServerIPAddr.Equal(ip4("10.78.0.1")) {
		t.Errorf("proxy offer yiaddr %v file %q vendor %q siaddr %v; want 0.0.0.0, undionly.kpxe, PXEClient, 10.78.0.1",
			proxy.YourIPAddr, proxy.BootFileName, proxy.ClassIdentifier(), proxy.ServerIPAddr)
	}
	ip := site4.YourIPAddr
	if a, _ := netip.AddrFromSlice(ip.To4()); !netip.MustParsePrefix("10.78.0.0/24").Contains(a) || site4.BootFileName != "" {
		t.Errorf("dnsmasq offer %v file %q; want an address of its range and no boot file", ip, site4.BootFileName)
	}
	// REQUEST to dnsmasq (broadcast, selecting it).
	req := msg(t, hw, dhcpv4.MessageTypeRequest, append(biosPXE, dhcpv4.WithBroadcast(true), dhcpv4.WithTransactionID(disc.TransactionID),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip4("10.78.0.2"))), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)))...)
	ack := roundTrip(t, raw, req, bcast)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.ServerIdentifier().Equal(ip4("10.78.0.2")) {
		t.Fatalf("REQUEST to dnsmasq: %v from %v, want ACK from 10.78.0.2", ack.MessageType(), ack.ServerIdentifier())
	}
	// With its address, the client asks the proxy on 4011.
	cli.MustIP("addr", "add", ip.String()+"/24", "dev", "pcli0")
	var uc net.PacketConn
	if err := testlab.InNetns(cli.Name, func() error {
		var err error
		uc, err = net.ListenPacket("udp4", ip.String()+":68")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	preq := msg(t, hw, dhcpv4.MessageTypeRequest, append(biosPXE, dhcpv4.WithClientIP(ip))...)
	pack := roundTrip(t, uc, preq, &net.UDPAddr{IP: ip4("10.78.0.1"), Port: PXEPort})
	if pack.MessageType() != dhcpv4.MessageTypeAck || pack.BootFileName != "undionly.kpxe" || !pack.YourIPAddr.IsUnspecified() {
		t.Errorf("proxy 4011 reply %v file %q yiaddr %v; want ACK, undionly.kpxe, no address", pack.MessageType(), pack.BootFileName, pack.YourIPAddr)
	}
	// The lease is dnsmasq's.
	b, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.leases"))
	if !bytes.Contains(b, []byte(ip.String())) {
		t.Errorf("dnsmasq lease file lacks %v:\n%s", ip, b)
	}
}

// TestBatchedRequestChecks: REQUESTs on the batched path (a journal
// store) get the same checks as on any other: not Ethernet, a relay
// outside the subnet or a BOOTREPLY leases nothing and gets no answer,
// and the server goes on answering good ones.
func TestBatchedRequestChecks(t *testing.T) {
	srv, cli := pair(t)
	st, err := leasetest.OpenFile(filepath.Join(t.TempDir(), "leases.journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	runServer(t, newServer(t, nsConfig(), st), srv.Name, "dsrv0")
	ip := ip4("10.77.0.120")
	cli.MustIP("addr", "add", "10.77.0.120/24", "dev", "dcli0")
	var uc net.PacketConn
	if err := testlab.InNetns(cli.Name, func() error {
		var err error
		uc, err = net.ListenPacket("udp4", "10.77.0.120:68")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	server := &net.UDPAddr{IP: ip4("10.77.0.1"), Port: 67}

	// Each asks for a free address of its own, so that without the
	// checks each would be leased.
	notEthernet := msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4("10.77.0.121")))
	notEthernet.HWType = iana.HWTypeIEEE802
	farRelay := msg(t, mac(3), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4("10.77.0.122")), dhcpv4.WithGatewayIP(ip4("10.99.0.1")))
	reply := msg(t, mac(4), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4("10.77.0.123")))
	reply.OpCode = dhcpv4.OpcodeBootReply
	for name, bad := range map[string]*dhcpv4.DHCPv4{"not Ethernet": notEthernet, "relay outside the subnet": farRelay, "BOOTREPLY": reply} {
		if _, err := uc.WriteTo(bad.ToBytes(), server); err != nil {
			t.Fatal(err)
		}
		uc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 1500)
		for {
			n, _, err := uc.ReadFrom(buf)
			if err != nil {
				break
			}
			if m, err := dhcpv4.FromBytes(buf[:n]); err == nil && m.TransactionID == bad.TransactionID {
				t.Errorf("%s: got a %v, want no answer", name, m.MessageType())
			}
		}
		if _, err := st.GetLease(context.Background(), strings.ToUpper(bad.ClientHWAddr.String())); err == nil {
			t.Errorf("%s: a lease was stored", name)
		}
	}
	good := msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip))
	if ack := roundTrip(t, uc, good, server); ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(ip) {
		t.Fatalf("good REQUEST: %v for %v, want ACK for %v", ack.MessageType(), ack.YourIPAddr, ip)
	}
	if _, err := st.GetLease(context.Background(), "52:54:00:00:00:01"); err != nil {
		t.Errorf("lease of the good REQUEST: %v", err)
	}
}
