package facts

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/wire"
)

const netClassDir = "sys/class/net"

// ARPHRD_* link types of sys/class/net/<if>/type (linux/if_arp.h).
const (
	arphrdEther      = 1
	arphrdInfiniband = 32
)

// Interface flags (linux/if.h).
const (
	iffBroadcast = 0x2
	iffMulticast = 0x1000
)

// netIface is one network interface.
type netIface struct {
	name    string
	typ     int
	mac     string // normalised (upper-case, no colons); "" if none
	rawMAC  string // as sysfs prints it (lower-case, colons)
	mtu     string
	flags   uint64
	carrier string // "1", "0" or "" (interface down)
	speed   int64  // Mbit/s, <= 0 unknown
	duplex  string
	random  bool // addr_assign_type NET_ADDR_RANDOM: the MAC changes every boot

	dev       string // real path of the device behind it, "" for virtual
	subsystem string // bus of that device: pci, virtio, usb, …
	pci       string // PCI function address, "" if none
	driver    string
	wireless  bool

	physical bool // has a device: hardware (or an emulation of it)
	identity bool // counts in hw_id

	ipv4 []ipv4Addr
	ipv6 []netip.Addr
}

type ipv4Addr struct {
	addr netip.Addr
	bits int
}

// interfaces reads every interface once, with its addresses.
func (g *gatherer) interfaces() ([]*netIface, error) {
	if g.ifsLoaded {
		return g.ifs, g.ifsErr
	}
	g.ifsLoaded = true
	ents, err := g.t.ReadDir(netClassDir)
	if err != nil {
		g.ifsErr = fmt.Errorf("list interfaces: %w", err)
		return nil, g.ifsErr
	}
	for _, e := range ents {
		g.ifs = append(g.ifs, g.readIface(e.Name()))
	}
	sort.Slice(g.ifs, func(i, j int) bool { return g.ifs[i].name < g.ifs[j].name })
	markIdentity(g.ifs)
	if err := g.readAddrs(g.ifs); err != nil {
		g.ifsErr = err
	}
	return g.ifs, g.ifsErr
}

func (g *gatherer) readIface(name string) *netIface {
	d := path.Join(netClassDir, name)
	r := func(attr string) string { return readString(g.t, d+"/"+attr) }
	ifc := &netIface{name: name, mtu: r("mtu"), duplex: r("duplex")}
	ifc.typ, _ = strconv.Atoi(r("type"))
	ifc.flags = parseUint(r("flags"))
	if raw := r("address"); raw != "" {
		if m, err := wire.NormalizeMAC(raw); err == nil && m != "000000000000" {
			ifc.mac, ifc.rawMAC = m, strings.ToLower(raw)
		}
	}
	ifc.random = r("addr_assign_type") == "1"
	ifc.carrier = r("carrier")
	if s, err := strconv.ParseInt(r("speed"), 10, 64); err == nil {
		ifc.speed = s
	}
	if dev, err := realPath(g.t, d+"/device"); err == nil && exists(g.t, d+"/device") {
		ifc.dev, ifc.physical = dev, true
		ifc.subsystem = linkBase(g.t, dev+"/subsystem")
		ifc.driver = linkBase(g.t, dev+"/driver")
		switch {
		case pciAddrRE.MatchString(path.Base(dev)):
			ifc.pci = path.Base(dev)
		case ifc.subsystem == "virtio" && pciAddrRE.MatchString(path.Base(path.Dir(dev))):
			ifc.pci = path.Base(path.Dir(dev))
		}
	}
	ifc.wireless = isDir(g.t, d+"/wireless") || exists(g.t, d+"/phy80211")
	return ifc
}

// markIdentity picks the interfaces whose MACs make the hw_id: physical
// (a device behind it, so no lo, bridge, bond, VLAN, veth, tun/tap),
// Ethernet (type 1, so no InfiniBand or CAN), wired (no Wi-Fi, whose MAC
// tools like to randomise) and with a MAC the hardware gave it: an
// interface whose MAC the kernel made up at random counts only when no
// other would.
func markIdentity(ifs []*netIface) {
	var fixed, random []*netIface
	for _, ifc := range ifs {
		if !ifc.physical || ifc.typ != arphrdEther || ifc.wireless || ifc.mac == "" {
			continue
		}
		if ifc.random {
			random = append(random, ifc)
		} else {
			fixed = append(fixed, ifc)
		}
	}
	if len(fixed) == 0 {
		fixed = random
	}
	for _, ifc := range fixed {
		ifc.identity = true
	}
}

