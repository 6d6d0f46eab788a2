package dhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/ipxe"
	"github.com/razor-mk/razor-mk/wire"
)

// port is the role of the socket a request arrived on.
type port int

const (
	port67   port = iota // DHCP server port
	port4011             // proxyDHCP boot server port
)

// errDrop marks a request that gets no reply by design (not an error of
// the server).
var errDrop = errors.New("dhcp: no reply")

// handle answers one request; it returns (nil, errDrop or an error) when
// there is nothing to send. It never panics on any parsed message.
func (s *Server) handle(ctx context.Context, req *dhcpv4.DHCPv4, on port) (*dhcpv4.DHCPv4, error) {
	if err := screen(req); err != nil {
		return nil, err
	}
	if s.cfg.Mode == Proxy || on == port4011 {
		return s.handleProxy(req, on)
	}
	return s.handleFull(ctx, req)
}

// screen drops what no mode answers: a message that is not a
// BOOTREQUEST or not from an Ethernet client.
func screen(req *dhcpv4.DHCPv4) error {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return fmt.Errorf("%w: not a BOOTREQUEST", errDrop)
	}
	if req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return fmt.Errorf("%w: hardware type %v, length %d: only Ethernet", errDrop, req.HWType, len(req.ClientHWAddr))
	}
	return nil
}

// client extracts the boot-relevant fields of a request.
func client(req *dhcpv4.DHCPv4) ipxe.Client {
	c := ipxe.Client{VendorClass: req.ClassIdentifier(), UserClass: req.UserClass()}
	if archs := req.ClientArch(); len(archs) > 0 {
		c.Arch = archs
	}
	return c
}

// event logs one step of a client's boot timeline, keyed by mac and xid;
// it costs nothing when the level is off (the hot path under load).
func (s *Server) event(req *dhcpv4.DHCPv4, level slog.Level, msg string, args ...any) {
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	mac := macString(req.ClientHWAddr)
	head := []any{"mac", mac, "xid", req.TransactionID.String()}
	if s.cfg.Who != nil {
		if node := s.cfg.Who(mac); node != "" {
			head = append(head, "node", node)
		}
	}
	s.log.Log(context.Background(), level, msg, append(head, args...)...)
}

// bootOptions adds the boot file and the Razor options to a reply for a
// netbooting client. proxy replies always carry option 60 and the PXE
// discovery control; full-mode offers do unless the fast path is off.
func (s *Server) bootOptions(req, resp *dhcpv4.DHCPv4, sn *network, proxy bool) (ipxe.Choice, bool) {
	s.razorOptions(resp)
	c := client(req)
	srv := s.server
	// The UEFI loader: the reservation's, else the subnet's, else the
	// server's.
	if sn != nil && sn.UEFILoader != "" {
		srv.Loader = sn.UEFILoader
	}
	if h := s.hosts[macString(req.ClientHWAddr)]; h != nil {
		if h.UEFILoader != "" {
			srv.Loader = h.UEFILoader
		}
		if h.BootFile != "" {
			// A reservation's boot file replaces the firmware-stage
			// binary for that host only; iPXE still gets the script.
			srv.Files = ipxe.Files{BIOS: h.BootFile, EFIX86_64: h.BootFile, EFIIA32: h.BootFile, EFIARM64: h.BootFile}
			srv.Loader = ipxe.LoaderIPXE
		}
	}
	ch, err := ipxe.Choose(c, srv)
	if err != nil {
		if !errors.Is(err, ipxe.ErrNotNetboot) {
			s.event(req, slog.LevelWarn, "dhcp: no boot file", "event", "no-bootfile", "err", err)
		}
		return ipxe.Choice{}, false
	}
	resp.BootFileName = ch.File
	if ch.Method == ipxe.TFTP {
		resp.ServerIPAddr = s.server.IP.AsSlice()
	}
	switch {
	case ch.VendorClass == "HTTPClient":
		// UEFI HTTP boot accepts an offer only if it says HTTPClient.
		resp.UpdateOption(dhcpv4.OptClassIdentifier(ch.VendorClass))
	case proxy || !s.cfg.DisableFastPath:
		resp.UpdateOption(dhcpv4.OptClassIdentifier(ch.VendorClass))
		// PXE vendor options: discovery control 8 = boot from the file
		// name given here, no boot server discovery (PXE spec 2.1
		// table 2-1); without it some PXE ROMs ask 4011 again.
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{optPXEDiscoveryCtrl, 1, 8, 255}))
	}
	return ch, true
}

