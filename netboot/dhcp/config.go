// Package dhcp is razor-netboot's DHCPv4 server. In full mode it leases
// addresses from a pool on one named interface (RFC 2131), keeping the
// leases in a leases.Store so that they are durable before the ACK and
// survive a restart. In proxy mode it answers only PXE clients, beside the
// site's own DHCP server, with the boot file and no address (proxyDHCP,
// PXE specification 2.1 and RFC 4578), on ports 67 and 4011. Both modes
// choose the boot file with package ipxe and add options 224/225/226
// (server address, port, base URI) so that the microkernel agent finds the
// server.
//
// The iPXE fast path: offers to PXE and iPXE clients carry option 60
// "PXEClient", which makes iPXE treat the offer as its ProxyDHCP answer as
// well and stop waiting (about 2 s) for a separate proxyDHCP server.
package dhcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/netboot/ipxe"
	"github.com/razor-mk/razor-mk/wire"
)

// Errors; callers use errors.Is.
var (
	// ErrConfig: the configuration is invalid; the message names the
	// field.
	ErrConfig = errors.New("dhcp: invalid configuration")
	// ErrOff: New was called with Mode "off".
	ErrOff = errors.New("dhcp: mode is off")
)

// Mode selects what the server does.
type Mode string

// Modes.
const (
	Off   Mode = "off"   // no DHCP at all
	Proxy Mode = "proxy" // proxyDHCP beside the site's DHCP server (the safe default)
	Full  Mode = "full"  // lease addresses from Range on Interface
)

// ParseMode parses "off", "proxy" or "full".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Off, Proxy, Full:
		return m, nil
	}
	return "", fmt.Errorf("%w: dhcp mode %q: want off, proxy or full", ErrConfig, s)
}

// Defaults.
const (
	DefaultLeaseTime    = time.Hour
	DefaultHTTPPort     = wire.DefaultPort
	DefaultBaseURI      = wire.DefaultBasePath
	DefaultOfferHold    = 30 * time.Second
	DefaultDeclineHold  = 10 * time.Minute
	DefaultMaxInFlight  = 512
	PXEPort             = 4011 // proxyDHCP port (PXE specification)
	optPXEDiscoveryCtrl = 6    // PXE vendor sub-option (option 43)
)

