package netup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/razor-mk/razor-mk/agent/leasefile"
	"github.com/razor-mk/razor-mk/wire"
)

// RequestedOptions is the parameter request list (option 55) sent in
// DISCOVER and REQUEST.
var RequestedOptions = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionBroadcastAddress,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionServerIdentifier,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
	dhcpv4.OptionTFTPServerName,
	dhcpv4.OptionBootfileName,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionClasslessStaticRoute,
	dhcpv4.GenericOptionCode(wire.OptionServer),
	dhcpv4.GenericOptionCode(wire.OptionPort),
	dhcpv4.GenericOptionCode(wire.OptionBaseURI),
}

// ErrBadLease means a DHCP ACK cannot be used to configure an interface.
var ErrBadLease = errors.New("netup: unusable lease")

// maxBaseURI bounds option 226; an option is at most 255 bytes anyway.
const maxBaseURI = 255

// Route is a classless static route (option 121). A zero Gateway means
// the destination is on the link.
type Route struct {
	Dest    netip.Prefix
	Gateway netip.Addr
}

// Lease is what one DHCP ACK says about one interface.
type Lease struct {
	Interface  string
	MAC        net.HardwareAddr
	Addr       netip.Prefix // our address with the subnet's prefix length
	Gateway    netip.Addr   // option 3 (first router); zero if none
	Routes     []Route      // option 121; when present, option 3 is ignored (RFC 3442)
	DNS        []netip.Addr // option 6
	Domain     string       // option 15
	Search     []string     // option 119
	ServerID   netip.Addr   // option 54
	NextServer netip.Addr   // siaddr
	TFTPServer string       // option 66
	BootFile   string       // option 67, else the file field
	// Razor/Hanlon site options 224, 225, 226.
	RazorServer  netip.Addr
	RazorPort    int
	RazorBaseURI string
	// Lease time (option 51) and the renewal (T1, option 58) and
	// rebinding (T2, option 59) times, defaulting to 1/2 and 7/8 of the
	// lease time (RFC 2131 §4.4.5). Zero LeaseTime means infinite.
	LeaseTime, T1, T2 time.Duration
	Obtained          time.Time
}