// razorOptions adds 224/225/226 so the agent finds the server.
func (s *Server) razorOptions(resp *dhcpv4.DHCPv4) {
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionServer), s.server.IP.AsSlice()))
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionPort), binary.BigEndian.AppendUint16(nil, uint16(s.cfg.HTTPPort))))
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionBaseURI), []byte(s.cfg.BaseURI)))
}

// handleProxy answers PXE clients only: DISCOVER on 67 with a proxy
// OFFER, REQUEST on 4011 with an ACK; neither carries an address.
func (s *Server) handleProxy(req *dhcpv4.DHCPv4, on port) (*dhcpv4.DHCPv4, error) {
	c := client(req)
	if !c.Netboot() {
		return nil, fmt.Errorf("%w: not a PXE client (option 60 %q)", errDrop, c.VendorClass)
	}
	var typ dhcpv4.MessageType
	switch mt := req.MessageType(); {
	case on == port67 && mt == dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case on == port4011 && (mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform):
		typ = dhcpv4.MessageTypeAck
	default:
		return nil, fmt.Errorf("%w: proxy ignores %v on port %d", errDrop, mt, map[port]int{port67: 67, port4011: PXEPort}[on])
	}
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(s.server.IP.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.server.IP.AsSlice())),
	)
	if err != nil {
		return nil, fmt.Errorf("dhcp: build reply: %w", err)
	}
	// RFC 4578 §2.2 / PXE: the client machine identifier is echoed.
	if uuid := req.GetOneOption(dhcpv4.OptionClientMachineIdentifier); uuid != nil {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
	}
	ch, ok := s.bootOptions(req, resp, nil, true)
	if !ok {
		return nil, fmt.Errorf("%w: no boot file for this client", errDrop)
	}
	s.event(req, slog.LevelInfo, "dhcp: proxy "+typ.String(), "event", "proxy-"+typ.String(), "file", ch.File, "firmware", ch.Firmware)
	return resp, nil
}

// handleFull is the RFC 2131 server.
func (s *Server) handleFull(ctx context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	sn, err := s.subnetFor(req)
	if err != nil {
		return nil, err
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return s.discover(req, sn)
	case dhcpv4.MessageTypeRequest:
		return s.request(ctx, req, sn)
	case dhcpv4.MessageTypeDecline:
		return nil, s.declined(ctx, req)
	case dhcpv4.MessageTypeRelease:
		return nil, s.released(ctx, req)
	case dhcpv4.MessageTypeInform:
		return s.inform(req, sn)
	}
	return nil, fmt.Errorf("%w: message type %v", errDrop, req.MessageType())
}

// reply builds an OFFER or ACK with subnet sn's options: mask,
// routers, DNS, NTP, domain and search list, lease times, the reserved
// host name, and the boot options.
func (s *Server) reply(req *dhcpv4.DHCPv4, sn *network, typ dhcpv4.MessageType, yiaddr netip.Addr, leaseTime time.Duration) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(s.server.IP.AsSlice()),
		// RFC 2131 §4.3.1: every OFFER and ACK carries the server
		// identifier, the address clients unicast RENEWING requests to.
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.server.IP.AsSlice())),
		dhcpv4.WithNetmask(sn.mask),
	}
	if yiaddr.IsValid() {
		mods = append(mods, dhcpv4.WithYourIP(yiaddr.AsSlice()))
	}
	if leaseTime > 0 {
		mods = append(mods,
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(leaseTime)),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(leaseTime/2)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(leaseTime*7/8)),
		)
	}
	for _, o := range sn.opts {
		mods = append(mods, dhcpv4.WithOption(o))
	}
	if h := s.hosts[macString(req.ClientHWAddr)]; h != nil && h.Hostname != "" {
		// RFC 2132 §3.14: the name the server gives the client.
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(h.Hostname)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, fmt.Errorf("dhcp: build reply: %w", err)
	}
	if typ != dhcpv4.MessageTypeNak {
		s.bootOptions(req, resp, sn, false)
	}
	return resp, nil
}

func (s *Server) discover(req *dhcpv4.DHCPv4, sn *network) (*dhcpv4.DHCPv4, error) {
	mac := macString(req.ClientHWAddr)
	var requested netip.Addr
	if r := req.RequestedIPAddress(); r != nil {
		requested, _ = netip.AddrFromSlice(r.To4())
	}
	ip, ok := sn.pool.offer(mac, requested, s.cfg.Now(), s.cfg.OfferHold)
	if !ok {
		s.event(req, slog.LevelWarn, "dhcp: pool exhausted", "event", "exhausted", "subnet", sn.Prefix)
		return nil, fmt.Errorf("%w: pool of %v exhausted", errDrop, sn.Prefix)
	}
	resp, err := s.reply(req, sn, dhcpv4.MessageTypeOffer, ip, sn.leaseTime)
	if err != nil {
		return nil, err
	}
	s.event(req, slog.LevelDebug, "dhcp: offer", "event", "offer", "ip", ip, "file", resp.BootFileName)
	return resp, nil
}

