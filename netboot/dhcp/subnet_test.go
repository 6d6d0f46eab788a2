package dhcp

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/ipxe"
)

// multiConfig serves 10.77.0.0/24 directly (srvIP is in it) and
// 10.88.0.0/24 behind a relay at 10.88.0.1.
func multiConfig() Options {
	a := netip.MustParseAddr
	return Options{
		Mode: Full, Interface: "test0", ServerIP: srvIP, LeaseTime: time.Hour,
		Now: func() time.Time { return now0 },
		Subnets: []Subnet{{
			Prefix:  netip.MustParsePrefix("10.77.0.0/24"),
			Ranges:  []Range{{a("10.77.0.100"), a("10.77.0.101")}, {a("10.77.0.200"), a("10.77.0.200")}},
			Routers: []netip.Addr{srvIP}, DNS: []netip.Addr{srvIP}, DomainName: "direct.example",
			Reservations: []Reservation{
				{MAC: "52:54:00:00:00:09", IP: a("10.77.0.101"), Hostname: "node9"},
				{MAC: "52:54:00:00:00:0a", Hostname: "node10", BootFile: "ipxe.efi"},
			},
		}, {
			Prefix:  netip.MustParsePrefix("10.88.0.0/24"),
			Ranges:  []Range{{a("10.88.0.50"), a("10.88.0.59")}},
			Routers: []netip.Addr{a("10.88.0.1")}, DNS: []netip.Addr{a("10.88.0.2"), a("10.88.0.3")},
			NTP: []netip.Addr{a("10.88.0.4")}, DomainName: "relayed.example", DomainSearch: []string{"relayed.example", "example"},
			LeaseTime: 10 * time.Minute,
		}},
	}
}

// opts summarises what a client configures from a reply.
type opts struct {
	Type                                string
	YI, Mask, Routers, DNS, NTP, Domain string
	Search                              string
	Lease                               time.Duration
	Host, File                          string
}

func optsOf(m *dhcpv4.DHCPv4) opts {
	var search string
	if s := m.DomainSearch(); s != nil {
		search = strings.Join(s.Labels, ",")
	}
	return opts{
		Type: m.MessageType().String(), YI: m.YourIPAddr.String(), Mask: netip.PrefixFrom(netip.IPv4Unspecified(), maskBits(m)).String(),
		Routers: fmtIPs(m.Router()), DNS: fmtIPs(m.DNS()), NTP: fmtIPs(m.NTPServers()), Domain: m.DomainName(), Search: search,
		Lease: m.IPAddressLeaseTime(0), Host: m.HostName(), File: m.BootFileName,
	}
}

func maskBits(m *dhcpv4.DHCPv4) int {
	ones, _ := m.SubnetMask().Size()
	return ones
}

func fmtIPs[T interface{ String() string }](ips []T) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return strings.Join(s, ",")
}

func TestSubnetSelection(t *testing.T) {
	s := newServer(t, multiConfig(), &leases.Memory{})
	relay := dhcpv4.WithGatewayIP(ip4("10.88.0.1"))

	direct := dora(t, s, mac(1))
	want := opts{Type: "ACK", YI: "10.77.0.100", Mask: "0.0.0.0/24", Routers: "10.77.0.1", DNS: "10.77.0.1", Domain: "direct.example", Lease: time.Hour}
	if diff := cmp.Diff(want, optsOf(direct)); diff != "" {
		t.Errorf("direct client (-want +got):\n%s", diff)
	}
	relayed := dora(t, s, mac(2), relay)
	want = opts{Type: "ACK", YI: "10.88.0.50", Mask: "0.0.0.0/24", Routers: "10.88.0.1", DNS: "10.88.0.2,10.88.0.3", NTP: "10.88.0.4",
		Domain: "relayed.example", Search: "relayed.example,example", Lease: 10 * time.Minute}
	if diff := cmp.Diff(want, optsOf(relayed)); diff != "" {
		t.Errorf("relayed client (-want +got):\n%s", diff)
	}
	// RFC 2131 §4.1: the reply to a relayed request goes to the relay's
	// port 67.
	_, dst := exchange(t, s, msg(t, mac(3), dhcpv4.MessageTypeDiscover, relay), false)
	if dst == nil || dst.String() != "10.88.0.1:67" {
		t.Errorf("relayed OFFER sent to %v, want 10.88.0.1:67", dst)
	}
	// RENEWING, unicast from the relayed subnet without giaddr: served
	// from the subnet of ciaddr.
	renew, _ := exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4("10.88.0.50"))), false)
	if renew == nil || renew.MessageType() != dhcpv4.MessageTypeAck || renew.DomainName() != "relayed.example" {
		t.Errorf("renewal from 10.88.0.50 = %v, want an ACK with the relayed subnet's options", renew)
	}
}

