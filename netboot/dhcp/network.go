package dhcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// network is a Subnet at run time: its pool and its options, encoded
// once.
type network struct {
	Subnet
	pool      *pool
	mask      net.IPMask
	leaseTime time.Duration
	opts      []dhcpv4.Option // routers, DNS, NTP, domain, search
}

// host is a reservation at run time; net is nil in proxy mode.
type host struct {
	Reservation
	net *network
}

// errNoSubnet marks a request from a network that is not configured: no
// answer (another server may own that network), and a warning, because
// it usually means a relay or an interface is set up for a subnet the
// configuration lacks.
var errNoSubnet = fmt.Errorf("%w: no configured subnet", errDrop)

func newNetwork(sn Subnet, defaultLease time.Duration, server netip.Addr) *network {
	n := &network{
		Subnet:    sn,
		pool:      newPool(sn.Ranges, sn.Prefix, server, sn.Reservations),
		mask:      net.CIDRMask(sn.Prefix.Bits(), 32),
		leaseTime: sn.LeaseTime,
	}
	if n.leaseTime == 0 {
		n.leaseTime = defaultLease
	}
	ips := func(as []netip.Addr) []net.IP {
		out := make([]net.IP, len(as))
		for i, a := range as {
			out[i] = a.AsSlice()
		}
		return out
	}
	if len(sn.Routers) > 0 {
		n.opts = append(n.opts, dhcpv4.OptRouter(ips(sn.Routers)...))
	}
	if len(sn.DNS) > 0 {
		n.opts = append(n.opts, dhcpv4.OptDNS(ips(sn.DNS)...))
	}
	if len(sn.NTP) > 0 {
		n.opts = append(n.opts, dhcpv4.OptNTPServers(ips(sn.NTP)...))
	}
	if sn.DomainName != "" {
		n.opts = append(n.opts, dhcpv4.OptDomainName(sn.DomainName))
	}
	if len(sn.DomainSearch) > 0 {
		// RFC 3397: option 119 carries the list in DNS wire format with
		// compression pointers; rfc1035label encodes it so.
		n.opts = append(n.opts, dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: sn.DomainSearch}))
	}
	return n
}

// buildNetworks makes the run-time subnets and the reservations by MAC.
// direct is the subnet of directly attached clients: the first that
// contains serverIP, else one that contains an address of the interface
// (ifPrefixes); nil when the server serves only relayed networks.
func buildNetworks(subnets []Subnet, defaultLease time.Duration, serverIP netip.Addr, ifPrefixes []netip.Prefix, full bool) (nets []*network, direct *network, hosts map[string]*host) {
	hosts = map[string]*host{}
	for _, sn := range subnets {
		var n *network
		if full {
			n = newNetwork(sn, defaultLease, serverIP)
			nets = append(nets, n)
		}
		for _, r := range sn.Reservations {
			if m, err := NormalizeMAC(r.MAC); err == nil {
				hosts[m] = &host{Reservation: r, net: n}
			}
		}
	}
	for _, n := range nets {
		if n.Prefix.Contains(serverIP) {
			return nets, n, hosts
		}
	}
	for _, n := range nets {
		for _, p := range ifPrefixes {
			if n.Prefix.Contains(p.Addr()) {
				return nets, n, hosts
			}
		}
	}
	return nets, nil, hosts
}

// knows reports whether the server has a record of mac in any subnet: a
// lease, an offer or a reservation. RFC 2131 §4.3.2 (INIT-REBOOT): a
// server with no record of the client stays silent; a client we know
// that moved to another of our subnets is NAKed for the wrong network.
func (s *Server) knows(mac string) bool {
	if s.hosts[mac] != nil {
		return true
	}
	for _, n := range s.nets {
		if n.pool.knows(mac) {
			return true
		}
	}
	return false
}

// checkServerIP refuses a reservation of the server's own address.
func checkServerIP(subnets []Subnet, server netip.Addr) error {
	for i, sn := range subnets {
		for j, r := range sn.Reservations {
			if r.IP.IsValid() && r.IP == server {
				return &ConfigError{Path: []any{"subnets", i, "reservations", j, "ip"}, Msg: fmt.Sprintf("%v is this server's own address", r.IP)}
			}
		}
	}
	return nil
}

// netOf returns the subnet that contains ip, or nil.
func (s *Server) netOf(ip netip.Addr) *network {
	for _, n := range s.nets {
		if n.Prefix.Contains(ip) {
			return n
		}
	}
	return nil
}

// subnetFor selects the subnet a full-mode request is served from.
// RFC 2131 §4.3.1: a relayed request (giaddr set) is for the network of
// giaddr, the relay's address on the client's network (RFC 1542 §4.1.1).
// A request with ciaddr (RENEWING, REBINDING, INFORM) comes from the
// client's own address. Anything else came in directly, from the network
// of the interface.
func (s *Server) subnetFor(req *dhcpv4.DHCPv4) (*network, error) {
	if gi := req.GatewayIPAddr; !isZero(gi) {
		g, _ := netip.AddrFromSlice(gi.To4())
		if n := s.netOf(g); n != nil {
			return n, nil
		}
		return nil, fmt.Errorf("%w: relay %v is in no configured subnet", errNoSubnet, g)
	}
	if ci := req.ClientIPAddr; !isZero(ci) {
		c, _ := netip.AddrFromSlice(ci.To4())
		if n := s.netOf(c); n != nil {
			return n, nil
		}
	}
	if s.direct == nil {
		return nil, fmt.Errorf("%w: no configured subnet contains an address of %s, where this request arrived without a relay", errNoSubnet, s.ifName())
	}
	return s.direct, nil
}

// noSubnetLog limits the warnings about unconfigured subnets to one per
// source and minute: a misconfigured relay retries forever.
type noSubnetLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// warnNoSubnet logs err (an errNoSubnet) at warning level, at most once a
// minute per reason.
func (s *Server) warnNoSubnet(req *dhcpv4.DHCPv4, err error) bool {
	if !errors.Is(err, errNoSubnet) {
		return false
	}
	now := time.Now()
	key := err.Error()
	s.noSubnet.mu.Lock()
	last, seen := s.noSubnet.last[key]
	if !seen || now.Sub(last) >= time.Minute {
		if s.noSubnet.last == nil || len(s.noSubnet.last) > 1024 {
			s.noSubnet.last = map[string]time.Time{}
		}
		s.noSubnet.last[key] = now
	}
	s.noSubnet.mu.Unlock()
	lvl := slog.LevelDebug
	if !seen || now.Sub(last) >= time.Minute {
		lvl = slog.LevelWarn
	}
	s.event(req, lvl, "dhcp: request from an unconfigured subnet, not answered", "event", "no-subnet", "reason", err)
	return true
}