// readAddrs attaches the IPv4 and IPv6 addresses to the interfaces. They
// come from /proc (the local addresses in fib_trie, matched to interfaces
// by the connected routes in /proc/net/route; if_inet6) rather than from
// netlink, so a captured tree replays them.
func (g *gatherer) readAddrs(ifs []*netIface) error {
	byName := map[string]*netIface{}
	for _, ifc := range ifs {
		byName[ifc.name] = ifc
	}
	var errs []error
	routes, err1 := g.t.ReadFile("proc/net/route")
	trie, err2 := g.t.ReadFile("proc/net/fib_trie")
	switch {
	case err1 == nil && err2 == nil:
		rs := parseRoutes(routes)
		for _, a := range parseFibLocal(trie) {
			name, bits := "", 0
			if a.IsLoopback() {
				name, bits = "lo", 8
			} else if r, ok := connectedRoute(rs, a); ok {
				name, bits = r.iface, r.bits
			}
			if ifc := byName[name]; ifc != nil {
				ifc.ipv4 = append(ifc.ipv4, ipv4Addr{a, bits})
			}
		}
	case errors.Is(err1, fs.ErrNotExist) || errors.Is(err2, fs.ErrNotExist):
		// No IPv4 in this kernel: nothing to report.
	default:
		errs = append(errs, fmt.Errorf("read IPv4 addresses: %w", errors.Join(err1, err2)))
	}
	if b, err := g.t.ReadFile("proc/net/if_inet6"); err == nil {
		for name, addrs := range parseIfInet6(b) {
			if ifc := byName[name]; ifc != nil {
				ifc.ipv6 = addrs
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("read IPv6 addresses: %w", err))
	}
	return errors.Join(errs...)
}

type route struct {
	iface   string
	dest    netip.Addr
	bits    int
	gateway netip.Addr
	def     bool
}

// ipv4FromHex decodes an address of /proc/net/route: the kernel prints the
// network-order word as a native integer, so the bytes come out in the
// machine's order.
func ipv4FromHex(s string) (netip.Addr, bool) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 8 {
		return netip.Addr{}, false
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), true
}

// parseRoutes parses /proc/net/route (the main routing table).
func parseRoutes(b []byte) []route {
	var out []route
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dest, ok1 := ipv4FromHex(f[1])
		gw, ok2 := ipv4FromHex(f[2])
		mask, ok3 := ipv4FromHex(f[7])
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		m := mask.As4()
		bits := 0
		for _, x := range m {
			for x&0x80 != 0 {
				bits++
				x <<= 1
			}
		}
		out = append(out, route{iface: f[0], dest: dest, bits: bits, gateway: gw, def: bits == 0})
		if len(out) > 100000 {
			break
		}
	}
	return out
}

// connectedRoute finds the directly connected route (no gateway) with the
// longest prefix that holds a; the kernel adds one for each address.
func connectedRoute(rs []route, a netip.Addr) (route, bool) {
	best, found := route{bits: -1}, false
	for _, r := range rs {
		if r.def || r.gateway != netip.IPv4Unspecified() || r.iface == "lo" {
			continue
		}
		p := netip.PrefixFrom(r.dest, r.bits)
		if p.Contains(a) && r.bits > best.bits {
			best, found = r, true
		}
	}
	return best, found
}

// parseFibLocal returns the local host addresses in /proc/net/fib_trie
// (the leaves marked "/32 host LOCAL"), in trie order, without repeats
// (the Main and Local tables print the same leaves when merged).
func parseFibLocal(b []byte) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	var leaf netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "|-- "):
			leaf, _ = netip.ParseAddr(strings.TrimPrefix(line, "|-- "))
		case strings.HasPrefix(line, "/32 host LOCAL"):
			if leaf.Is4() && !seen[leaf] {
				seen[leaf] = true
				out = append(out, leaf)
			}
		case strings.HasPrefix(line, "+-- "), strings.HasSuffix(line, ":"):
			leaf = netip.Addr{}
		}
		if len(out) > 100000 {
			break
		}
	}
	return out
}

