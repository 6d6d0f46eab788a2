package dhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/razor-mk/razor-mk/internal/syncbuf"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

var (
	srvIP  = netip.MustParseAddr("10.77.0.1")
	now0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	peer68 = &net.UDPAddr{IP: net.IPv4zero, Port: 68}
)

func fullConfig() Options {
	return Options{
		Mode: Full, Interface: "test0",
		RangeFrom: netip.MustParseAddr("10.77.0.100"), RangeTo: netip.MustParseAddr("10.77.0.102"),
		Subnet: netip.MustParsePrefix("10.77.0.0/24"), ServerIP: srvIP,
		Routers: []netip.Addr{srvIP}, DNS: []netip.Addr{srvIP},
		LeaseTime: time.Hour,
		Now:       func() time.Time { return now0 },
	}
}

func newServer(t *testing.T, cfg Options, st leases.Store) *Server {
	t.Helper()
	s, err := New(cfg, st)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return s
}

func mac(n byte) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, 0, n} }

func msg(t *testing.T, hw net.HardwareAddr, typ dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{
		dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(typ),
	}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exchange runs one message through the packet path.
func exchange(t *testing.T, s *Server, req *dhcpv4.DHCPv4, pxe bool) (*dhcpv4.DHCPv4, net.Addr) {
	t.Helper()
	out, dst := s.HandlePacket(context.Background(), req.ToBytes(), peer68, pxe)
	if out == nil {
		return nil, nil
	}
	resp, err := dhcpv4.FromBytes(out)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if resp.TransactionID != req.TransactionID || resp.OpCode != dhcpv4.OpcodeBootReply {
		t.Fatalf("reply xid %v op %v, want %v BootReply", resp.TransactionID, resp.OpCode, req.TransactionID)
	}
	return resp, dst
}

func ip4(s string) net.IP { return net.ParseIP(s).To4() }

// dora does DISCOVER/OFFER/REQUEST/ACK and returns the ACK.
func dora(t *testing.T, s *Server, hw net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	offer, _ := exchange(t, s, msg(t, hw, dhcpv4.MessageTypeDiscover, mods...), false)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("DISCOVER from %v: reply %v, want OFFER", hw, offer)
	}
	ack, _ := exchange(t, s, msg(t, hw, dhcpv4.MessageTypeRequest, append(mods,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier())),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)))...), false)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("REQUEST from %v: reply %v, want ACK", hw, ack)
	}
	if !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("ACK yiaddr %v, offered %v", ack.YourIPAddr, offer.YourIPAddr)
	}
	return ack
}

func TestValidate(t *testing.T) {
	ok := fullConfig()
	tests := []struct {
		name  string
		cfg   func(c *Options)
		field string // "" = valid
	}{
		{"full ok", func(*Options) {}, ""},
		{"off ok", func(c *Options) { *c = Options{Mode: Off} }, ""},
		{"proxy with interface", func(c *Options) { *c = Options{Mode: Proxy, Interface: "eth0"} }, ""},
		{"bad mode", func(c *Options) { c.Mode = "on" }, "Mode"},
		{"full without interface", func(c *Options) { c.Interface = "" }, "Interface"},
		{"full without range", func(c *Options) { c.RangeFrom = netip.Addr{} }, "Range"},
		{"range reversed", func(c *Options) { c.RangeFrom, c.RangeTo = c.RangeTo, c.RangeFrom }, "Range"},
		{"range v6", func(c *Options) { c.RangeFrom = netip.MustParseAddr("fd00::1") }, "Range"},
		{"range outside subnet", func(c *Options) { c.RangeTo = netip.MustParseAddr("10.78.0.1") }, "Range"},
		{"bad reservation mac", func(c *Options) { c.Reservations = map[string]netip.Addr{"zz": srvIP} }, "Reservations"},
		{"reservation outside subnet", func(c *Options) {
			c.Reservations = map[string]netip.Addr{"52:54:00:00:00:01": netip.MustParseAddr("192.168.1.1")}
		}, "Reservations"},
		{"reservation on the broadcast address", func(c *Options) {
			c.Reservations = map[string]netip.Addr{"52:54:00:00:00:01": netip.MustParseAddr("10.77.0.255")}
		}, "Reservations"},
		{"reservation on the network address", func(c *Options) {
			c.Reservations = map[string]netip.Addr{"52:54:00:00:00:01": netip.MustParseAddr("10.77.0.0")}
		}, "Reservations"},
		{"reservation on the server address", func(c *Options) {
			c.Reservations = map[string]netip.Addr{"52:54:00:00:00:01": srvIP}
		}, "Reservations"},
		{"range of only the server address", func(c *Options) { c.RangeFrom, c.RangeTo = srvIP, srvIP }, "Range"},
		{"range of only network and server", func(c *Options) {
			c.RangeFrom, c.RangeTo = netip.MustParseAddr("10.77.0.0"), srvIP
		}, "Range"},
		{"range covering the reserved addresses", func(c *Options) {
			c.RangeFrom, c.RangeTo = netip.MustParseAddr("10.77.0.0"), netip.MustParseAddr("10.77.0.255")
		}, ""},
		{"proxy without interface or ip", func(c *Options) { *c = Options{Mode: Proxy} }, "ServerIP"},
		{"short lease", func(c *Options) { c.LeaseTime = time.Second }, "LeaseTime"},
		{"bad port", func(c *Options) { c.HTTPPort = 70000 }, "HTTPPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.cfg(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want ErrConfig naming %s", err, tt.field)
			}
		})
	}
}