// Options configures a Server. Zero values take the defaults named on each
// field.
type Options struct {
	// Logger receives the server's log lines; default discard.
	Logger *slog.Logger
	// Who, if set, names the node holding a MAC (AA:BB:… form), so that
	// the log lines about a known node carry node= beside mac=; it must
	// not block.
	Who func(mac string) (node string)
	// Mode is off, proxy or full. Proxy is what razor-netboot uses by
	// default; full must be asked for.
	Mode Mode
	// Interface is the interface to serve on. Required in full mode;
	// proxy mode without it listens on every interface.
	Interface string
	// RangeFrom and RangeTo bound the address pool, both inclusive.
	// Required in full mode.
	RangeFrom, RangeTo netip.Addr
	// Subnet is the network the pool belongs to (netmask option, and the
	// check that requests are for our network). Default: the
	// interface's IPv4 prefix that contains RangeFrom.
	Subnet netip.Prefix
	// Routers, DNS and NTP are options 3, 6 and 42; DomainName is
	// option 15, DomainSearch option 119.
	Routers, DNS, NTP []netip.Addr
	DomainName        string
	DomainSearch      []string
	// LeaseTime is option 51, default one hour; a subnet may set its own.
	LeaseTime time.Duration
	// Reservations maps a MAC (any case, colons or dashes) to its fixed
	// address; a reserved address is never given to another MAC. It may
	// lie outside the range but must be inside Subnet.
	Reservations map[string]netip.Addr
	// Subnets configures several networks, each with its own ranges,
	// options and reservations (see Subnet). It replaces the one-subnet
	// fields above (RangeFrom, RangeTo, Subnet, Routers, DNS, NTP,
	// DomainName, DomainSearch, Reservations), which must then be empty;
	// those fields are shorthand for one subnet. A direct request is
	// served from the subnet that contains an address of Interface, a
	// relayed one from the subnet that contains its giaddr; a request
	// from any other network gets no answer. In proxy mode Subnets carry
	// only reservations (per-host boot files).
	Subnets []Subnet
	// ServerIP is the address advertised to clients (server identifier,
	// siaddr, URLs, option 224). Default: the interface's first IPv4
	// address. Required in proxy mode without Interface.
	ServerIP netip.Addr
	// HTTPPort is the HTTP port of the image and script service (URLs,
	// option 225), default 8026.
	HTTPPort int
	// BaseURI is option 226, the node API's base path, default
	// "/razor/api".
	BaseURI string
	// ScriptPath is the iPXE script path, default "/boot.ipxe".
	ScriptPath string
	// BootFiles overrides the iPXE binary names (ipxe.DefaultFiles).
	BootFiles ipxe.Files
	// UEFILoader is the first stage UEFI x86-64 PXE clients get: auto
	// (the default: shim when SignedChain says the current image carries
	// it, else iPXE), ipxe or shim. A subnet or reservation may set its
	// own.
	UEFILoader ipxe.Loader
	// SignedChain reports whether shim and GRUB can be served now to a
	// client of a firmware (an image of its architecture carries them);
	// nil means no.
	SignedChain func(ipxe.Firmware) bool
	// DisableFastPath leaves option 60 "PXEClient" out of full-mode
	// offers, so iPXE waits for proxyDHCP offers as it would behind a
	// plain DHCP server. Only for measuring the fast path.
	DisableFastPath bool
	// OfferHold is how long an offered address stays reserved for the
	// client it was offered to, in memory only; default 30 s.
	OfferHold time.Duration
	// DeclineHold is how long an address a client declined (RFC 2131
	// §4.3.3: in use by someone else) is kept out of the pool, default
	// 10 minutes.
	DeclineHold time.Duration
	// MaxInFlight bounds the packets handled at once; more are dropped.
	// Default 512.
	MaxInFlight int
	// Now is the clock, default time.Now.
	Now func() time.Time
	// LogDropped, if set, is called for each per-packet warning left out
	// by the log rate limit (package ratelog), with its event name.
	LogDropped func(event string)
	// OnExchange, if set, is called for each request answered, and for
	// each request of a netbooting client left unanswered, from the
	// serving goroutine: it must return quickly and not block.
	OnExchange func(Exchange)
}

