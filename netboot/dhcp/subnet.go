package dhcp

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/netboot/ipxe"
)

// Subnet is one network the full-mode server leases on: a directly
// attached one (the served interface has an address in it) or one behind
// a DHCP relay (RFC 1542 §4: the relay's giaddr is an address on the
// client's network, so the subnet containing giaddr is the client's).
type Subnet struct {
	// Prefix is the network, e.g. 10.20.0.0/24 (option 1 is its mask).
	Prefix netip.Prefix
	// Ranges are the dynamic pools, each inside Prefix, none overlapping.
	// A subnet without ranges serves only its reservations.
	Ranges []Range
	// Routers (option 3) must be inside Prefix; DNS (option 6) and NTP
	// (option 42) may be anywhere.
	Routers, DNS, NTP []netip.Addr
	// DomainName is option 15.
	DomainName string
	// DomainSearch is option 119 (RFC 3397), in order.
	DomainSearch []string
	// LeaseTime is option 51 for this subnet; zero takes Config.LeaseTime.
	LeaseTime time.Duration
	// Reservations pin hosts by MAC.
	Reservations []Reservation
	// UEFILoader, when set, replaces Options.UEFILoader for this subnet.
	UEFILoader ipxe.Loader
}

// Range is an address pool, both ends inclusive.
type Range struct{ From, To netip.Addr }

// String formats r as FROM-TO, the form ParseRange reads.
func (r Range) String() string { return r.From.String() + "-" + r.To.String() }

// size is the number of addresses in r.
func (r Range) size() uint64 { return uint64(u32(r.To)) - uint64(u32(r.From)) + 1 }

// Reservation pins one host, known by its MAC. In full mode the host
// always gets IP (when set; otherwise an address of the pool) and
// Hostname (option 12); IP is never given to another client, even when it
// lies inside a range. In both modes BootFile, when set, replaces the
// firmware-stage boot file (the iPXE binary a PXE ROM or UEFI HTTP boot
// fetches; iPXE itself always gets the script).
type Reservation struct {
	MAC      string // any case, colons or dashes
	IP       netip.Addr
	Hostname string
	BootFile string
	// UEFILoader, when set, replaces the subnet's for this host.
	UEFILoader ipxe.Loader
}

// ConfigError is an invalid setting inside Config.Subnets. Path locates
// it with the configuration file's key names, so a caller holding the
// file can name the line: {"subnets", 1, "ranges", 0} is the first range
// of the second subnet. It wraps ErrConfig.
type ConfigError struct {
	Path []any // string keys and int indexes
	Msg  string
}

// Error names the path and the problem.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrConfig, PathString(e.Path), e.Msg)
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// PathString renders a ConfigError path: subnets[1].ranges[0].
func PathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch v := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// ParseRanges parses "FROM-TO" ranges; the error names the bad one.
func ParseRanges(ss []string) ([]Range, error) {
	out := make([]Range, 0, len(ss))
	for _, s := range ss {
		from, to, err := ParseRange(s)
		if err != nil {
			return nil, err
		}
		out = append(out, Range{from, to})
	}
	return out, nil
}

// hostLabel is one DNS label (RFC 1123 §2.1: letters, digits, hyphens,
// not starting or ending with a hyphen, at most 63 characters).
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// checkDomain reports why s is not a DNS name (dots between labels, an
// optional trailing dot, 253 characters at most), or "".
func checkDomain(s string) string {
	t := strings.TrimSuffix(s, ".")
	if t == "" || len(t) > 253 {
		return fmt.Sprintf("%q is not a domain name", s)
	}
	for _, l := range strings.Split(t, ".") {
		if !hostLabel.MatchString(l) {
			return fmt.Sprintf("%q is not a domain name (label %q)", s, l)
		}
	}
	return ""
}