// A range covering the network, broadcast and server addresses never
// leases them: in 10.77.0.0/30 with the server on .1 only .2 is left.
func TestReservedAddressesNeverLeased(t *testing.T) {
	cfg := fullConfig()
	cfg.Subnet = netip.MustParsePrefix("10.77.0.0/30")
	cfg.RangeFrom, cfg.RangeTo = netip.MustParseAddr("10.77.0.0"), netip.MustParseAddr("10.77.0.3")
	s := newServer(t, cfg, &leases.Memory{Now: func() time.Time { return now0 }})
	for _, bad := range []string{"10.77.0.0", "10.77.0.1", "10.77.0.3"} {
		offer, _ := exchange(t, s, msg(t, mac(9), dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4(bad)))), false)
		if offer == nil || offer.YourIPAddr.String() != "10.77.0.2" {
			t.Errorf("DISCOVER asking for %s: offer %v, want 10.77.0.2", bad, offer)
		}
		req := msg(t, mac(9), dhcpv4.MessageTypeRequest,
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice())), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4(bad))))
		if resp, _ := exchange(t, s, req, false); resp == nil || resp.MessageType() != dhcpv4.MessageTypeNak {
			t.Errorf("REQUEST for %s: %v, want NAK", bad, resp)
		}
		renew := msg(t, mac(9), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4(bad)))
		if resp, _ := exchange(t, s, renew, false); resp == nil || resp.MessageType() != dhcpv4.MessageTypeNak {
			t.Errorf("RENEWING %s: %v, want NAK", bad, resp)
		}
	}
	if ack := dora(t, s, mac(9)); ack.YourIPAddr.String() != "10.77.0.2" {
		t.Errorf("lease = %v, want 10.77.0.2", ack.YourIPAddr)
	}
	if offer, _ := exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeDiscover), false); offer != nil {
		t.Errorf("DISCOVER with .2 leased: offer of %v, want none (the rest is unusable)", offer.YourIPAddr)
	}
}

func TestParseRange(t *testing.T) {
	from, to, err := ParseRange("10.0.0.10-10.0.0.20")
	if err != nil || from != netip.MustParseAddr("10.0.0.10") || to != netip.MustParseAddr("10.0.0.20") {
		t.Fatalf("ParseRange = %v %v %v", from, to, err)
	}
	for _, bad := range []string{"", "10.0.0.1", "10.0.0.9-10.0.0.1", "a-b", "fd00::1-fd00::2"} {
		if _, _, err := ParseRange(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseRange(%q) = %v, want ErrConfig", bad, err)
		}
	}
}