// ParseLease reads a DHCP ACK received on iface (hardware address mac).
// Options that are malformed are dropped; an ACK without a usable address
// is an error.
func ParseLease(iface string, mac net.HardwareAddr, ack *dhcpv4.DHCPv4, now time.Time) (Lease, error) {
	l := Lease{Interface: iface, MAC: mac, Obtained: now}
	ip, ok := addr4(ack.YourIPAddr)
	if !ok || !ip.IsGlobalUnicast() {
		return Lease{}, fmt.Errorf("%w: %s: no usable yiaddr (%v)", ErrBadLease, iface, ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = net.IP(ip.AsSlice()).DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 32 || ones == 0 {
		return Lease{}, fmt.Errorf("%w: %s: bad subnet mask %v", ErrBadLease, iface, net.IP(mask))
	}
	l.Addr = netip.PrefixFrom(ip, ones)
	for _, r := range ack.Router() {
		if a, ok := addr4(r); ok && !a.IsUnspecified() {
			l.Gateway = a
			break
		}
	}
	for _, r := range ack.ClasslessStaticRoute() {
		if r == nil || r.Dest == nil {
			continue
		}
		da, ok := addr4(r.Dest.IP)
		ones, bits := r.Dest.Mask.Size()
		if !ok || bits != 32 {
			continue
		}
		rt := Route{Dest: netip.PrefixFrom(da, ones).Masked()}
		if gw, ok := addr4(r.Router); ok && !gw.IsUnspecified() {
			rt.Gateway = gw
		}
		l.Routes = append(l.Routes, rt)
	}
	for _, d := range ack.DNS() {
		if a, ok := addr4(d); ok && !a.IsUnspecified() {
			l.DNS = append(l.DNS, a)
		}
	}
	l.Domain = cleanName(ack.DomainName())
	if s := ack.DomainSearch(); s != nil {
		for _, n := range s.Labels {
			if n = cleanName(n); n != "" {
				l.Search = append(l.Search, n)
			}
		}
	}
	l.ServerID, _ = addr4(ack.ServerIdentifier())
	if a, ok := addr4(ack.ServerIPAddr); ok && !a.IsUnspecified() {
		l.NextServer = a
	}
	l.TFTPServer = printable(ack.TFTPServerName())
	l.BootFile = printable(ack.BootFileNameOption())
	if l.BootFile == "" {
		l.BootFile = printable(ack.BootFileName)
	}
	if b := ack.GetOneOption(dhcpv4.GenericOptionCode(wire.OptionServer)); len(b) == 4 {
		if a, ok := netip.AddrFromSlice(b); ok && !a.IsUnspecified() {
			l.RazorServer = a
		}
	}
	if b := ack.GetOneOption(dhcpv4.GenericOptionCode(wire.OptionPort)); len(b) >= 1 && len(b) <= 4 {
		// 16 bits in Hanlon's definition; accept any integer width a
		// server may pick (dnsmasq sizes untyped numbers to fit).
		var v uint32
		for _, c := range b {
			v = v<<8 | uint32(c)
		}
		if v > 0 && v <= 65535 {
			l.RazorPort = int(v)
		}
	}
	if b := ack.GetOneOption(dhcpv4.GenericOptionCode(wire.OptionBaseURI)); len(b) > 0 && len(b) <= maxBaseURI {
		l.RazorBaseURI = printable(strings.TrimRight(string(b), "\x00"))
	}
	l.LeaseTime = ack.IPAddressLeaseTime(0)
	if b := ack.GetOneOption(dhcpv4.OptionIPAddressLeaseTime); len(b) == 4 && binary.BigEndian.Uint32(b) == 0xffffffff {
		l.LeaseTime = 0 // infinite
	}
	if l.LeaseTime > 0 {
		l.T1 = ack.IPAddressRenewalTime(l.LeaseTime / 2)
		l.T2 = ack.IPAddressRebindingTime(l.LeaseTime * 7 / 8)
		if l.T1 <= 0 || l.T1 > l.LeaseTime {
			l.T1 = l.LeaseTime / 2
		}
		if l.T2 < l.T1 || l.T2 > l.LeaseTime {
			l.T2 = l.LeaseTime * 7 / 8
		}
	}
	return l, nil
}

// Info is the lease as agent/leasefile records it.
func (l Lease) Info() leasefile.Info {
	in := leasefile.Info{
		Interface:    l.Interface,
		MAC:          l.MAC.String(),
		Address:      l.Addr.String(),
		Domain:       l.Domain,
		RazorPort:    l.RazorPort,
		RazorBaseURI: l.RazorBaseURI,
		LeaseSeconds: int(l.LeaseTime / time.Second),
		Obtained:     l.Obtained.UTC(),
	}
	if gw := l.DefaultGateway(); gw.IsValid() {
		in.Gateway = gw.String()
	}
	for _, d := range l.DNS {
		in.DNS = append(in.DNS, d.String())
	}
	if l.ServerID.IsValid() {
		in.ServerID = l.ServerID.String()
	}
	if l.NextServer.IsValid() {
		in.NextServer = l.NextServer.String()
	}
	if l.RazorServer.IsValid() {
		in.RazorServerIP = l.RazorServer.String()
	}
	return in
}

// DefaultGateway is the router for the default route: from option 121's
// 0.0.0.0/0 entry when it has one, else option 3.
func (l Lease) DefaultGateway() netip.Addr {
	if len(l.Routes) > 0 {
		for _, r := range l.Routes {
			if r.Dest.Bits() == 0 {
				return r.Gateway
			}
		}
		return netip.Addr{}
	}
	return l.Gateway
}

func addr4(ip net.IP) (netip.Addr, bool) {
	ip4 := ip.To4()
	if ip4 == nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip4)
	return a, ok
}

// cleanName keeps a domain name only if it is made of name characters.
func cleanName(s string) string {
	s = strings.TrimSuffix(strings.TrimRight(s, "\x00"), ".")
	if s == "" || len(s) > 253 {
		return ""
	}
	for _, r := range s {
		if !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return ""
		}
	}
	return s
}

// printable keeps s only if it has no control characters, so that a
// hostile server cannot inject lines into files we write.
func printable(s string) string {
	s = strings.TrimRight(s, "\x00")
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return s
}