func (s *Server) nak(req *dhcpv4.DHCPv4, why string) (*dhcpv4.DHCPv4, error) {
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.server.IP.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptMessage(why)),
	)
	if err != nil {
		return nil, fmt.Errorf("dhcp: build nak: %w", err)
	}
	// RFC 2131 §4.3.2: a NAK through a relay has the broadcast bit set.
	if !isZero(req.GatewayIPAddr) {
		resp.SetBroadcast()
	}
	// NewReplyFromRequest copies ciaddr; a NAK carries none (Table 3).
	resp.ClientIPAddr = net.IPv4zero
	s.event(req, slog.LevelInfo, "dhcp: nak", "event", "nak", "reason", why)
	return resp, nil
}

func isZero(ip net.IP) bool { return ip == nil || ip.IsUnspecified() }

// request handles DHCPREQUEST in its four client states (RFC 2131
// §4.3.2), storing the lease before the ACK.
func (s *Server) request(ctx context.Context, req *dhcpv4.DHCPv4, sn *network) (*dhcpv4.DHCPv4, error) {
	l, resp, err := s.claimRequest(req, sn)
	if resp != nil || err != nil {
		return resp, err
	}
	return s.finishRequest(req, sn, l, s.store.PutLease(ctx, l))
}

// claimRequest checks a DHCPREQUEST and claims its address in the pool.
// It returns the lease to store, or the answer to give at once (a NAK,
// or an error for no answer).
func (s *Server) claimRequest(req *dhcpv4.DHCPv4, sn *network) (leases.Lease, *dhcpv4.DHCPv4, error) {
	mac := macString(req.ClientHWAddr)
	now := s.cfg.Now()
	var ip netip.Addr
	sid := req.ServerIdentifier()
	reqIP := req.RequestedIPAddress()
	nak := func(why string) (leases.Lease, *dhcpv4.DHCPv4, error) {
		resp, err := s.nak(req, why)
		return leases.Lease{}, resp, err
	}
	switch {
	case sid != nil:
		// SELECTING. A request naming another server is that client
		// declining our offer: RFC 2131 §4.3.2 says not to answer.
		if got, _ := netip.AddrFromSlice(sid.To4()); got != s.server.IP {
			sn.pool.dropOffer(mac)
			s.event(req, slog.LevelDebug, "dhcp: client chose another server", "event", "other-server", "server", got)
			return leases.Lease{}, nil, fmt.Errorf("%w: client chose server %v", errDrop, got)
		}
		if reqIP == nil {
			return nak("requested address missing")
		}
		ip, _ = netip.AddrFromSlice(reqIP.To4())
	case reqIP != nil && isZero(req.ClientIPAddr):
		// INIT-REBOOT: verify the remembered address. RFC 2131 §4.3.2:
		// a server with no record of the client MUST remain silent (so
		// that servers that do not share state can coexist, and so that
		// a stranger cannot take addresses without a DISCOVER).
		if !s.knows(mac) {
			s.event(req, slog.LevelDebug, "dhcp: init-reboot from an unknown client", "event", "init-reboot-unknown")
			return leases.Lease{}, nil, fmt.Errorf("%w: init-reboot from %s, which has no lease here", errDrop, mac)
		}
		ip, _ = netip.AddrFromSlice(reqIP.To4())
	case !isZero(req.ClientIPAddr):
		// RENEWING (unicast) or REBINDING (broadcast).
		ip, _ = netip.AddrFromSlice(req.ClientIPAddr.To4())
	default:
		return nak("no address requested")
	}
	if !ip.Is4() || !sn.Prefix.Contains(ip) {
		return nak(fmt.Sprintf("address %v is not on this network", ip))
	}
	if !sn.pool.claim(mac, ip, now, s.cfg.OfferHold) {
		return nak(fmt.Sprintf("address %v is not available to this client", ip))
	}
	hostname := req.HostName()
	if h := s.hosts[mac]; h != nil && h.Hostname != "" {
		hostname = h.Hostname
	}
	return leases.Lease{MAC: mac, IP: ip, Hostname: hostname, Expires: now.Add(sn.leaseTime)}, nil, nil
}