func TestFullDORAOptionsAndTimeline(t *testing.T) {
	st := &leases.Memory{Now: func() time.Time { return now0 }}
	s := newServer(t, fullConfig(), st)
	// A BIOS PXE ROM.
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithOption(dhcpv4.OptHostName("node1")),
	}
	ack := dora(t, s, mac(1), pxe...)
	type got struct {
		YI, SI, Router, DNS, Mask, SID string
		File, Vendor                   string
		Lease, T1, T2                  time.Duration
		O224, O226                     string
		O225                           uint16
		PXEOpts                        []byte
	}
	g := got{
		YI: ack.YourIPAddr.String(), SI: ack.ServerIPAddr.String(),
		Router: ack.Router()[0].String(), DNS: ack.DNS()[0].String(),
		Mask: net.IP(ack.SubnetMask()).String(), SID: ack.ServerIdentifier().String(),
		File: ack.BootFileName, Vendor: ack.ClassIdentifier(),
		Lease: ack.IPAddressLeaseTime(0), T1: ack.IPAddressRenewalTime(0), T2: ack.IPAddressRebindingTime(0),
		O224:    net.IP(ack.GetOneOption(dhcpv4.GenericOptionCode(224))).String(),
		O226:    string(ack.GetOneOption(dhcpv4.GenericOptionCode(226))),
		O225:    binary.BigEndian.Uint16(ack.GetOneOption(dhcpv4.GenericOptionCode(225))),
		PXEOpts: ack.GetOneOption(dhcpv4.OptionVendorSpecificInformation),
	}
	want := got{
		YI: "10.77.0.100", SI: "10.77.0.1", Router: "10.77.0.1", DNS: "10.77.0.1", Mask: "255.255.255.0", SID: "10.77.0.1",
		File: "undionly.kpxe", Vendor: "PXEClient",
		Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second,
		O224: "10.77.0.1", O226: "/razor/api", O225: 8026,
		PXEOpts: []byte{6, 1, 8, 255},
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("ACK for a BIOS PXE ROM (-want +got):\n%s", diff)
	}
	l, err := st.GetLease(context.Background(), "52:54:00:00:00:01")
	if err != nil {
		t.Fatalf("GetLease after ACK = %v, want the lease stored", err)
	}
	wantL := leases.Lease{MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.77.0.100"), Hostname: "node1", Expires: now0.Add(time.Hour)}
	if diff := cmp.Diff(wantL, l, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("stored lease (-want +got):\n%s", diff)
	}
	// iPXE itself (option 77) gets the script URL.
	ack2 := dora(t, s, mac(2), append(pxe, dhcpv4.WithUserClass("iPXE", false))...)
	if ack2.BootFileName != "http://10.77.0.1:8026/boot.ipxe" {
		t.Errorf("iPXE boot file = %q, want the script URL", ack2.BootFileName)
	}
	// A plain client gets no boot file and no PXEClient, but the Razor options.
	ack3 := dora(t, s, mac(3))
	if ack3.BootFileName != "" || ack3.ClassIdentifier() != "" || ack3.GetOneOption(dhcpv4.GenericOptionCode(224)) == nil {
		t.Errorf("plain client ACK: file %q vendor %q opt224 %v, want no boot file, no vendor class, option 224", ack3.BootFileName, ack3.ClassIdentifier(), ack3.GetOneOption(dhcpv4.GenericOptionCode(224)))
	}
	// The pool (3 addresses) is exhausted now.
	if r, _ := exchange(t, s, msg(t, mac(4), dhcpv4.MessageTypeDiscover), false); r != nil {
		t.Errorf("DISCOVER on an exhausted pool = %v, want no reply", r.MessageType())
	}
}

func TestFastPathOff(t *testing.T) {
	cfg := fullConfig()
	cfg.DisableFastPath = true
	s := newServer(t, cfg, &leases.Memory{})
	offer, _ := exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeDiscover,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))), false)
	if offer.ClassIdentifier() != "" || offer.BootFileName != "undionly.kpxe" {
		t.Errorf("offer with fast path off: vendor %q file %q, want no option 60 and the boot file", offer.ClassIdentifier(), offer.BootFileName)
	}
}