// Validate checks the configuration without touching the network: full
// mode needs an explicit Interface and Range, and every address must be
// IPv4. Errors wrap ErrConfig and name the field.
func (c Options) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, a...))
	}
	switch c.Mode {
	case Off, Proxy, Full:
	default:
		return bad("Mode", "%q: want off, proxy or full", c.Mode)
	}
	if c.UEFILoader != "" {
		if _, err := ipxe.ParseLoader(string(c.UEFILoader)); err != nil {
			return bad("UEFILoader", "%v", err)
		}
	}
	if len(c.Subnets) > 0 {
		if c.singleSubnet() {
			return bad("Subnets", "set either Subnets or the one-subnet fields (Range, Subnet, Routers, DNS, NTP, DomainName, DomainSearch, Reservations), not both")
		}
		if c.Mode == Full && c.Interface == "" {
			return bad("Interface", "full DHCP needs an explicit interface (--dhcp-interface)")
		}
		if err := CheckSubnets(c.Mode == Full, c.Subnets); err != nil {
			return err
		}
	} else if c.Mode == Full {
		if c.Interface == "" {
			return bad("Interface", "full DHCP needs an explicit interface (--dhcp-interface)")
		}
		if !c.RangeFrom.IsValid() || !c.RangeTo.IsValid() {
			return bad("Range", "full DHCP needs an explicit address range (--dhcp-range FROM-TO)")
		}
		if !c.RangeFrom.Is4() || !c.RangeTo.Is4() {
			return bad("Range", "%v-%v is not IPv4", c.RangeFrom, c.RangeTo)
		}
		if c.RangeTo.Less(c.RangeFrom) {
			return bad("Range", "%v-%v ends before it starts", c.RangeFrom, c.RangeTo)
		}
		if c.Subnet.IsValid() {
			if !c.Subnet.Addr().Is4() {
				return bad("Subnet", "%v is not IPv4", c.Subnet)
			}
			if !c.Subnet.Contains(c.RangeFrom) || !c.Subnet.Contains(c.RangeTo) {
				return bad("Range", "%v-%v is not inside subnet %v", c.RangeFrom, c.RangeTo, c.Subnet)
			}
		}
		never := unusable(c.Subnet, c.ServerIP)
		for mac, ip := range c.Reservations {
			if _, err := NormalizeMAC(mac); err != nil {
				return bad("Reservations", "%v", err)
			}
			if !ip.Is4() {
				return bad("Reservations", "%s: %v is not IPv4", mac, ip)
			}
			if c.Subnet.IsValid() && !c.Subnet.Contains(ip) {
				return bad("Reservations", "%s: %v is not inside subnet %v", mac, ip, c.Subnet)
			}
			if slices.Contains(never, ip) {
				return bad("Reservations", "%s: %v is the network, broadcast or server address", mac, ip)
			}
		}
		// The range may cover the unusable addresses (they are skipped)
		// but must hold at least one other.
		if size := uint64(u32(c.RangeTo)) - uint64(u32(c.RangeFrom)) + 1; size <= uint64(len(never)) {
			left := size
			for _, a := range never {
				if !a.Less(c.RangeFrom) && !c.RangeTo.Less(a) {
					left--
				}
			}
			if left == 0 {
				return bad("Range", "%v-%v holds only the network, broadcast or server address", c.RangeFrom, c.RangeTo)
			}
		}
	}
	if c.Mode == Proxy && c.Interface == "" && !c.ServerIP.IsValid() {
		return bad("ServerIP", "proxy DHCP without an interface needs the address to advertise (--advertise-ip)")
	}
	if c.ServerIP.IsValid() && !c.ServerIP.Is4() {
		return bad("ServerIP", "%v is not IPv4", c.ServerIP)
	}
	for _, a := range slices.Concat(c.Routers, c.DNS, c.NTP) {
		if !a.Is4() {
			return bad("Routers/DNS/NTP", "%v is not IPv4", a)
		}
	}
	if c.HTTPPort < 0 || c.HTTPPort > 65535 {
		return bad("HTTPPort", "%d is not a port", c.HTTPPort)
	}
	if c.LeaseTime < 0 || c.LeaseTime > 365*24*time.Hour {
		return bad("LeaseTime", "%v out of range", c.LeaseTime)
	}
	if c.LeaseTime != 0 && c.LeaseTime < 10*time.Second {
		return bad("LeaseTime", "%v is shorter than 10s", c.LeaseTime)
	}
	return nil
}

// singleSubnet reports whether any one-subnet field is set.
func (c Options) singleSubnet() bool {
	return c.RangeFrom.IsValid() || c.RangeTo.IsValid() || c.Subnet.IsValid() || len(c.Routers) > 0 ||
		len(c.DNS) > 0 || len(c.NTP) > 0 || c.DomainName != "" || len(c.DomainSearch) > 0 || len(c.Reservations) > 0
}

// subnets returns Subnets, or the one subnet the shorthand fields
// describe (full mode; after resolveInterface filled Subnet).
func (c Options) subnets() []Subnet {
	if len(c.Subnets) > 0 || c.Mode != Full {
		return c.Subnets
	}
	sn := Subnet{
		Prefix: c.Subnet, Ranges: []Range{{c.RangeFrom, c.RangeTo}},
		Routers: c.Routers, DNS: c.DNS, NTP: c.NTP, DomainName: c.DomainName, DomainSearch: c.DomainSearch,
	}
	for m, ip := range c.Reservations {
		sn.Reservations = append(sn.Reservations, Reservation{MAC: m, IP: ip})
	}
	slices.SortFunc(sn.Reservations, func(a, b Reservation) int { return strings.Compare(a.MAC, b.MAC) })
	return []Subnet{sn}
}