// CheckSubnets validates subnets as a whole: each prefix IPv4 and a
// network address, no two subnets overlapping; ranges inside their
// subnet and not overlapping each other; routers inside the subnet;
// reservations with a valid MAC, an address inside their subnet, no MAC
// and no address reserved twice. full is false in proxy mode, which
// leases nothing (ranges are checked but unused; a reservation may then
// carry only a boot file). The first problem found is returned as a
// *ConfigError.
func CheckSubnets(full bool, subnets []Subnet) error {
	bad := func(msg string, path ...any) error {
		return &ConfigError{Path: append([]any{"subnets"}, path...), Msg: msg}
	}
	type rangeAt struct {
		r    Range
		i, j int
	}
	var ranges []rangeAt
	macs := map[string][]any{}
	ips := map[netip.Addr][]any{}
	for i, sn := range subnets {
		p := sn.Prefix
		switch {
		case !p.IsValid():
			return bad("required: the network in CIDR form, like 10.20.0.0/24", i, "subnet")
		case !p.Addr().Is4():
			return bad(fmt.Sprintf("%v is not IPv4", p), i, "subnet")
		case p.Bits() > 30:
			return bad(fmt.Sprintf("%v leaves no room for clients (at most /30)", p), i, "subnet")
		case p.Masked() != p:
			return bad(fmt.Sprintf("%v has host bits set; the network is %v", p, p.Masked()), i, "subnet")
		}
		for k, o := range subnets[:i] {
			if o.Prefix.IsValid() && o.Prefix.Overlaps(p) {
				return bad(fmt.Sprintf("%v overlaps subnets[%d] %v", p, k, o.Prefix), i, "subnet")
			}
		}
		for j, r := range sn.Ranges {
			switch {
			case !r.From.Is4() || !r.To.Is4():
				return bad(fmt.Sprintf("%v is not IPv4", r), i, "ranges", j)
			case r.To.Less(r.From):
				return bad(fmt.Sprintf("%v ends before it starts", r), i, "ranges", j)
			case !p.Contains(r.From) || !p.Contains(r.To):
				return bad(fmt.Sprintf("%v is not inside subnet %v", r, p), i, "ranges", j)
			}
			for _, o := range ranges {
				if !(r.To.Less(o.r.From) || o.r.To.Less(r.From)) {
					return bad(fmt.Sprintf("%v overlaps subnets[%d].ranges[%d] %v", r, o.i, o.j, o.r), i, "ranges", j)
				}
			}
			ranges = append(ranges, rangeAt{r, i, j})
		}
		for j, a := range sn.Routers {
			if !a.Is4() || !p.Contains(a) {
				return bad(fmt.Sprintf("%v is not inside subnet %v: a client cannot reach it", a, p), i, "routers", j)
			}
		}
		for key, list := range map[string][]netip.Addr{"dns": sn.DNS, "ntp": sn.NTP} {
			for j, a := range list {
				if !a.Is4() {
					return bad(fmt.Sprintf("%v is not IPv4", a), i, key, j)
				}
			}
		}
		if sn.DomainName != "" {
			if why := checkDomain(sn.DomainName); why != "" {
				return bad(why, i, "domain")
			}
		}
		for j, d := range sn.DomainSearch {
			if why := checkDomain(d); why != "" {
				return bad(why, i, "search", j)
			}
		}
		if sn.UEFILoader != "" {
			if _, err := ipxe.ParseLoader(string(sn.UEFILoader)); err != nil {
				return bad(err.Error(), i, "uefi_loader")
			}
		}
		if sn.LeaseTime != 0 && (sn.LeaseTime < 10*time.Second || sn.LeaseTime > 365*24*time.Hour) {
			return bad(fmt.Sprintf("%v: want 10s to 8760h", sn.LeaseTime), i, "lease_time")
		}
		for j, r := range sn.Reservations {
			at := func(key string) []any { return []any{i, "reservations", j, key} }
			m, err := NormalizeMAC(r.MAC)
			if err != nil {
				return bad(err.Error(), at("mac")...)
			}
			if prev, ok := macs[m]; ok {
				return bad(fmt.Sprintf("%s is already reserved at %s", m, PathString(append([]any{"subnets"}, prev...))), at("mac")...)
			}
			macs[m] = at("mac")
			if r.IP.IsValid() {
				if err := checkReservedIP(r.IP, p, subnets, ips, at("ip")); err != nil {
					return err
				}
			} else if full && r.Hostname == "" && r.BootFile == "" && r.UEFILoader == "" {
				return bad("a reservation needs an ip, a hostname, a boot_file or a uefi_loader", at("mac")...)
			}
			if r.UEFILoader != "" {
				if _, err := ipxe.ParseLoader(string(r.UEFILoader)); err != nil {
					return bad(err.Error(), at("uefi_loader")...)
				}
			}
			if r.Hostname != "" && checkDomain(r.Hostname) != "" {
				return bad(fmt.Sprintf("%q is not a host name", r.Hostname), at("hostname")...)
			}
			if strings.ContainsAny(r.BootFile, " \t\r\n\x00") || len(r.BootFile) > 127 {
				// The BOOTP file field is 128 bytes (RFC 951), NUL-terminated.
				return bad(fmt.Sprintf("%q: want a file name or URL of at most 127 bytes, no spaces", r.BootFile), at("boot_file")...)
			}
		}
	}
	return nil
}

// checkReservedIP checks one reserved address: IPv4, inside its own
// subnet (the error names the subnet it belongs to if any), and reserved
// once. ips records the path of each reserved address.
func checkReservedIP(ip netip.Addr, p netip.Prefix, subnets []Subnet, ips map[netip.Addr][]any, at []any) error {
	bad := func(msg string) error { return &ConfigError{Path: append([]any{"subnets"}, at...), Msg: msg} }
	if !ip.Is4() {
		return bad(fmt.Sprintf("%v is not IPv4", ip))
	}
	if !p.Contains(ip) {
		for k, o := range subnets {
			if o.Prefix.Contains(ip) {
				return bad(fmt.Sprintf("%v is not inside subnet %v; it belongs to subnets[%d] %v: list it there", ip, p, k, o.Prefix))
			}
		}
		return bad(fmt.Sprintf("%v is outside every configured subnet", ip))
	}
	if ip == p.Addr() || (p.Bits() < 31 && ip == lastAddr(p)) {
		return bad(fmt.Sprintf("%v is the network or broadcast address of %v", ip, p))
	}
	if prev, ok := ips[ip]; ok {
		return bad(fmt.Sprintf("%v is already reserved at %s", ip, PathString(append([]any{"subnets"}, prev...))))
	}
	ips[ip] = slices.Clone(at)
	return nil
}

// lastAddr is the broadcast address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	return addr(u32(p.Masked().Addr()) | (1<<(32-p.Bits()) - 1))
}