func TestRequestStates(t *testing.T) {
	st := &leases.Memory{Now: func() time.Time { return now0 }}
	s := newServer(t, fullConfig(), st)
	ack := dora(t, s, mac(1))
	ip := ack.YourIPAddr
	other := dora(t, s, mac(3)).YourIPAddr

	tests := []struct {
		name     string
		req      *dhcpv4.DHCPv4
		wantType dhcpv4.MessageType // 0 = no reply
		wantDst  string
	}{
		{"renewing unicast", msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip)), dhcpv4.MessageTypeAck, ip.String() + ":68"},
		{"rebinding broadcast", msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip), dhcpv4.WithBroadcast(true)), dhcpv4.MessageTypeAck, ip.String() + ":68"},
		{"init-reboot own address", msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))), dhcpv4.MessageTypeAck, "255.255.255.255:68"},
		{"init-reboot other network", msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("192.168.9.9")))), dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"address held by another", msg(t, mac(3), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))), dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"address outside pool", msg(t, mac(3), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.50")))), dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"init-reboot own second address", msg(t, mac(3), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(other.To4()))), dhcpv4.MessageTypeAck, "255.255.255.255:68"},
		// RFC 2131 §4.3.2: no record of the client, so silence, whatever
		// it asks for.
		{"init-reboot unknown client, free address", msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.102")))), 0, ""},
		{"init-reboot unknown client, held address", msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))), 0, ""},
		{"init-reboot unknown client, other network", msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("192.168.9.9")))), 0, ""},
		{"selecting our server, missing address", msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice()))), dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"selecting another server", msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip4("10.77.0.2"))), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.101")))), 0, ""},
		{"relayed request answered to relay", msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithGatewayIP(ip4("10.77.0.254")), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))), dhcpv4.MessageTypeAck, "10.77.0.254:67"},
		{"relay from another network dropped", msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithGatewayIP(ip4("10.99.0.1")), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))), 0, ""},
		{"inform", msg(t, mac(5), dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(ip4("10.77.0.9"))), dhcpv4.MessageTypeAck, "10.77.0.9:68"},
		{"inform from off the subnet", msg(t, mac(5), dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(ip4("198.51.100.7"))), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, dst := exchange(t, s, tt.req, false)
			if tt.wantType == 0 {
				if resp != nil {
					t.Fatalf("reply %v, want none", resp.MessageType())
				}
				return
			}
			if resp == nil {
				t.Fatalf("no reply, want %v", tt.wantType)
			}
			if resp.MessageType() != tt.wantType || dst.String() != tt.wantDst {
				t.Fatalf("reply %v to %v (%s), want %v to %v", resp.MessageType(), dst, resp.Message(), tt.wantType, tt.wantDst)
			}
			if tt.wantType == dhcpv4.MessageTypeNak && (!resp.YourIPAddr.IsUnspecified() || resp.Message() == "") {
				t.Errorf("NAK yiaddr %v message %q, want 0.0.0.0 and a reason", resp.YourIPAddr, resp.Message())
			}
		})
	}
}

func TestDeclineReleaseReservation(t *testing.T) {
	st := &leases.Memory{Now: func() time.Time { return now0 }}
	cfg := fullConfig()
	cfg.Reservations = map[string]netip.Addr{"52-54-00-00-00-09": netip.MustParseAddr("10.77.0.20")}
	s := newServer(t, cfg, st)
	ctx := context.Background()

	// A reserved MAC gets its address, even outside the range.
	if got := dora(t, s, mac(9)).YourIPAddr.String(); got != "10.77.0.20" {
		t.Errorf("reserved client got %s, want 10.77.0.20", got)
	}
	// Another client may not take the reserved address.
	if r, _ := exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice())), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.20")))), false); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("request for a reserved address by another MAC: %v, want NAK", r)
	}

	ack := dora(t, s, mac(1))
	declined := ack.YourIPAddr
	exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeDecline, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(declined))), false)
	if _, err := st.GetLease(ctx, "52:54:00:00:00:01"); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("lease after DECLINE: %v, want ErrNotFound", err)
	}
	// The declined address is not offered again, to anyone.
	for i := byte(1); i <= 2; i++ {
		offer, _ := exchange(t, s, msg(t, mac(i), dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(declined))), false)
		if offer == nil || offer.YourIPAddr.Equal(declined) {
			t.Errorf("offer after DECLINE to %v = %v, want another address than %v", mac(i), offer, declined)
		}
	}
	// After the hold it comes back.
	later := now0.Add(DefaultDeclineHold + time.Minute)
	s.cfg.Now = func() time.Time { return later }
	st.Now = s.cfg.Now
	offer, _ := exchange(t, s, msg(t, mac(3), dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(declined))), false)
	if offer == nil || !offer.YourIPAddr.Equal(declined) {
		t.Errorf("offer after the decline hold = %v, want %v", offer, declined)
	}

	ack2 := dora(t, s, mac(2))
	exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(ack2.YourIPAddr)), false)
	if _, err := st.GetLease(ctx, "52:54:00:00:00:02"); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("lease after RELEASE: %v, want ErrNotFound", err)
	}
}

