package lldp

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tlv encodes one TLV.
func tlv(typ int, v ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(typ<<9|len(v)))
	return append(b, v...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// switchPDU is what a top-of-rack switch sends: chassis id by MAC, port
// id by interface name, TTL, port description, system name and
// description, an IPv4 management address, the port VLAN.
func switchPDU() []byte {
	return cat(
		tlv(tlvChassisID, 4, 0x00, 0x1c, 0x73, 0x12, 0x34, 0x56),
		tlv(tlvPortID, append([]byte{5}, "Ethernet12"...)...),
		tlv(tlvTTL, 0, 120),
		tlv(tlvPortDescr, []byte("rack12 node 7 eth0")...),
		tlv(tlvSystemName, []byte("rack12-tor1")...),
		tlv(tlvSystemDescr, []byte("Arista Networks EOS version 4.28")...),
		tlv(tlvMgmtAddr, 5, 1, 10, 20, 0, 2, 2, 0, 0, 0, 1, 0),
		tlv(tlvOrgSpecific, 0x00, 0x80, 0xc2, 1, 0x00, 0x64),
		tlv(tlvEnd),
	)
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		pdu  []byte
		want Neighbor
	}{
		{"switch", switchPDU(), Neighbor{ChassisID: "00:1c:73:12:34:56", PortID: "Ethernet12", PortDescr: "rack12 node 7 eth0",
			SystemName: "rack12-tor1", SystemDescr: "Arista Networks EOS version 4.28", MgmtAddr: "10.20.0.2", VLAN: 100, TTL: 120}},
		{"port by MAC, chassis by address, no End TLV", cat(
			tlv(tlvChassisID, 5, 1, 192, 0, 2, 9),
			tlv(tlvPortID, 3, 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc),
			tlv(tlvTTL, 0, 30)),
			Neighbor{ChassisID: "192.0.2.9", PortID: "52:54:00:aa:bb:cc", TTL: 30}},
		{"unknown TLVs and IPv6 management", cat(
			tlv(tlvChassisID, append([]byte{7}, "sw-a"...)...), tlv(tlvPortID, append([]byte{7}, "1/0/7"...)...), tlv(tlvTTL, 0, 120),
			tlv(9, 1, 2, 3), tlv(tlvOrgSpecific, 0x00, 0x12, 0x0f, 1, 3, 0x6c, 0x00, 0x00, 0x10),
			tlv(tlvMgmtAddr, append([]byte{17, 2}, append(make([]byte, 15), 1)...)...)),
			Neighbor{ChassisID: "sw-a", PortID: "1/0/7", MgmtAddr: "::1", TTL: 120}},
		{"control characters dropped", cat(tlv(tlvChassisID, 7, 's', 0, 'w'), tlv(tlvPortID, 7, 'p', '\n'), tlv(tlvTTL, 0, 1), tlv(tlvSystemName, 0xff, 'x')),
			Neighbor{ChassisID: "sw", PortID: "p", SystemName: "x", TTL: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.pdu)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for name, pdu := range map[string][]byte{
		"empty":           nil,
		"truncated":       tlv(tlvChassisID, 4, 1, 2)[:3],
		"length too long": {0x02, 0x20, 4},
		"port id first":   cat(tlv(tlvPortID, 7, 'x'), tlv(tlvChassisID, 7, 'y'), tlv(tlvTTL, 0, 1)),
		"one-byte id":     cat(tlv(tlvChassisID, 7), tlv(tlvPortID, 7, 'x'), tlv(tlvTTL, 0, 1)),
		"short TTL":       cat(tlv(tlvChassisID, 7, 'x'), tlv(tlvPortID, 7, 'x'), tlv(tlvTTL, 1)),
	} {
		if _, err := Parse(pdu); !errors.Is(err, ErrFrame) {
			t.Errorf("Parse(%s) = %v, want ErrFrame", name, err)
		}
	}
}

func TestFacts(t *testing.T) {
	n, _ := Parse(switchPDU())
	got := Facts(map[string]Neighbor{"eth0": n, "eth1": {ChassisID: "x", PortID: "y"}})
	want := map[string]string{
		"lldp_interfaces": "eth0,eth1", "lldp_chassis_id_eth0": "00:1c:73:12:34:56", "lldp_switch_eth0": "rack12-tor1",
		"lldp_switch_descr_eth0": "Arista Networks EOS version 4.28", "lldp_port_id_eth0": "Ethernet12",
		"lldp_port_descr_eth0": "rack12 node 7 eth0", "lldp_mgmt_addr_eth0": "10.20.0.2", "lldp_vlan_eth0": "100",
		"lldp_chassis_id_eth1": "x", "lldp_port_id_eth1": "y",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Facts mismatch (-want +got):\n%s", diff)
	}
	if len(Facts(nil)) != 0 {
		t.Errorf("Facts(no neighbours) is not empty")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(switchPDU())
	f.Add(cat(tlv(tlvChassisID, 5, 1, 192, 0, 2, 9), tlv(tlvPortID, 3, 1, 2, 3, 4, 5, 6), tlv(tlvTTL, 0, 30)))
	f.Fuzz(func(t *testing.T, pdu []byte) {
		n, err := Parse(pdu)
		if err != nil {
			return
		}
		for k, v := range Facts(map[string]Neighbor{"eth0": n}) {
			for _, r := range v {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("fact %s = %q holds a control character", k, v)
				}
			}
		}
	})
}
