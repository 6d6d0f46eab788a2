// This file is the DHCP part of serve's configuration: the per-subnet
// list dhcp_subnets (YAML only) and the one-subnet keys (dhcp_range,
// dhcp_subnet, dhcp_routers, …, also flags), turned into dhcp.Config.
// A bad subnet setting is reported with its key path, and LoadConfig adds
// the file and line.

package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp"
	"github.com/razor-mk/razor-mk/netboot/ipxe"
	"gopkg.in/yaml.v3"
)

// DHCPSubnet is one entry of dhcp_subnets: a network full DHCP leases
// on, directly attached or behind a relay (see dhcp.Subnet).
type DHCPSubnet struct {
	Subnet       string            `yaml:"subnet"`
	Ranges       []string          `yaml:"ranges"`
	Routers      []string          `yaml:"routers"`
	DNS          []string          `yaml:"dns"`
	NTP          []string          `yaml:"ntp"`
	Domain       string            `yaml:"domain"`
	Search       []string          `yaml:"search"`
	LeaseTime    time.Duration     `yaml:"lease_time"`
	Reservations []DHCPReservation `yaml:"reservations"`
	UEFILoader   string            `yaml:"uefi_loader"`
}

// DHCPReservation pins one host by MAC (see dhcp.Reservation).
type DHCPReservation struct {
	MAC      string `yaml:"mac"`
	IP       string `yaml:"ip"`
	Hostname string `yaml:"hostname"`
	BootFile string `yaml:"boot_file"`
	// UEFILoader: auto, ipxe or shim for this host (see uefi_loader).
	UEFILoader string `yaml:"uefi_loader"`
}

// KeyError is a bad setting inside a list of the configuration; Path is
// the key path from the top ({"dhcp_subnets", 1, "ranges", 0}) and Line
// its line in the file, 0 when it did not come from a file.
type KeyError struct {
	File string
	Line int
	Path []any
	Msg  string
}

// Error reads "config: FILE:LINE: PATH: problem" when the line is known.
func (e *KeyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("config: %s:%d: %s: %s", e.File, e.Line, dhcp.PathString(e.Path), e.Msg)
	}
	return fmt.Sprintf("%v: %s: %s", ErrInvalid, dhcp.PathString(e.Path), e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *KeyError) Unwrap() error { return ErrInvalid }

// shorthandKeys are the one-subnet keys, by the dhcp.Subnet key they
// fill.
var shorthandKeys = map[string]string{
	"subnet": "dhcp_subnet", "ranges": "dhcp_range", "routers": "dhcp_routers", "dns": "dhcp_dns",
	"ntp": "dhcp_ntp", "domain": "dhcp_domain", "search": "dhcp_search", "lease_time": "dhcp_lease_time",
}

// usesShorthand reports whether a one-subnet key other than
// dhcp_lease_time (a default for every subnet) is set.
func (c Config) usesShorthand() bool {
	return c.DHCPRange != "" || c.DHCPSubnet != "" || c.DHCPRouters != "" || c.DHCPDNS != "" ||
		c.DHCPNTP != "" || c.DHCPDomain != "" || c.DHCPSearch != ""
}

