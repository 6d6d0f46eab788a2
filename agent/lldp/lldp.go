// Package lldp learns where a node's NICs are plugged in: it listens on
// each link for the Link Layer Discovery Protocol frames that switches
// send (IEEE 802.1AB, EtherType 0x88cc, to 01:80:c2:00:00:0e) and reports
// the neighbour of each link as facts: the switch's chassis id and system
// name, the port's id and description, the management address and the
// port VLAN. Operators tag by them ("nodes on switch rack12-tor1").
//
// The listener never delays the first registration: it starts beside the
// controller, and a neighbour heard later changes the facts, which the
// controller registers again at its next checkin. It stops listening after
// a window (default 35 s: switches send every 30 s by default, so the
// window holds at least one frame of each) or, per link, at the first
// frame.
package lldp

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EtherType is LLDP's Ethernet type.
const EtherType = 0x88cc

// Multicast is the nearest-bridge group address LLDP frames are sent to.
var Multicast = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// ErrFrame wraps the reason an LLDPDU is refused.
var ErrFrame = errors.New("lldp: malformed frame")

// TLV types (IEEE 802.1AB-2016 §8.4).
const (
	tlvEnd         = 0
	tlvChassisID   = 1
	tlvPortID      = 2
	tlvTTL         = 3
	tlvPortDescr   = 4
	tlvSystemName  = 5
	tlvSystemDescr = 6
	tlvMgmtAddr    = 8
	tlvOrgSpecific = 127
)

// Neighbor is what one LLDPDU says about the switch port at the other end
// of a link.
type Neighbor struct {
	ChassisID   string // as its subtype prescribes: a MAC in colon form, an address, or text
	PortID      string
	PortDescr   string
	SystemName  string
	SystemDescr string
	MgmtAddr    string // the first IPv4 or IPv6 management address
	VLAN        int    // port VLAN id (IEEE 802.1 TLV), 0 if not sent
	TTL         int    // seconds; 0 means the switch withdrew the information
}

// Parse reads an LLDPDU: the TLVs after the Ethernet header. The first
// three TLVs must be chassis id, port id and TTL (§8.2); unknown TLVs are
// skipped, and parsing stops at the End TLV or the end of the data.
func Parse(pdu []byte) (Neighbor, error) {
	var n Neighbor
	for i := 0; len(pdu) > 0; i++ {
		if len(pdu) < 2 {
			return Neighbor{}, fmt.Errorf("%w: truncated TLV header", ErrFrame)
		}
		h := binary.BigEndian.Uint16(pdu)
		typ, size := int(h>>9), int(h&0x1ff)
		if len(pdu) < 2+size {
			return Neighbor{}, fmt.Errorf("%w: TLV type %d claims %d bytes, %d left", ErrFrame, typ, size, len(pdu)-2)
		}
		v := pdu[2 : 2+size]
		pdu = pdu[2+size:]
		if i < 3 && typ != []int{tlvChassisID, tlvPortID, tlvTTL}[i] {
			return Neighbor{}, fmt.Errorf("%w: TLV %d is type %d, want chassis id, port id, TTL first", ErrFrame, i+1, typ)
		}
		switch typ {
		case tlvEnd:
			return n, nil
		case tlvChassisID, tlvPortID:
			if size < 2 || size > 256 {
				return Neighbor{}, fmt.Errorf("%w: id TLV of %d bytes", ErrFrame, size)
			}
			id := idString(typ, v[0], v[1:])
			if typ == tlvChassisID {
				n.ChassisID = id
			} else {
				n.PortID = id
			}
		case tlvTTL:
			if size < 2 {
				return Neighbor{}, fmt.Errorf("%w: TTL TLV of %d bytes", ErrFrame, size)
			}
			n.TTL = int(binary.BigEndian.Uint16(v))
		case tlvPortDescr:
			n.PortDescr = text(v)
		case tlvSystemName:
			n.SystemName = text(v)
		case tlvSystemDescr:
			n.SystemDescr = text(v)
		case tlvMgmtAddr:
			if n.MgmtAddr == "" {
				n.MgmtAddr = mgmtAddr(v)
			}
		case tlvOrgSpecific:
			// IEEE 802.1 (OUI 00-80-C2) subtype 1: port VLAN id.
			if size >= 6 && v[0] == 0x00 && v[1] == 0x80 && v[2] == 0xc2 && v[3] == 1 {
				n.VLAN = int(binary.BigEndian.Uint16(v[4:6]))
			}
		}
	}
	if n.ChassisID == "" && n.PortID == "" {
		return Neighbor{}, fmt.Errorf("%w: no chassis id or port id", ErrFrame)
	}
	return n, nil
}

// idString renders a chassis or port id by its subtype: MAC addresses in
// colon form (chassis 4, port 3), network addresses as addresses
// (chassis 5, port 4), names as text, anything else in hex.
func idString(typ int, subtype byte, v []byte) string {
	isMAC := (typ == tlvChassisID && subtype == 4) || (typ == tlvPortID && subtype == 3)
	isAddr := (typ == tlvChassisID && subtype == 5) || (typ == tlvPortID && subtype == 4)
	switch {
	case isMAC && len(v) == 6:
		return net.HardwareAddr(v).String()
	case isAddr && len(v) > 1:
		if a, ok := ianaAddr(v[0], v[1:]); ok {
			return a
		}
	case subtype >= 1 && subtype <= 7 && utf8.Valid(v):
		if s := text(v); s != "" {
			return s
		}
	}
	return hex.EncodeToString(v)
}

// ianaAddr renders an address of IANA address family 1 (IPv4) or 2 (IPv6).
func ianaAddr(family byte, b []byte) (string, bool) {
	switch {
	case family == 1 && len(b) == 4:
		return netip.AddrFrom4([4]byte(b)).String(), true
	case family == 2 && len(b) == 16:
		return netip.AddrFrom16([16]byte(b)).String(), true
	}
	return "", false
}

// mgmtAddr reads a management address TLV: string length (address family
// + address), family, address, then interface numbering (ignored).
func mgmtAddr(v []byte) string {
	if len(v) < 2 {
		return ""
	}
	l := int(v[0])
	if l < 2 || 1+l > len(v) {
		return ""
	}
	a, _ := ianaAddr(v[1], v[2:1+l])
	return a
}

// text makes a TLV string safe for a fact: printable UTF-8 only, trimmed.
func text(v []byte) string {
	s := strings.ToValidUTF8(string(v), "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// Facts returns the facts of neighbours by interface name:
// lldp_chassis_id_<if>, lldp_switch_<if> (the system name),
// lldp_switch_descr_<if>, lldp_port_id_<if>, lldp_port_descr_<if>,
// lldp_mgmt_addr_<if>, lldp_vlan_<if>, and lldp_interfaces (the links
// with a neighbour, comma-separated).
func Facts(byIf map[string]Neighbor) map[string]string {
	out := map[string]string{}
	var ifs []string
	for name, n := range byIf {
		ifs = append(ifs, name)
		set := func(k, v string) {
			if v != "" {
				out["lldp_"+k+"_"+name] = v
			}
		}
		set("chassis_id", n.ChassisID)
		set("switch", n.SystemName)
		set("switch_descr", n.SystemDescr)
		set("port_id", n.PortID)
		set("port_descr", n.PortDescr)
		set("mgmt_addr", n.MgmtAddr)
		if n.VLAN > 0 {
			set("vlan", strconv.Itoa(n.VLAN))
		}
	}
	if len(ifs) > 0 {
		slices.Sort(ifs)
		out["lldp_interfaces"] = strings.Join(ifs, ",")
	}
	return out
}