// ParseRange parses "FROM-TO" (two IPv4 addresses).
func ParseRange(s string) (from, to netip.Addr, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return from, to, fmt.Errorf("%w: Range: %q: want FROM-TO", ErrConfig, s)
	}
	if from, err = netip.ParseAddr(strings.TrimSpace(a)); err != nil {
		return from, to, fmt.Errorf("%w: Range: %q: %w", ErrConfig, s, err)
	}
	if to, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil {
		return from, to, fmt.Errorf("%w: Range: %q: %w", ErrConfig, s, err)
	}
	if !from.Is4() || !to.Is4() || to.Less(from) {
		return from, to, fmt.Errorf("%w: Range: %q: want two IPv4 addresses, lowest first", ErrConfig, s)
	}
	return from, to, nil
}

// NormalizeMAC returns an Ethernet MAC upper-case and colon-separated,
// the form leases.Lease uses.
func NormalizeMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("MAC %q: want six bytes like aa:bb:cc:dd:ee:ff", s)
	}
	return strings.ToUpper(hw.String()), nil
}

func macString(hw net.HardwareAddr) string { return strings.ToUpper(hw.String()) }

// withDefaults fills zero fields; interface-derived fields are resolved
// by resolveInterface.
func (c Options) withDefaults() Options {
	if c.LeaseTime == 0 {
		c.LeaseTime = DefaultLeaseTime
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = DefaultHTTPPort
	}
	if c.BaseURI == "" {
		c.BaseURI = DefaultBaseURI
	}
	if c.OfferHold == 0 {
		c.OfferHold = DefaultOfferHold
	}
	if c.DeclineHold == 0 {
		c.DeclineHold = DefaultDeclineHold
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.BootFiles = c.BootFiles.WithDefaults()
	return c
}

// resolveInterface fills ServerIP and, for the one-subnet shorthand,
// Subnet from the interface's addresses when they are not set. It
// returns the interface's IPv4 prefixes (nil when the interface could not
// be read and nothing had to be derived from it), which place directly
// attached clients in their subnet.
func (c *Options) resolveInterface() ([]netip.Prefix, error) {
	legacy := c.Mode == Full && len(c.Subnets) == 0
	need := !c.ServerIP.IsValid() || (legacy && !c.Subnet.IsValid())
	if c.Interface == "" {
		return nil, nil
	}
	prefixes, err := interfacePrefixes(c.Interface)
	if err != nil {
		if need {
			return nil, err
		}
		return nil, nil
	}
	if !c.ServerIP.IsValid() {
		c.ServerIP = prefixes[0].Addr()
	pick:
		for _, p := range prefixes {
			if legacy && p.Contains(c.RangeFrom) {
				c.ServerIP = p.Addr()
				break
			}
			for _, sn := range c.Subnets {
				if sn.Prefix.Contains(p.Addr()) {
					c.ServerIP = p.Addr()
					break pick
				}
			}
		}
	}
	if legacy && !c.Subnet.IsValid() {
		for _, p := range prefixes {
			if p.Contains(c.RangeFrom) {
				c.Subnet = p.Masked()
				break
			}
		}
		if !c.Subnet.IsValid() {
			return nil, fmt.Errorf("%w: Subnet: no address of %s contains the range start %v; set Subnet", ErrConfig, c.Interface, c.RangeFrom)
		}
	}
	return prefixes, nil
}

// interfacePrefixes returns the IPv4 addresses of the named interface
// with their prefix lengths.
func interfacePrefixes(name string) ([]netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: Interface: %w", ErrConfig, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("%w: Interface %s: %w", ErrConfig, name, err)
	}
	var prefixes []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		ones, _ := ipn.Mask.Size()
		prefixes = append(prefixes, netip.PrefixFrom(ip, ones))
	}
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("%w: Interface: %s has no IPv4 address", ErrConfig, name)
	}
	return prefixes, nil
}