// dhcpSubnets parses dhcp_subnets and checks them as a whole
// (dhcp.CheckSubnets); errors are *KeyError.
func (c Config) dhcpSubnets() ([]dhcp.Subnet, error) {
	out := make([]dhcp.Subnet, 0, len(c.DHCPSubnets))
	var perr error
	at := func(path ...any) {
		if perr == nil {
			perr = &KeyError{Path: append([]any{"dhcp_subnets"}, path[:len(path)-1]...), Msg: path[len(path)-1].(string)}
		}
	}
	for i, y := range c.DHCPSubnets {
		var sn dhcp.Subnet
		if y.Subnet != "" {
			p, err := netip.ParsePrefix(strings.TrimSpace(y.Subnet))
			if err != nil {
				at(i, "subnet", fmt.Sprintf("%q: want a network in CIDR form, like 10.20.0.0/24", y.Subnet))
			}
			sn.Prefix = p
		}
		for j, r := range y.Ranges {
			from, to, err := dhcp.ParseRange(r)
			if err != nil {
				at(i, "ranges", j, fmt.Sprintf("%q: want FROM-TO, two IPv4 addresses, lowest first", r))
			}
			sn.Ranges = append(sn.Ranges, dhcp.Range{From: from, To: to})
		}
		sn.Routers = parseAddrs(y.Routers, func(j int, s string) { at(i, "routers", j, fmt.Sprintf("%q is not an IPv4 address", s)) })
		sn.DNS = parseAddrs(y.DNS, func(j int, s string) { at(i, "dns", j, fmt.Sprintf("%q is not an IPv4 address", s)) })
		sn.NTP = parseAddrs(y.NTP, func(j int, s string) { at(i, "ntp", j, fmt.Sprintf("%q is not an IPv4 address", s)) })
		sn.DomainName, sn.DomainSearch, sn.LeaseTime = y.Domain, y.Search, y.LeaseTime
		sn.UEFILoader = ipxe.Loader(strings.ToLower(strings.TrimSpace(y.UEFILoader)))
		for j, r := range y.Reservations {
			res := dhcp.Reservation{MAC: r.MAC, Hostname: r.Hostname, BootFile: r.BootFile,
				UEFILoader: ipxe.Loader(strings.ToLower(strings.TrimSpace(r.UEFILoader)))}
			if r.MAC == "" {
				at(i, "reservations", j, "mac", "required")
			}
			if r.IP != "" {
				a, err := netip.ParseAddr(strings.TrimSpace(r.IP))
				if err != nil {
					at(i, "reservations", j, "ip", fmt.Sprintf("%q is not an IPv4 address", r.IP))
				}
				res.IP = a
			}
			sn.Reservations = append(sn.Reservations, res)
		}
		out = append(out, sn)
	}
	if perr != nil {
		return nil, perr
	}
	full := c.DHCP == string(dhcp.Full)
	if err := dhcp.CheckSubnets(full, out); err != nil {
		var ce *dhcp.ConfigError
		if errors.As(err, &ce) {
			return nil, &KeyError{Path: append([]any{"dhcp_subnets"}, ce.Path[1:]...), Msg: ce.Msg}
		}
		return nil, fmt.Errorf("%w: dhcp_subnets: %w", ErrInvalid, err)
	}
	return out, nil
}

// parseAddrs parses IPv4 addresses, calling bad for each that is not one.
func parseAddrs(ss []string, bad func(j int, s string)) []netip.Addr {
	var out []netip.Addr
	for j, s := range ss {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !a.Is4() {
			bad(j, s)
		}
		out = append(out, a)
	}
	return out
}

