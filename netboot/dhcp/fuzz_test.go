package dhcp

import (
	"context"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// FuzzHandlePacket feeds arbitrary bytes to both modes: the server must
// not panic, and whatever it sends must be a well-formed BOOTREPLY with a
// message type, answering the request's transaction.
func FuzzHandlePacket(f *testing.F) {
	t := &testing.T{}
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithUserClass("iPXE", false),
	}
	for _, m := range []*dhcpv4.DHCPv4{
		msg(t, mac(1), dhcpv4.MessageTypeDiscover, pxe...),
		msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP.AsSlice())), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.100")))),
		msg(t, mac(1), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4("10.77.0.100"))),
		msg(t, mac(1), dhcpv4.MessageTypeDecline, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip4("10.77.0.100")))),
		msg(t, mac(1), dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(ip4("10.77.0.100"))),
		msg(t, mac(1), dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(ip4("10.77.0.9"))),
		msg(t, mac(2), dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(ip4("10.77.0.254")), dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016"))),
		msg(t, mac(9), dhcpv4.MessageTypeDiscover, append(pxe, dhcpv4.WithGatewayIP(ip4("10.88.0.1")))...),
		msg(t, mac(10), dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip4("10.88.0.50"))),
		msg(t, mac(3), dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(ip4("10.99.0.1"))),
	} {
		f.Add(m.ToBytes(), false)
		f.Add(m.ToBytes(), true)
	}
	f.Add([]byte{}, false)
	f.Add(make([]byte, 300), false)

	full, err := New(fullConfig(), &leases.Memory{})
	if err != nil {
		f.Fatal(err)
	}
	proxy, err := New(Options{Mode: Proxy, ServerIP: srvIP}, nil)
	if err != nil {
		f.Fatal(err)
	}
	multi, err := New(multiConfig(), &leases.Memory{})
	if err != nil {
		f.Fatal(err)
	}
	peer := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	f.Fuzz(func(t *testing.T, pkt []byte, pxePort bool) {
		for _, s := range []*Server{full, proxy, multi} {
			out, dst := s.HandlePacket(context.Background(), pkt, peer, pxePort)
			if out == nil {
				continue
			}
			req, err := dhcpv4.FromBytes(pkt)
			if err != nil {
				t.Fatalf("replied to a packet that does not parse (%v)", err)
			}
			resp, err := dhcpv4.FromBytes(out)
			if err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if resp.OpCode != dhcpv4.OpcodeBootReply || resp.TransactionID != req.TransactionID || resp.MessageType() == dhcpv4.MessageTypeNone || dst == nil {
				t.Fatalf("bad reply: op %v xid %v/%v type %v dst %v", resp.OpCode, resp.TransactionID, req.TransactionID, resp.MessageType(), dst)
			}
		}
	})
}