func TestLeasesSurviveRestart(t *testing.T) {
	st := &leases.Memory{Now: func() time.Time { return now0 }}
	s1 := newServer(t, fullConfig(), st)
	a := dora(t, s1, mac(1)).YourIPAddr
	b := dora(t, s1, mac(2)).YourIPAddr

	// A new server on the same store: same client, same address; the
	// other client's address is not offered to a newcomer.
	s2 := newServer(t, fullConfig(), st)
	offer, _ := exchange(t, s2, msg(t, mac(1), dhcpv4.MessageTypeDiscover), false)
	if offer == nil || !offer.YourIPAddr.Equal(a) {
		t.Fatalf("offer to a known client after restart = %v, want %v", offer, a)
	}
	renew, _ := exchange(t, s2, msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(b)), false)
	if renew == nil || renew.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("renew after restart = %v, want ACK", renew)
	}
	c, _ := exchange(t, s2, msg(t, mac(3), dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(b))), false)
	if c == nil || c.YourIPAddr.Equal(a) || c.YourIPAddr.Equal(b) {
		t.Fatalf("offer to a newcomer after restart = %v, want a free address", c)
	}
}

// recordingStore is a Store that records calls and can fail.
type recordingStore struct {
	leases.Memory
	mu    sync.Mutex
	calls []string
	fail  error
}

func (r *recordingStore) PutLease(ctx context.Context, l leases.Lease) error {
	r.mu.Lock()
	r.calls = append(r.calls, "put "+l.MAC+" "+l.IP.String())
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail
	}
	return r.Memory.PutLease(ctx, l)
}

func TestStoreIsUsedAndFailureMeansNoAck(t *testing.T) {
	st := &recordingStore{}
	st.Memory.Now = func() time.Time { return now0 }
	s := newServer(t, fullConfig(), st)
	dora(t, s, mac(1))
	if diff := cmp.Diff([]string{"put 52:54:00:00:00:01 10.77.0.100"}, st.calls); diff != "" {
		t.Errorf("store calls (-want +got):\n%s", diff)
	}
	st.fail = errors.New("disk full")
	offer, _ := exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeDiscover), false)
	r, _ := exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))), false)
	if r != nil {
		t.Errorf("REQUEST while the store fails: reply %v, want none (no ACK for a lease that is not durable)", r.MessageType())
	}
	// A conflict from the store (another replica holds the address) is a NAK.
	st.fail = leases.ErrConflict
	r, _ = exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))), false)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("REQUEST on a store conflict: %v, want NAK", r)
	}
}