// splitAddrs parses a comma-separated address list (a one-subnet key).
func splitAddrs(key, s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range splitList(s) {
		a, err := netip.ParseAddr(f)
		if err != nil || !a.Is4() {
			return nil, bad(key, "%q is not an IPv4 address", f)
		}
		out = append(out, a)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// validateDHCP checks the DHCP keys: full mode needs an interface and a
// range or dhcp_subnets; dhcp_subnets excludes the one-subnet keys.
func (c Config) validateDHCP() error {
	switch c.DHCP {
	case "off", "proxy", "full":
	default:
		return bad("dhcp", "off, proxy or full, got %q", c.DHCP)
	}
	if len(c.DHCPSubnets) > 0 && c.usesShorthand() {
		return bad("dhcp_subnets", "set either dhcp_subnets or the one-subnet keys (dhcp_range, dhcp_subnet, dhcp_routers, dhcp_dns, dhcp_ntp, dhcp_domain, dhcp_search), not both")
	}
	if c.DHCP == "full" {
		if c.DHCPInterface == "" {
			return bad("dhcp_interface", "required with dhcp full (full DHCP never starts without an explicit interface)")
		}
		if c.DHCPRange == "" && len(c.DHCPSubnets) == 0 {
			return bad("dhcp_range", "required with dhcp full, or dhcp_subnets")
		}
	}
	if c.DHCPRange != "" {
		if _, _, err := dhcp.ParseRange(c.DHCPRange); err != nil {
			return bad("dhcp_range", "want FROM-TO, two IPv4 addresses in order, got %q", c.DHCPRange)
		}
	}
	if c.DHCPSubnet != "" {
		if p, err := netip.ParsePrefix(strings.TrimSpace(c.DHCPSubnet)); err != nil || !p.Addr().Is4() {
			return bad("dhcp_subnet", "want an IPv4 network in CIDR form, like 10.20.0.0/24, got %q", c.DHCPSubnet)
		}
	}
	for key, s := range map[string]string{"dhcp_routers": c.DHCPRouters, "dhcp_dns": c.DHCPDNS, "dhcp_ntp": c.DHCPNTP} {
		if _, err := splitAddrs(key, s); err != nil {
			return err
		}
	}
	if c.DHCPLeaseTime != 0 && (c.DHCPLeaseTime < 10*time.Second || c.DHCPLeaseTime > 365*24*time.Hour) {
		return bad("dhcp_lease_time", "10s to 8760h, got %s", c.DHCPLeaseTime)
	}
	if _, err := ipxe.ParseLoader(c.UEFILoader); err != nil {
		return bad("uefi_loader", "want auto, ipxe or shim, got %q", c.UEFILoader)
	}
	_, err := c.dhcpSubnets()
	return err
}

// DHCPConfig is the dhcp.Config the DHCP keys describe (without the
// server address and ports, which the caller adds).
func (c Config) DHCPConfig() (dhcp.Options, error) {
	mode, err := dhcp.ParseMode(c.DHCP)
	if err != nil {
		return dhcp.Options{}, err
	}
	dc := dhcp.Options{Mode: mode, Interface: c.DHCPInterface, LeaseTime: c.DHCPLeaseTime}
	if dc.UEFILoader, err = ipxe.ParseLoader(c.UEFILoader); err != nil {
		return dc, bad("uefi_loader", "want auto, ipxe or shim, got %q", c.UEFILoader)
	}
	if len(c.DHCPSubnets) > 0 {
		dc.Subnets, err = c.dhcpSubnets()
		return dc, err
	}
	if c.DHCPRange != "" {
		if dc.RangeFrom, dc.RangeTo, err = dhcp.ParseRange(c.DHCPRange); err != nil {
			return dc, bad("dhcp_range", "%v", err)
		}
	}
	if c.DHCPSubnet != "" {
		if dc.Subnet, err = netip.ParsePrefix(strings.TrimSpace(c.DHCPSubnet)); err != nil {
			return dc, bad("dhcp_subnet", "%v", err)
		}
	}
	if dc.Routers, err = splitAddrs("dhcp_routers", c.DHCPRouters); err != nil {
		return dc, err
	}
	if dc.DNS, err = splitAddrs("dhcp_dns", c.DHCPDNS); err != nil {
		return dc, err
	}
	if dc.NTP, err = splitAddrs("dhcp_ntp", c.DHCPNTP); err != nil {
		return dc, err
	}
	dc.DomainName, dc.DomainSearch = strings.TrimSpace(c.DHCPDomain), splitList(c.DHCPSearch)
	return dc, nil
}

// dhcpKeyError turns a dhcp.ConfigError from dhcp.New into this
// configuration's key names: dhcp_subnets[…] or, for the one-subnet
// shorthand, the dhcp_* key.
func (c Config) dhcpKeyError(err error) error {
	var ce *dhcp.ConfigError
	if !errors.As(err, &ce) || len(ce.Path) < 3 {
		return err
	}
	if len(c.DHCPSubnets) > 0 {
		return &KeyError{Path: append([]any{"dhcp_subnets"}, ce.Path[1:]...), Msg: ce.Msg}
	}
	if key, ok := shorthandKeys[fmt.Sprint(ce.Path[2])]; ok {
		return bad(key, "%s", ce.Msg)
	}
	return err
}

// withLine fills a KeyError's file and line from the YAML document the
// configuration was read from.
func withLine(err error, file string, doc *yaml.Node) error {
	var ke *KeyError
	if doc == nil || !errors.As(err, &ke) || ke.Line > 0 {
		return err
	}
	if line := locate(doc, ke.Path); line > 0 {
		ke.File, ke.Line = file, line
	}
	return err
}

// locate returns the line of the deepest node of path that exists in
// the document (a missing key: the line of the map that lacks it).
func locate(n *yaml.Node, path []any) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return line
		}
		n, line = next, next.Line
	}
	return line
}