// parseIfInet6 returns the global addresses per interface from
// /proc/net/if_inet6 ("address ifindex prefixlen scope flags name").
func parseIfInet6(b []byte) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 0; sc.Scan() && n < 100000; n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || len(f[0]) != 32 || f[3] != "00" {
			continue
		}
		raw, err := hex.DecodeString(f[0])
		if err != nil {
			continue
		}
		a := netip.AddrFrom16([16]byte(raw))
		out[f[5]] = append(out[f[5]], a)
	}
	for _, v := range out {
		slices.SortFunc(v, func(a, b netip.Addr) int { return a.Compare(b) })
	}
	return out
}

func maskString(bits int) string {
	p := netip.PrefixFrom(netip.IPv4Unspecified(), bits)
	var m [4]byte
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> uint(i%8)
	}
	return netip.AddrFrom4(m).String()
}

// networkFacts reports Facter's network facts and mk_hw_nic*.
func (g *gatherer) networkFacts() error {
	ifs, err := g.interfaces()
	var names []string
	var primary *netIface
	for _, ifc := range ifs {
		n := alphafy(ifc.name)
		names = append(names, n)
		if ifc.mac != "" && ifc.name != "lo" {
			g.set("macaddress_"+n, wire.ColonMAC(ifc.mac))
		}
		if len(ifc.ipv4) > 0 {
			a := ifc.ipv4[0]
			g.set("ipaddress_"+n, a.addr.String())
			g.set("netmask_"+n, maskString(a.bits))
			g.set("network_"+n, netip.PrefixFrom(a.addr, a.bits).Masked().Addr().String())
		}
		if len(ifc.ipv6) > 0 {
			g.set("ipaddress6_"+n, ifc.ipv6[0].String())
		}
		g.set("mtu_"+n, ifc.mtu)
	}
	g.set("interfaces", strings.Join(names, ","))
	for _, ifc := range ifs {
		if ifc.identity {
			g.set("macaddress", wire.ColonMAC(ifc.mac))
			break
		}
	}
	if _, ok := g.facts["macaddress"]; !ok {
		for _, ifc := range ifs {
			if ifc.mac != "" && ifc.name != "lo" {
				g.set("macaddress", wire.ColonMAC(ifc.mac))
				break
			}
		}
	}
	// The primary address is the one on the interface of the default
	// route, else the first that is not loopback.
	if b, err := g.t.ReadFile("proc/net/route"); err == nil {
		for _, r := range parseRoutes(b) {
			if r.def {
				for _, ifc := range ifs {
					if ifc.name == r.iface && len(ifc.ipv4) > 0 && primary == nil {
						primary = ifc
					}
				}
			}
		}
	}
	for _, ifc := range ifs {
		if primary == nil && ifc.name != "lo" && len(ifc.ipv4) > 0 {
			primary = ifc
		}
	}
	if primary != nil {
		a := primary.ipv4[0]
		g.set("ipaddress", a.addr.String())
		g.set("netmask", maskString(a.bits))
		g.set("network", netip.PrefixFrom(a.addr, a.bits).Masked().Addr().String())
	}
	for _, ifc := range ifs {
		if ifc.name != "lo" && len(ifc.ipv6) > 0 {
			g.set("ipaddress6", ifc.ipv6[0].String())
			break
		}
	}
	if id, err := identity(g); err == nil && id.HWID != "" {
		g.set("hw_id", id.HWID)
	}
	g.hwNICFacts(ifs)
	return err
}

// nic is one entry of lshw -c network: an interface with hardware behind
// it, or a network controller no driver claimed.
type nic struct {
	ifc *netIface // nil when unclaimed
	pci string
	key string
}

func (g *gatherer) hwNICFacts(ifs []*netIface) {
	var nics []nic
	withIface := map[string]bool{}
	for _, ifc := range ifs {
		if !ifc.physical {
			continue
		}
		key := ifc.pci
		if key == "" {
			key = "~" + ifc.dev
		}
		nics = append(nics, nic{ifc: ifc, pci: ifc.pci, key: key + " " + ifc.name})
		withIface[ifc.pci] = true
	}
	// A network controller without an interface is listed when no driver
	// claimed it (lshw's UNCLAIMED): that node needs a driver. One with a
	// driver but no interface here has its interface in another network
	// namespace.
	for _, addr := range g.pciAddrs() {
		d := g.pci[addr]
		if d.class>>16 == 0x02 && !withIface[addr] && !exists(g.t, path.Join(pciDevicesDir, addr, "driver")) {
			nics = append(nics, nic{pci: addr, key: addr})
		}
	}
	sort.SliceStable(nics, func(i, j int) bool { return nics[i].key < nics[j].key })
	g.set("mk_hw_nic_count", strconv.Itoa(len(nics)))
	for i, n := range nics {
		g.nicFacts(i, n)
	}
}

