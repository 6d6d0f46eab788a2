package dhcp

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Exchange is one request and what the server did with it, for
// Config.OnExchange: the DHCP part of a node's boot timeline.
type Exchange struct {
	MAC   string // AA:BB:CC:DD:EE:FF
	Type  string // the request: discover, request, inform, decline, release
	Reply string // offer, ack, nak, or "" when none was sent
	// IP is the address offered or acknowledged (yiaddr), else the
	// client's own (ciaddr); may be zero.
	IP          netip.Addr
	Arch        string // option 93, e.g. "EFI x86-64"; "" when absent
	VendorClass string // option 60
	UserClass   string // option 77, "iPXE" for iPXE
	Relay       netip.Addr
	File        string // the boot file offered
	Proxy       bool   // a proxyDHCP answer (no address)
	Reason      string // why no reply, or the NAK's message
}

// report builds the Exchange of a request and hands it to OnExchange.
func (s *Server) report(req, resp *dhcpv4.DHCPv4, err error) {
	c := client(req)
	if resp == nil && errors.Is(err, errDrop) && !c.Netboot() {
		return // a foreign client's traffic is not ours to record
	}
	x := Exchange{
		MAC:         macString(req.ClientHWAddr),
		Type:        strings.ToLower(req.MessageType().String()),
		VendorClass: c.VendorClass,
		UserClass:   strings.Join(c.UserClass, ","),
		Proxy:       s.cfg.Mode == Proxy,
	}
	if len(c.Arch) > 0 {
		x.Arch = c.Arch[0].String()
	}
	if ip, ok := netip.AddrFromSlice(req.GatewayIPAddr.To4()); ok && ip.IsValid() && !ip.IsUnspecified() {
		x.Relay = ip
	}
	if ip, ok := netip.AddrFromSlice(req.ClientIPAddr.To4()); ok && !ip.IsUnspecified() {
		x.IP = ip
	}
	if resp != nil {
		x.Reply = strings.ToLower(resp.MessageType().String())
		if ip, ok := netip.AddrFromSlice(resp.YourIPAddr.To4()); ok && !ip.IsUnspecified() {
			x.IP = ip
		}
		x.File = resp.BootFileName
		if resp.MessageType() == dhcpv4.MessageTypeNak {
			x.Reason = resp.Message()
		}
	}
	if err != nil {
		x.Reason = err.Error()
	}
	s.cfg.OnExchange(x)
}