func TestUnconfiguredSubnetIsLoggedNotAnswered(t *testing.T) {
	var logs bytes.Buffer
	cfg := multiConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := New(cfg, &leases.Memory{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r, _ := exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(ip4("10.99.0.1"))), false); r != nil {
			t.Fatalf("DISCOVER via relay 10.99.0.1 answered with %v, want nothing", r.MessageType())
		}
	}
	if got := strings.Count(logs.String(), "relay 10.99.0.1 is in no configured subnet"); got != 1 {
		t.Errorf("warnings for relay 10.99.0.1 = %d, want 1 (once a minute)\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}

	// A server whose interface is on no configured subnet serves only
	// relayed requests.
	cfg.ServerIP = netip.MustParseAddr("192.168.9.1")
	s = newServer(t, cfg, &leases.Memory{})
	if r, _ := exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeDiscover), false); r != nil {
		t.Errorf("direct DISCOVER with no direct subnet answered %v", r.MessageType())
	}
	if r, _ := exchange(t, s, msg(t, mac(1), dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(ip4("10.88.0.1"))), false); r == nil {
		t.Error("relayed DISCOVER not answered")
	}
}

func TestReservations(t *testing.T) {
	s := newServer(t, multiConfig(), &leases.Memory{})
	// The reserved host gets its address and name.
	ack := dora(t, s, mac(9))
	if got := optsOf(ack); got.YI != "10.77.0.101" || got.Host != "node9" {
		t.Errorf("reserved host: %s %q, want 10.77.0.101 node9", got.YI, got.Host)
	}
	// Others never get 10.77.0.101, though it is inside a range: two
	// clients take 10.77.0.100 and 10.77.0.200, the third gets nothing.
	seen := map[string]bool{}
	for n := byte(1); n <= 2; n++ {
		seen[dora(t, s, mac(n)).YourIPAddr.String()] = true
	}
	if !seen["10.77.0.100"] || !seen["10.77.0.200"] {
		t.Errorf("addresses leased = %v, want 10.77.0.100 and 10.77.0.200", seen)
	}
	if r, _ := exchange(t, s, msg(t, mac(3), dhcpv4.MessageTypeDiscover), false); r != nil {
		t.Errorf("third client offered %v, want nothing (the rest is reserved)", r.YourIPAddr)
	}
	// Asking for the reserved address explicitly is refused too.
	nak, _ := exchange(t, s, msg(t, mac(3), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.101"))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice()))), false)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("REQUEST for another's reserved address = %v, want NAK", nak)
	}
	// A reservation without an address: a pool address, its name, and
	// its boot file for the firmware stage.
	s2 := newServer(t, multiConfig(), &leases.Memory{})
	ack = dora(t, s2, mac(10), biosPXE...)
	if got := optsOf(ack); got.Host != "node10" || got.File != "ipxe.efi" || got.YI != "10.77.0.100" {
		t.Errorf("host by MAC: %+v, want node10, ipxe.efi, 10.77.0.100", got)
	}
}

func TestProxyReservationBootFile(t *testing.T) {
	cfg := Options{Mode: Proxy, ServerIP: srvIP, Subnets: []Subnet{{
		Prefix:       netip.MustParsePrefix("10.77.0.0/24"),
		Reservations: []Reservation{{MAC: "52:54:00:00:00:0a", BootFile: "ipxe.efi"}},
	}}}
	s := newServer(t, cfg, nil)
	for _, tc := range []struct {
		hw   byte
		want string
	}{{10, "ipxe.efi"}, {11, "undionly.kpxe"}} {
		offer, _ := exchange(t, s, msg(t, mac(tc.hw), dhcpv4.MessageTypeDiscover, biosPXE...), false)
		if offer == nil || offer.BootFileName != tc.want {
			t.Errorf("proxy offer to %v = %v, want boot file %s", mac(tc.hw), offer, tc.want)
		}
	}
	// iPXE still gets the script.
	offer, _ := exchange(t, s, msg(t, mac(10), dhcpv4.MessageTypeDiscover, append(biosPXE, dhcpv4.WithUserClass("iPXE", false))...), false)
	if offer == nil || !strings.HasSuffix(offer.BootFileName, "/boot.ipxe") {
		t.Errorf("proxy offer to iPXE = %v, want the script", offer)
	}
}

func TestCheckSubnets(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name string
		edit func(s []Subnet) []Subnet
		path string // "" = valid
	}{
		{"ok", func(s []Subnet) []Subnet { return s }, ""},
		{"ranges overlap across a subnet", func(s []Subnet) []Subnet {
			s[0].Ranges = append(s[0].Ranges, Range{a("10.77.0.90"), a("10.77.0.100")})
			return s
		}, "subnets[0].ranges[2]"},
		{"range outside", func(s []Subnet) []Subnet { s[1].Ranges[0].To = a("10.89.0.1"); return s }, "subnets[1].ranges[0]"},
		{"router outside", func(s []Subnet) []Subnet { s[1].Routers = []netip.Addr{a("10.77.0.1")}; return s }, "subnets[1].routers[0]"},
		{"reservation outside every subnet", func(s []Subnet) []Subnet { s[0].Reservations[0].IP = a("172.16.0.1"); return s }, "subnets[0].reservations[0].ip"},
		{"reserved broadcast", func(s []Subnet) []Subnet { s[0].Reservations[0].IP = a("10.77.0.255"); return s }, "subnets[0].reservations[0].ip"},
		{"duplicate mac", func(s []Subnet) []Subnet {
			s[1].Reservations = []Reservation{{MAC: "52-54-00-00-00-09", IP: a("10.88.0.9")}}
			return s
		}, "subnets[1].reservations[0].mac"},
		{"duplicate address", func(s []Subnet) []Subnet { s[0].Reservations[1].IP = a("10.77.0.101"); return s }, "subnets[0].reservations[1].ip"},
		{"subnets overlap", func(s []Subnet) []Subnet { s[1].Prefix = netip.MustParsePrefix("10.0.0.0/8"); return s }, "subnets[1].subnet"},
		{"empty reservation", func(s []Subnet) []Subnet {
			s[0].Reservations[1].Hostname, s[0].Reservations[1].BootFile = "", ""
			return s
		}, "subnets[0].reservations[1].mac"},
		{"bad hostname", func(s []Subnet) []Subnet { s[0].Reservations[0].Hostname = "a b"; return s }, "subnets[0].reservations[0].hostname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := multiConfig().Subnets
			err := CheckSubnets(true, tt.edit(s))
			if tt.path == "" {
				if err != nil {
					t.Fatalf("CheckSubnets() = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || PathString(ce.Path) != tt.path {
				t.Fatalf("CheckSubnets() = %v, want a ConfigError at %s", err, tt.path)
			}
		})
	}
	// The shorthand and Subnets exclude each other.
	c := multiConfig()
	c.RangeFrom, c.RangeTo = a("10.77.0.5"), a("10.77.0.6")
	if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Subnets") {
		t.Errorf("Validate(Subnets and Range) = %v, want ErrConfig naming Subnets", err)
	}
}