func (g *gatherer) nicFacts(i int, n nic) {
	const pre = "mk_hw_nic"
	ifc := n.ifc
	var caps []string
	conf := map[string]string{}
	desc := "Ethernet controller"
	if n.pci != "" {
		d := path.Join(pciDevicesDir, n.pci)
		g.setn(pre, i, "physical_id", pciPhysID(n.pci))
		g.setn(pre, i, "bus_info", "pci@"+n.pci)
		g.setn(pre, i, "pci_address", n.pci)
		if rev := parseUint(readString(g.t, d+"/revision")); readString(g.t, d+"/revision") != "" {
			g.setn(pre, i, "version", fmt.Sprintf("%02x", rev))
		}
		res := readString(g.t, d+"/resource")
		g.setn(pre, i, "width", pciWidth(res))
		// The standard header and capability list: the first 256 bytes.
		if cfg, err := g.t.ReadHead(d+"/config", 256); err == nil {
			if c, lat, ok := pciConfigInfo(cfg); ok {
				caps = append(caps, c...)
				conf["latency"] = strconv.Itoa(lat)
			}
		}
		if hasROM(res) {
			caps = append(caps, "rom")
		}
		if p := g.pci[n.pci]; p != nil {
			g.setn(pre, i, "vendor_id", fmt.Sprintf("0x%04x", p.vendor))
			g.setn(pre, i, "device_id", fmt.Sprintf("0x%04x", p.device))
			if p.class>>8 == 0x0280 {
				desc = "Network controller"
			}
		}
	}
	if ifc == nil {
		g.setn(pre, i, "description", desc)
		g.setn(pre, i, "unclaimed", "true")
		g.setn(pre, i, "capabilities", strings.Join(caps, " "))
		g.setn(pre, i, "configuration", configString(conf))
		return
	}
	switch {
	case ifc.wireless:
		desc = "Wireless interface"
		caps = append(caps, "wireless", "physical")
	case ifc.typ == arphrdEther:
		desc = "Ethernet interface"
		caps = append(caps, "ethernet", "physical")
	case ifc.typ == arphrdInfiniband:
		desc = "InfiniBand interface"
		caps = append(caps, "physical")
	default:
		desc = "Network interface"
		caps = append(caps, "physical")
	}
	g.setn(pre, i, "description", desc)
	if n.pci == "" {
		g.setn(pre, i, "bus_info", ifc.subsystem+"@"+path.Base(ifc.dev))
	}
	g.setn(pre, i, "logical_name", ifc.name)
	g.setn(pre, i, "serial", ifc.rawMAC)
	g.setn(pre, i, "driver", ifc.driver)
	up := ifc.carrier == "1"
	if up && ifc.speed > 0 {
		g.setn(pre, i, "size", decimalValue(uint64(ifc.speed)*1000*1000, "bit/s"))
		g.setn(pre, i, "link_speed", strconv.FormatInt(ifc.speed, 10))
		conf["speed"] = decimalValue(uint64(ifc.speed)*1000*1000, "bit/s")
	}
	g.setn(pre, i, "capabilities", strings.Join(caps, " "))
	if ifc.flags&iffBroadcast != 0 {
		conf["broadcast"] = "yes"
	}
	if ifc.flags&iffMulticast != 0 {
		conf["multicast"] = "yes"
	}
	conf["driver"] = ifc.driver
	if up && ifc.duplex != "" && ifc.duplex != "unknown" {
		conf["duplex"] = ifc.duplex
	}
	if len(ifc.ipv4) > 0 {
		conf["ip"] = ifc.ipv4[0].addr.String()
	}
	conf["link"] = "no"
	if up {
		conf["link"] = "yes"
	}
	g.setn(pre, i, "configuration", configString(conf))
}

// configString renders lshw's "key=value key=value" with sorted keys.
func configString(conf map[string]string) string {
	keys := make([]string, 0, len(conf))
	for k, v := range conf {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + conf[k])
	}
	return b.String()
}