func TestProxy(t *testing.T) {
	s := newServer(t, Options{Mode: Proxy, ServerIP: srvIP, HTTPPort: 8080}, nil)
	uefi := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
	}
	offer, dst := exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeDiscover, uefi...), false)
	if offer == nil {
		t.Fatal("proxy DISCOVER from a PXE client: no reply")
	}
	type got struct {
		Type                      dhcpv4.MessageType
		YI, SI, SID, Dst, File, V string
	}
	want := got{dhcpv4.MessageTypeOffer, "0.0.0.0", "10.77.0.1", "10.77.0.1", "255.255.255.255:68", "snponly.efi", "PXEClient"}
	g := got{offer.MessageType(), offer.YourIPAddr.String(), offer.ServerIPAddr.String(), offer.ServerIdentifier().String(), dst.String(), offer.BootFileName, offer.ClassIdentifier()}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("proxy offer (-want +got):\n%s", diff)
	}
	// Port 4011: REQUEST → ACK back to the sender.
	req := msg(t, mac(1), dhcpv4.MessageTypeRequest, append(uefi, dhcpv4.WithClientIP(ip4("192.168.5.20")))...)
	out, dst4011 := s.HandlePacket(context.Background(), req.ToBytes(), &net.UDPAddr{IP: ip4("192.168.5.20"), Port: 68}, true)
	ack, err := dhcpv4.FromBytes(out)
	if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "snponly.efi" || dst4011.String() != "192.168.5.20:68" {
		t.Errorf("proxy 4011 ACK = %v to %v (%v), want ACK snponly.efi to 192.168.5.20:68", ack, dst4011, err)
	}
	// Non-PXE clients and requests on 67 are ignored.
	for _, m := range []*dhcpv4.DHCPv4{
		msg(t, mac(2), dhcpv4.MessageTypeDiscover),
		msg(t, mac(1), dhcpv4.MessageTypeRequest, uefi...),
	} {
		if r, _ := exchange(t, s, m, false); r != nil {
			t.Errorf("proxy answered %v: %v, want nothing", m.MessageType(), r.MessageType())
		}
	}
}

func TestHandlePacketGarbage(t *testing.T) {
	s := newServer(t, fullConfig(), &leases.Memory{})
	for _, pkt := range [][]byte{nil, {1}, make([]byte, 240), []byte(strings.Repeat("\xff", 600))} {
		if out, _ := s.HandlePacket(context.Background(), pkt, peer68, false); out != nil {
			t.Errorf("HandlePacket(% x…) replied", pkt[:min(len(pkt), 8)])
		}
	}
}

// A DISCOVER flood on an exhausted pool logs a few warnings, not one per
// packet; the rest are counted through LogDropped.
func TestExhaustedWarningRateLimited(t *testing.T) {
	cfg := fullConfig()
	cfg.RangeFrom, cfg.RangeTo = netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.100")
	var mu sync.Mutex
	dropped := 0
	cfg.LogDropped = func(event string) {
		mu.Lock()
		defer mu.Unlock()
		if event == "exhausted" {
			dropped++
		}
	}
	var buf syncbuf.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	s, err := New(cfg, &leases.Memory{Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	dora(t, s, mac(1))
	for i := range 500 {
		exchange(t, s, msg(t, net.HardwareAddr{0x52, 0x54, 1, 0, byte(i >> 8), byte(i)}, dhcpv4.MessageTypeDiscover), false)
	}
	lines := strings.Count(buf.String(), "pool exhausted")
	if lines == 0 || lines > 10 {
		t.Errorf("%d \"pool exhausted\" lines for 500 DISCOVERs, want a few", lines)
	}
	mu.Lock()
	defer mu.Unlock()
	if lines+dropped != 500 {
		t.Errorf("logged %d + dropped %d, want 500 in all", lines, dropped)
	}
}

// With Who, the lines about a known node carry node= beside mac=.
func TestLogLinesNameTheNode(t *testing.T) {
	cfg := fullConfig()
	var buf syncbuf.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	known := strings.ToUpper(mac(1).String())
	cfg.Who = func(m string) string {
		if m == known {
			return "node9"
		}
		return ""
	}
	s, err := New(cfg, &leases.Memory{Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	dora(t, s, mac(1))
	dora(t, s, mac(2))
	var withNode, without int
	for _, l := range strings.Split(buf.String(), "\n") {
		switch {
		case strings.Contains(l, "mac="+known):
			if !strings.Contains(l, "node=node9") {
				t.Errorf("line about the known node lacks node=: %s", l)
			}
			withNode++
		case strings.Contains(l, "mac="):
			if strings.Contains(l, "node=") {
				t.Errorf("line about an unknown MAC has node=: %s", l)
			}
			without++
		}
	}
	if withNode == 0 || without == 0 {
		t.Errorf("%d lines about the known node, %d about the other; want both:\n%s", withNode, without, buf.String())
	}
}