// RFC 3046 §2.2: a reply to a relayed request carries the relay agent
// information option back unchanged (the relay strips it).
func TestRelayAgentInfoEchoed(t *testing.T) {
	s := newServer(t, multiConfig(), &leases.Memory{})
	rai := dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 4, 'p', 'o', 'r', 't'})
	offer, _ := exchange(t, s, msg(t, mac(4), dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(ip4("10.88.0.1")), dhcpv4.WithOption(rai)), false)
	if offer == nil {
		t.Fatal("relayed DISCOVER not answered")
	}
	if got := offer.GetOneOption(dhcpv4.OptionRelayAgentInformation); !bytes.Equal(got, rai.Value.ToBytes()) {
		t.Errorf("option 82 in the OFFER = % x, want % x", got, rai.Value.ToBytes())
	}
}

// A client that moves to another subnet frees its old address (the store
// keeps one lease per MAC), so another client can have it.
func TestMovedClientFreesOldAddress(t *testing.T) {
	cfg := multiConfig()
	cfg.Subnets[0].Ranges = cfg.Subnets[0].Ranges[:1] // 10.77.0.100-101; .101 is reserved
	s := newServer(t, cfg, &leases.Memory{})
	if ip := dora(t, s, mac(1)).YourIPAddr.String(); ip != "10.77.0.100" {
		t.Fatalf("first client got %s, want 10.77.0.100", ip)
	}
	if r, _ := exchange(t, s, msg(t, mac(2), dhcpv4.MessageTypeDiscover), false); r != nil {
		t.Fatalf("second client offered %v while the pool is full", r.YourIPAddr)
	}
	if ip := dora(t, s, mac(1), dhcpv4.WithGatewayIP(ip4("10.88.0.1"))).YourIPAddr.String(); ip != "10.88.0.50" {
		t.Fatalf("moved client got %s, want 10.88.0.50", ip)
	}
	if ip := dora(t, s, mac(2)).YourIPAddr.String(); ip != "10.77.0.100" {
		t.Errorf("second client got %s after the first moved, want 10.77.0.100", ip)
	}
}

