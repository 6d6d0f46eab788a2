package netup

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link is a network interface as netup sees it.
type Link struct {
	Name    string
	Index   int
	MAC     net.HardwareAddr
	Kind    string // rtnetlink kind: "device" for hardware, "veth", "bridge", ...
	Encap   string // "ether", "loopback", ...
	Up      bool
	Carrier bool
}

// Netlink is the handful of rtnetlink operations netup needs, so that
// tests can run the logic against a fake.
type Netlink interface {
	Links() ([]Link, error)
	SetUp(name string) error
	// Carrier reports whether the link has a carrier (IFF_LOWER_UP).
	Carrier(name string) (bool, error)
	// ReplaceAddr adds addr to the link, or updates it, with the given
	// lifetimes (zero: forever).
	ReplaceAddr(name string, addr netip.Prefix, valid, preferred time.Duration) error
	// ReplaceRoute adds or updates the route to dst over the link, via gw
	// (an invalid gw means dst is on the link).
	ReplaceRoute(name string, dst netip.Prefix, gw netip.Addr) error
}

// Kernel is the Netlink of the calling process's network namespace.
type Kernel struct{ h *netlink.Handle }

var _ Netlink = (*Kernel)(nil)

// NewKernel opens an rtnetlink socket in the current network namespace.
func NewKernel() (*Kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netup: netlink: %w", err)
	}
	return &Kernel{h: h}, nil
}

// Close releases the netlink socket.
func (k *Kernel) Close() { k.h.Close() }

func toLink(l netlink.Link) Link {
	a := l.Attrs()
	return Link{
		Name:    a.Name,
		Index:   a.Index,
		MAC:     a.HardwareAddr,
		Kind:    l.Type(),
		Encap:   a.EncapType,
		Up:      a.Flags&net.FlagUp != 0,
		Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0,
	}
}

// Links lists every link.
func (k *Kernel) Links() ([]Link, error) {
	ls, err := k.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netup: listing links: %w", err)
	}
	out := make([]Link, 0, len(ls))
	for _, l := range ls {
		out = append(out, toLink(l))
	}
	return out, nil
}

// SetUp sets the link administratively up.
func (k *Kernel) SetUp(name string) error {
	l, err := k.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netup: %s: %w", name, err)
	}
	if err := k.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("netup: %s: set up: %w", name, err)
	}
	return nil
}

// Carrier reports IFF_LOWER_UP.
func (k *Kernel) Carrier(name string) (bool, error) {
	l, err := k.h.LinkByName(name)
	if err != nil {
		return false, fmt.Errorf("netup: %s: %w", name, err)
	}
	return toLink(l).Carrier, nil
}

// ReplaceAddr adds or updates an IPv4 address.
func (k *Kernel) ReplaceAddr(name string, addr netip.Prefix, valid, preferred time.Duration) error {
	l, err := k.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netup: %s: %w", name, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}}
	if valid > 0 {
		a.ValidLft = int(valid / time.Second)
		a.PreferedLft = int(preferred / time.Second)
	}
	if addr.Bits() < 31 {
		bc := addr.Masked().Addr().As4()
		for i := addr.Bits(); i < 32; i++ {
			bc[i/8] |= 0x80 >> (i % 8)
		}
		a.Broadcast = net.IP(bc[:])
	}
	if err := k.h.AddrReplace(l, a); err != nil {
		return fmt.Errorf("netup: %s: address %s: %w", name, addr, err)
	}
	return nil
}

// ReplaceRoute adds or updates an IPv4 route in the main table.
func (k *Kernel) ReplaceRoute(name string, dst netip.Prefix, gw netip.Addr) error {
	l, err := k.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netup: %s: %w", name, err)
	}
	r := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: dst.Masked().Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
		Scope:     netlink.SCOPE_UNIVERSE,
	}
	if gw.IsValid() {
		r.Gw = gw.AsSlice()
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := k.h.RouteReplace(r); err != nil {
		return fmt.Errorf("netup: %s: route %s via %v: %w", name, dst, gw, err)
	}
	return nil
}