// finishRequest answers a DHCPREQUEST whose lease l the store took with
// result stored: the ACK only once the lease is durable.
func (s *Server) finishRequest(req *dhcpv4.DHCPv4, sn *network, l leases.Lease, stored error) (*dhcpv4.DHCPv4, error) {
	if stored != nil {
		sn.pool.dropOffer(l.MAC)
		if errors.Is(stored, leases.ErrConflict) {
			return s.nak(req, fmt.Sprintf("address %v is held by another client", l.IP))
		}
		return nil, fmt.Errorf("dhcp: store lease %v for %s: %w", l.IP, l.MAC, stored)
	}
	sn.pool.committed(l)
	for _, n := range s.nets {
		if n != sn {
			// The store holds one lease per MAC: a client that moved
			// from another of our subnets gave up its address there.
			n.pool.release(l.MAC)
		}
	}
	resp, err := s.reply(req, sn, dhcpv4.MessageTypeAck, l.IP, sn.leaseTime)
	if err != nil {
		return nil, err
	}
	s.event(req, slog.LevelInfo, "dhcp: ack", "event", "ack", "ip", l.IP, "file", resp.BootFileName, "hostname", l.Hostname)
	return resp, nil
}

// declined handles DHCPDECLINE (RFC 2131 §4.3.3): the address is in use
// by someone else, so it leaves the pool for a while.
func (s *Server) declined(ctx context.Context, req *dhcpv4.DHCPv4) error {
	mac := macString(req.ClientHWAddr)
	r := req.RequestedIPAddress()
	if r == nil {
		return fmt.Errorf("%w: decline without requested address", errDrop)
	}
	ip, _ := netip.AddrFromSlice(r.To4())
	sn := s.netOf(ip)
	if sn == nil || !sn.pool.owns(mac, ip) {
		return fmt.Errorf("%w: decline of %v that %s does not hold", errDrop, ip, mac)
	}
	sn.pool.decline(ip, s.cfg.Now().Add(s.cfg.DeclineHold))
	sn.pool.release(mac)
	s.event(req, slog.LevelWarn, "dhcp: address declined", "event", "decline", "ip", ip)
	if err := s.store.DeleteLease(ctx, mac); err != nil {
		return fmt.Errorf("dhcp: delete declined lease of %s: %w", mac, err)
	}
	return errDrop
}

// released handles DHCPRELEASE (RFC 2131 §4.3.4).
func (s *Server) released(ctx context.Context, req *dhcpv4.DHCPv4) error {
	mac := macString(req.ClientHWAddr)
	ip, _ := netip.AddrFromSlice(req.ClientIPAddr.To4())
	sn := s.netOf(ip)
	if sn == nil {
		return fmt.Errorf("%w: release of %v, in no configured subnet", errDrop, ip)
	}
	l, ok := sn.pool.lease(mac)
	if !ok || l.IP != ip {
		return fmt.Errorf("%w: release of %v that %s does not hold", errDrop, ip, mac)
	}
	sn.pool.release(mac)
	s.event(req, slog.LevelInfo, "dhcp: released", "event", "release", "ip", ip)
	if err := s.store.DeleteLease(ctx, mac); err != nil {
		return fmt.Errorf("dhcp: delete released lease of %s: %w", mac, err)
	}
	return errDrop
}

// inform answers DHCPINFORM (RFC 2131 §4.3.5): options, no address, no
// lease time.
func (s *Server) inform(req *dhcpv4.DHCPv4, sn *network) (*dhcpv4.DHCPv4, error) {
	if isZero(req.ClientIPAddr) {
		return nil, fmt.Errorf("%w: inform without ciaddr", errDrop)
	}
	// The ACK is unicast to ciaddr: answering an address off the
	// subnet would make the server a reflector towards it.
	if ci, _ := netip.AddrFromSlice(req.ClientIPAddr.To4()); !sn.Prefix.Contains(ci) {
		return nil, fmt.Errorf("%w: inform from %v, which is not on %v", errDrop, req.ClientIPAddr, sn.Prefix)
	}
	resp, err := s.reply(req, sn, dhcpv4.MessageTypeAck, netip.Addr{}, 0)
	if err != nil {
		return nil, err
	}
	s.event(req, slog.LevelInfo, "dhcp: inform", "event", "inform", "ip", req.ClientIPAddr)
	return resp, nil
}

// replyAddr is where a reply goes (RFC 2131 §4.1): to the relay, to
// ciaddr, or broadcast. A client without an address that did not ask for
// broadcast could be reached by unicast to yiaddr only after writing an
// ARP entry; we broadcast instead, which §4.1 allows and every client
// accepts. proxyDHCP answers on 4011 go back to the sender.
func replyAddr(req, resp *dhcpv4.DHCPv4, peer net.Addr, on port) net.Addr {
	if on == port4011 {
		return peer
	}
	if !isZero(req.GatewayIPAddr) {
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpv4.ServerPort}
	}
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	if !isZero(req.ClientIPAddr) {
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
