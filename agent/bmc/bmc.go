// Package bmc reports a node's baseboard management controller as facts:
// whether there is one, its IPMI version, manufacturer, product and
// firmware, the system GUID it holds, and its LAN configuration (address,
// MAC, how the address was set, VLAN). It asks the BMC through the
// kernel's IPMI driver (/dev/ipmi0, from ipmi_si and ipmi_devintf) with
// plain ioctls from Go; a node without a BMC reports nothing.
//
// The requests are IPMI v2.0 (§20.1 Get Device ID, §22.14 Get System GUID,
// §23.2 Get LAN Configuration Parameters); the decoding of their answers
// is separate from the device (Decode*), so it is tested without one.
package bmc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Network functions and commands used here.
const (
	netfnApp       = 0x06
	netfnTransport = 0x0c
	cmdDeviceID    = 0x01
	cmdSystemGUID  = 0x37
	cmdGetLANParam = 0x02
)

// LAN configuration parameters (IPMI v2.0 table 23-4).
const (
	lanIP       = 3
	lanIPSource = 4
	lanMAC      = 5
	lanVLAN     = 20
)

// ErrShort: an answer is shorter than its command's response.
var ErrShort = errors.New("bmc: short response")

// CompletionError is a BMC's refusal of a request.
type CompletionError struct {
	NetFn, Cmd, Code byte
}

func (e *CompletionError) Error() string {
	return fmt.Sprintf("bmc: netfn %#x cmd %#x: completion code %#x", e.NetFn, e.Cmd, e.Code)
}

// Device is what Get Device ID answers.
type Device struct {
	DeviceID       byte
	Revision       byte
	Firmware       string // "major.minor", minor in BCD as the spec says
	IPMIVersion    string // "2.0"
	ManufacturerID uint32 // IANA enterprise number
	ProductID      uint16
	Available      bool // false while the BMC updates its firmware
}

// DecodeDevice decodes a Get Device ID response (without the completion
// code).
func DecodeDevice(b []byte) (Device, error) {
	if len(b) < 11 {
		return Device{}, fmt.Errorf("%w: Get Device ID: %d bytes", ErrShort, len(b))
	}
	return Device{
		DeviceID:       b[0],
		Revision:       b[1] & 0x0f,
		Available:      b[2]&0x80 == 0,
		Firmware:       fmt.Sprintf("%d.%02x", b[2]&0x7f, b[3]),
		IPMIVersion:    fmt.Sprintf("%d.%d", b[4]&0x0f, b[4]>>4),
		ManufacturerID: uint32(b[6]) | uint32(b[7])<<8 | uint32(b[8]&0x0f)<<16,
		ProductID:      binary.LittleEndian.Uint16(b[9:11]),
	}, nil
}

// DecodeGUID decodes a Get System GUID response as a UUID string. The BMC
// sends the GUID with its time fields little-endian (as SMBIOS does), so
// it reads like the SMBIOS system UUID of the same machine.
func DecodeGUID(b []byte) (string, error) {
	if len(b) < 16 {
		return "", fmt.Errorf("%w: Get System GUID: %d bytes", ErrShort, len(b))
	}
	g := b[:16]
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16]), nil
}

// LAN is a LAN channel's configuration.
type LAN struct {
	Channel  int
	IP       netip.Addr
	MAC      net.HardwareAddr
	IPSource string // static, dhcp, bios, other
	VLAN     int    // 0: none
}

// decodeLANParam stores one Get LAN Configuration Parameters answer
// (revision byte first) into l.
func decodeLANParam(l *LAN, param byte, b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: LAN parameter %d", ErrShort, param)
	}
	d := b[1:]
	need := map[byte]int{lanIP: 4, lanIPSource: 1, lanMAC: 6, lanVLAN: 2}[param]
	if len(d) < need {
		return fmt.Errorf("%w: LAN parameter %d: %d bytes", ErrShort, param, len(d))
	}
	switch param {
	case lanIP:
		l.IP = netip.AddrFrom4([4]byte(d[:4]))
	case lanIPSource:
		l.IPSource = map[byte]string{0: "unspecified", 1: "static", 2: "dhcp", 3: "bios", 4: "other"}[d[0]&0x0f]
	case lanMAC:
		l.MAC = net.HardwareAddr(append([]byte(nil), d[:6]...))
	case lanVLAN:
		if v := binary.LittleEndian.Uint16(d[:2]); v&0x8000 != 0 {
			l.VLAN = int(v & 0x0fff)
		}
	}
	return nil
}

// manufacturers names the IANA enterprise numbers of common server BMCs.
var manufacturers = map[uint32]string{
	2: "IBM", 11: "Hewlett Packard Enterprise", 343: "Intel", 674: "Dell", 2011: "Huawei",
	7244: "Quanta", 9: "Cisco", 10368: "Fujitsu", 10876: "Supermicro", 15370: "Giga-Byte",
	19046: "Lenovo", 20974: "American Megatrends", 37945: "Inspur", 47196: "Raspberry Pi", 49769: "Ampere Computing",
	51974: "Nvidia", 57045: "OpenBMC",
}

// Info is everything the BMC told.
type Info struct {
	Device Device
	GUID   string
	LAN    *LAN // nil when no LAN channel answered
}

// Facts renders info: bmc_present, bmc_ipmi_version, bmc_manufacturer_id
// (and bmc_manufacturer when known), bmc_product_id, bmc_firmware_version,
// bmc_guid, and for the LAN channel bmc_ipaddress, bmc_macaddress,
// bmc_ip_source, bmc_vlan, bmc_lan_channel.
func Facts(info Info) map[string]string {
	d := info.Device
	f := map[string]string{
		"bmc_present":          "true",
		"bmc_ipmi_version":     d.IPMIVersion,
		"bmc_manufacturer_id":  strconv.FormatUint(uint64(d.ManufacturerID), 10),
		"bmc_product_id":       strconv.Itoa(int(d.ProductID)),
		"bmc_firmware_version": d.Firmware,
	}
	if m, ok := manufacturers[d.ManufacturerID]; ok {
		f["bmc_manufacturer"] = m
	}
	if info.GUID != "" {
		f["bmc_guid"] = info.GUID
	}
	if l := info.LAN; l != nil {
		f["bmc_lan_channel"] = strconv.Itoa(l.Channel)
		if l.IP.IsValid() {
			f["bmc_ipaddress"] = l.IP.String()
		}
		if len(l.MAC) == 6 {
			f["bmc_macaddress"] = l.MAC.String()
		}
		if l.IPSource != "" {
			f["bmc_ip_source"] = l.IPSource
		}
		if l.VLAN > 0 {
			f["bmc_vlan"] = strconv.Itoa(l.VLAN)
		}
	}
	return f
}