// The server's own address may not be reserved, and a client known in
// one subnet that INIT-REBOOTs into another is told it is on the wrong
// network (RFC 2131 §4.3.2), not ignored as a stranger.
func TestServerAddressAndMovedClient(t *testing.T) {
	cfg := multiConfig()
	cfg.Subnets[0].Reservations[0].IP = srvIP
	var ce *ConfigError
	if _, err := New(cfg, &leases.Memory{}); !errors.As(err, &ce) || PathString(ce.Path) != "subnets[0].reservations[0].ip" {
		t.Errorf("New(reservation of the server's address) = %v, want a ConfigError at subnets[0].reservations[0].ip", err)
	}
	s := newServer(t, multiConfig(), &leases.Memory{})
	dora(t, s, mac(1))
	moved := msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithGatewayIP(ip4("10.88.0.1")), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.100"))))
	if r, _ := exchange(t, s, moved, false); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("INIT-REBOOT of a known client on another subnet = %v, want NAK", r)
	}
	stranger := msg(t, mac(7), dhcpv4.MessageTypeRequest, dhcpv4.WithGatewayIP(ip4("10.88.0.1")), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.100"))))
	if r, _ := exchange(t, s, stranger, false); r != nil {
		t.Errorf("INIT-REBOOT of an unknown client = %v, want silence", r.MessageType())
	}
	// The network, broadcast and server addresses are never leased
	// from a subnet's ranges (10.77.0.1 is the server).
	cfg = multiConfig()
	cfg.Subnets[0].Ranges = []Range{{netip.MustParseAddr("10.77.0.0"), netip.MustParseAddr("10.77.0.2")}}
	cfg.Subnets[0].Reservations = nil
	s = newServer(t, cfg, &leases.Memory{})
	if ip := dora(t, s, mac(1)).YourIPAddr.String(); ip != "10.77.0.2" {
		t.Errorf("lease from 10.77.0.0-10.77.0.2 = %s, want 10.77.0.2", ip)
	}
}

// TestUEFILoaderSettings: the UEFI loader is the reservation's, else the
// subnet's, else the server's; auto follows SignedChain.
func TestUEFILoaderSettings(t *testing.T) {
	uefiPXE := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
	}
	signed := true
	cfg := multiConfig()
	cfg.SignedChain = func(fw ipxe.Firmware) bool { return signed && fw == ipxe.EFIX86_64 }
	cfg.Subnets[0].Reservations = append(cfg.Subnets[0].Reservations,
		Reservation{MAC: "52:54:00:00:00:0b", IP: netip.MustParseAddr("10.77.0.150"), UEFILoader: ipxe.LoaderIPXE},
		Reservation{MAC: "52:54:00:00:00:0c", IP: netip.MustParseAddr("10.77.0.151"), UEFILoader: ipxe.LoaderShim})
	s := newServer(t, cfg, &leases.Memory{})
	file := func(hw byte) string {
		offer, _ := exchange(t, s, msg(t, mac(hw), dhcpv4.MessageTypeDiscover, uefiPXE...), false)
		if offer == nil {
			t.Fatalf("no offer to %v", mac(hw))
		}
		return offer.BootFileName
	}
	for hw, want := range map[byte]string{1: "shimx64.efi", 11: "snponly.efi", 12: "shimx64.efi"} {
		if got := file(hw); got != want {
			t.Errorf("auto, image with the signed chain: %v gets %q, want %q", mac(hw), got, want)
		}
	}
	signed = false
	for hw, want := range map[byte]string{1: "snponly.efi", 11: "snponly.efi", 12: "shimx64.efi"} {
		if got := file(hw); got != want {
			t.Errorf("auto, image without the signed chain: %v gets %q, want %q", mac(hw), got, want)
		}
	}
	// A subnet's setting wins over the server's, a reservation's over both.
	cfg.Subnets[0].UEFILoader = ipxe.LoaderShim
	cfg.UEFILoader = ipxe.LoaderIPXE
	s = newServer(t, cfg, &leases.Memory{})
	for hw, want := range map[byte]string{1: "shimx64.efi", 11: "snponly.efi"} {
		if got := file(hw); got != want {
			t.Errorf("subnet shim, server ipxe: %v gets %q, want %q", mac(hw), got, want)
		}
	}
	// Bad settings are refused with their path.
	bad := multiConfig()
	bad.Subnets[1].UEFILoader = "grub"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "subnets[1].uefi_loader") {
		t.Errorf("Validate with uefi_loader grub = %v, want an error naming subnets[1].uefi_loader", err)
	}
	bad = multiConfig()
	bad.UEFILoader = "pxelinux"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "UEFILoader") {
		t.Errorf("Validate with UEFILoader pxelinux = %v", err)
	}
}
