package smbios

import (
	"fmt"
	"strings"
)

// Structure types decoded by this package (DSP0134 §7).
const (
	TypeBIOS         = 0
	TypeSystem       = 1
	TypeBaseboard    = 2
	TypeChassis      = 3
	TypeProcessor    = 4
	TypeMemoryArray  = 16
	TypeMemoryDevice = 17
	TypeEndOfTable   = 127
)

// BIOS is the BIOS Information structure (type 0).
type BIOS struct {
	Handle      uint16
	Vendor      string
	Version     string
	ReleaseDate string
	// RuntimeSize is the size of the BIOS image in the legacy address space
	// (64 KiB - starting segment * 16), in bytes; 0 when not given (UEFI).
	RuntimeSize uint64
	// ROMSize is the size of the BIOS flash, in bytes; 0 when unknown.
	ROMSize uint64
	// Characteristics are short names of the BIOS characteristics bits,
	// in specification order (see BIOSCharacteristicNames).
	Characteristics []string
	// Release is the system BIOS "major.minor" release, "" when absent.
	Release string
}

// BIOSCharacteristicNames are the short names of the BIOS characteristics
// (§7.1.1, bits 4..31 of the qword), its extension byte 1 (§7.1.2.1) and
// byte 2 (§7.1.2.2). They follow lshw's capability names so that tags
// written against the original microkernel's mk_hw_fw_capabilities still
// match.
var BIOSCharacteristicNames = struct {
	Base, Ext1, Ext2 [32]string
}{
	Base: [32]string{
		4: "isa", 5: "mca", 6: "eisa", 7: "pci", 8: "pcmcia", 9: "pnp", 10: "apm",
		11: "upgrade", 12: "shadowing", 13: "vlb", 14: "escd", 15: "cdboot",
		16: "bootselect", 17: "socketedrom", 18: "pcmciaboot", 19: "edd",
		20: "int13floppynec", 21: "int13floppytoshiba", 22: "int13floppy360",
		23: "int13floppy1200", 24: "int13floppy720", 25: "int13floppy2880",
		26: "int5printscreen", 27: "int9keyboard", 28: "int14serial",
		29: "int17printer", 30: "int10video", 31: "pc98",
	},
	Ext1: [32]string{
		0: "acpi", 1: "usb", 2: "agp", 3: "i2oboot", 4: "ls120boot", 5: "zipboot",
		6: "1394boot", 7: "smartbattery",
	},
	Ext2: [32]string{
		0: "biosbootspecification", 1: "netboot", 2: "tcd", 3: "uefi", 4: "virtualmachine",
		5: "mfgmode", 6: "mfgmodeenabled",
	},
}

// BIOS decodes the first BIOS Information structure; ok is false when
// there is none.
func (t *Table) BIOS() (b BIOS, ok bool) {
	ss := t.OfType(TypeBIOS)
	if len(ss) == 0 {
		return b, false
	}
	s := ss[0]
	b.Handle = s.Handle
	b.Vendor, b.Version, b.ReleaseDate = s.String(0x04), s.String(0x05), s.String(0x08)
	if seg, ok := s.U16(0x06); ok && seg != 0 {
		b.RuntimeSize = (0x10000 - uint64(seg)) << 4
	}
	if rs, ok := s.U8(0x09); ok {
		if rs == 0xFF {
			// §7.1: extended ROM size (3.1+): bits 15:14 unit, 13:0 size.
			if ext, ok := s.U16(0x18); ok {
				size := uint64(ext & 0x3FFF)
				switch ext >> 14 {
				case 0:
					b.ROMSize = size << 20
				case 1:
					b.ROMSize = size << 30
				}
			}
		} else {
			b.ROMSize = (uint64(rs) + 1) << 16
		}
	}
	if c, ok := s.U64(0x0A); ok && c&(1<<3) == 0 { // bit 3: not supported
		for i, name := range BIOSCharacteristicNames.Base {
			if name != "" && c&(1<<uint(i)) != 0 {
				b.Characteristics = append(b.Characteristics, name)
			}
		}
	}
	for i, names := range [][32]string{BIOSCharacteristicNames.Ext1, BIOSCharacteristicNames.Ext2} {
		if x, ok := s.U8(0x12 + i); ok {
			for bit := 0; bit < 8; bit++ {
				if names[bit] != "" && x&(1<<uint(bit)) != 0 {
					b.Characteristics = append(b.Characteristics, names[bit])
				}
			}
		}
	}
	if maj, ok := s.U8(0x14); ok {
		if min, ok := s.U8(0x15); ok && maj != 0xFF {
			b.Release = fmt.Sprintf("%d.%d", maj, min)
		}
	}
	return b, true
}

// System is the System Information structure (type 1).
type System struct {
	Handle       uint16
	Manufacturer string
	ProductName  string
	Version      string
	SerialNumber string
	// UUID is the system UUID formatted as dmidecode does (upper-case
	// 8-4-4-4-12), "" when the structure has none.
	UUID   string
	SKU    string
	Family string
}

// System decodes the first System Information structure.
func (t *Table) System() (sys System, ok bool) {
	ss := t.OfType(TypeSystem)
	if len(ss) == 0 {
		return sys, false
	}
	s := ss[0]
	sys.Handle = s.Handle
	sys.Manufacturer, sys.ProductName = s.String(0x04), s.String(0x05)
	sys.Version, sys.SerialNumber = s.String(0x06), s.String(0x07)
	if len(s.Data) >= 0x18 {
		sys.UUID = FormatUUID(s.Data[0x08:0x18], t.EntryPoint.Version())
	}
	sys.SKU, sys.Family = s.String(0x19), s.String(0x1A)
	return sys, true
}

// FormatUUID formats the 16 UUID bytes of a System Information structure.
// §7.2.1: from SMBIOS 2.6 on, the first three fields are little-endian
// (RFC 4122 wire order with the time fields byte-swapped); earlier
// versions stored them big-endian, as dmidecode assumes.
func FormatUUID(b []byte, version uint16) string {
	if len(b) != 16 {
		return ""
	}
	u := make([]byte, 16)
	copy(u, b)
	if version >= 0x0206 {
		u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
		u[4], u[5] = b[5], b[4]
		u[6], u[7] = b[7], b[6]
	}
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}

// Baseboard is the Baseboard (Module) Information structure (type 2).
type Baseboard struct {
	Handle       uint16
	Manufacturer string
	Product      string
	Version      string
	SerialNumber string
	AssetTag     string
}

// Baseboard decodes the first Baseboard Information structure.
func (t *Table) Baseboard() (bb Baseboard, ok bool) {
	ss := t.OfType(TypeBaseboard)
	if len(ss) == 0 {
		return bb, false
	}
	s := ss[0]
	bb.Handle = s.Handle
	bb.Manufacturer, bb.Product = s.String(0x04), s.String(0x05)
	bb.Version, bb.SerialNumber, bb.AssetTag = s.String(0x06), s.String(0x07), s.String(0x08)
	return bb, true
}

// Chassis is the System Enclosure or Chassis structure (type 3).
type Chassis struct {
	Handle       uint16
	Manufacturer string
	// Type is the chassis type name (§7.4.1), "" when out of range.
	Type         string
	Version      string
	SerialNumber string
	AssetTag     string
}

var chassisTypes = []string{
	1: "Other", 2: "Unknown", 3: "Desktop", 4: "Low Profile Desktop", 5: "Pizza Box",
	6: "Mini Tower", 7: "Tower", 8: "Portable", 9: "Laptop", 10: "Notebook",
	11: "Hand Held", 12: "Docking Station", 13: "All In One", 14: "Sub Notebook",
	15: "Space-saving", 16: "Lunch Box", 17: "Main Server Chassis",
	18: "Expansion Chassis", 19: "Sub Chassis", 20: "Bus Expansion Chassis",
	21: "Peripheral Chassis", 22: "RAID Chassis", 23: "Rack Mount Chassis",
	24: "Sealed-case PC", 25: "Multi-system", 26: "CompactPCI", 27: "AdvancedTCA",
	28: "Blade", 29: "Blade Enclosing", 30: "Tablet", 31: "Convertible",
	32: "Detachable", 33: "IoT Gateway", 34: "Embedded PC", 35: "Mini PC",
	36: "Stick PC",
}

// ChassisTypeName returns the name of chassis type code c (bit 7, the
// lock flag, ignored), or "" when unknown.
func ChassisTypeName(c uint8) string {
	c &= 0x7F
	if int(c) < len(chassisTypes) {
		return chassisTypes[c]
	}
	return ""
}

// Chassis decodes the first chassis structure.
func (t *Table) Chassis() (c Chassis, ok bool) {
	ss := t.OfType(TypeChassis)
	if len(ss) == 0 {
		return c, false
	}
	s := ss[0]
	c.Handle = s.Handle
	c.Manufacturer = s.String(0x04)
	if ct, ok := s.U8(0x05); ok {
		c.Type = ChassisTypeName(ct)
	}
	c.Version, c.SerialNumber, c.AssetTag = s.String(0x06), s.String(0x07), s.String(0x08)
	return c, true
}

// Processor is a Processor Information structure (type 4).
type Processor struct {
	Handle       uint16
	Socket       string
	Manufacturer string
	Version      string
	SerialNumber string
	AssetTag     string
	PartNumber   string
	// ExternalClock, MaxSpeed and CurrentSpeed are in MHz, 0 when unknown.
	ExternalClock, MaxSpeed, CurrentSpeed uint16
	// Populated reports the socket holds a processor (status bit 6).
	Populated bool
	// Enabled reports the CPU status is "enabled" (status bits 2:0 == 1).
	Enabled bool
	// CoreCount, CoresEnabled and ThreadCount are 0 when not given.
	CoreCount, CoresEnabled, ThreadCount uint16
	// Is64Bit reports the "64-bit capable" characteristic (bit 2).
	Is64Bit bool
}

// Processors decodes every Processor Information structure describing a
// central processor (processor type 3), in table order.
func (t *Table) Processors() []Processor {
	var out []Processor
	for _, s := range t.OfType(TypeProcessor) {
		if pt, ok := s.U8(0x05); !ok || pt != 3 {
			continue
		}
		p := Processor{Handle: s.Handle, Socket: s.String(0x04), Manufacturer: s.String(0x07), Version: s.String(0x10)}
		p.ExternalClock, _ = s.U16(0x12)
		p.MaxSpeed, _ = s.U16(0x14)
		p.CurrentSpeed, _ = s.U16(0x16)
		if st, ok := s.U8(0x18); ok {
			p.Populated = st&0x40 != 0
			p.Enabled = st&0x07 == 1
		}
		p.SerialNumber, p.AssetTag, p.PartNumber = s.String(0x20), s.String(0x21), s.String(0x22)
		if n, ok := s.U8(0x23); ok {
			p.CoreCount = uint16(n)
		}
		if n, ok := s.U8(0x24); ok {
			p.CoresEnabled = uint16(n)
		}
		if n, ok := s.U8(0x25); ok {
			p.ThreadCount = uint16(n)
		}
		if c, ok := s.U16(0x26); ok {
			p.Is64Bit = c&(1<<2) != 0
		}
		// §7.5: from 3.0 the byte counts read 0xFF when the word fields
		// at 0x2A.. hold the real value.
		if p.CoreCount == 0xFF {
			if n, ok := s.U16(0x2A); ok {
				p.CoreCount = n
			}
		}
		if p.CoresEnabled == 0xFF {
			if n, ok := s.U16(0x2C); ok {
				p.CoresEnabled = n
			}
		}
		if p.ThreadCount == 0xFF {
			if n, ok := s.U16(0x2E); ok {
				p.ThreadCount = n
			}
		}
		out = append(out, p)
	}
	return out
}

// MemoryArray is a Physical Memory Array structure (type 16).
type MemoryArray struct {
	Handle uint16
	// Location is the location name (§7.17.1), e.g. "System board or motherboard".
	Location string
	// SystemMemory reports the array's use is "System memory" (§7.17.2).
	SystemMemory bool
	// MaxCapacity in bytes, 0 when unknown.
	MaxCapacity uint64
	Devices     uint16
}

var arrayLocations = []string{
	1: "Other", 2: "Unknown", 3: "System board or motherboard", 4: "ISA add-on card",
	5: "EISA add-on card", 6: "PCI add-on card", 7: "MCA add-on card",
	8: "PCMCIA add-on card", 9: "Proprietary add-on card", 10: "NuBus",
}

// MemoryArrays decodes every Physical Memory Array structure.
func (t *Table) MemoryArrays() []MemoryArray {
	var out []MemoryArray
	for _, s := range t.OfType(TypeMemoryArray) {
		a := MemoryArray{Handle: s.Handle}
		if l, ok := s.U8(0x04); ok && int(l) < len(arrayLocations) {
			a.Location = arrayLocations[l]
		}
		if u, ok := s.U8(0x05); ok {
			a.SystemMemory = u == 3
		}
		if c, ok := s.U32(0x07); ok {
			if c == 0x80000000 {
				a.MaxCapacity, _ = s.U64(0x0F)
			} else {
				a.MaxCapacity = uint64(c) << 10
			}
		}
		a.Devices, _ = s.U16(0x0D)
		out = append(out, a)
	}
	return out
}

// MemoryDevice is a Memory Device structure (type 17): one DIMM slot.
type MemoryDevice struct {
	Handle      uint16
	ArrayHandle uint16
	// Size in bytes; 0 when the slot is empty or the size unknown.
	Size         uint64
	FormFactor   string
	Locator      string
	BankLocator  string
	Type         string
	Synchronous  bool
	Speed        uint16 // MT/s, 0 when unknown
	Manufacturer string
	SerialNumber string
	AssetTag     string
	PartNumber   string
	// DataWidth in bits, 0 when unknown.
	DataWidth uint16
}

var formFactors = []string{
	1: "Other", 2: "Unknown", 3: "SIMM", 4: "SIP", 5: "Chip", 6: "DIP", 7: "ZIP",
	8: "Proprietary Card", 9: "DIMM", 10: "TSOP", 11: "Row Of Chips", 12: "RIMM",
	13: "SODIMM", 14: "SRIMM", 15: "FB-DIMM", 16: "Die",
}

var memoryTypes = []string{
	1: "Other", 2: "Unknown", 3: "DRAM", 4: "EDRAM", 5: "VRAM", 6: "SRAM", 7: "RAM",
	8: "ROM", 9: "Flash", 10: "EEPROM", 11: "FEPROM", 12: "EPROM", 13: "CDRAM",
	14: "3DRAM", 15: "SDRAM", 16: "SGRAM", 17: "RDRAM", 18: "DDR", 19: "DDR2",
	20: "DDR2 FB-DIMM", 24: "DDR3", 25: "FBD2", 26: "DDR4", 27: "LPDDR",
	28: "LPDDR2", 29: "LPDDR3", 30: "LPDDR4", 31: "Logical non-volatile device",
	32: "HBM", 33: "HBM2", 34: "DDR5", 35: "LPDDR5", 36: "HBM3",
}

func name(table []string, v uint8) string {
	if int(v) < len(table) {
		return table[v]
	}
	return ""
}

// MemoryDevices decodes every Memory Device structure, in table order.
func (t *Table) MemoryDevices() []MemoryDevice {
	var out []MemoryDevice
	for _, s := range t.OfType(TypeMemoryDevice) {
		d := MemoryDevice{Handle: s.Handle}
		d.ArrayHandle, _ = s.U16(0x04)
		d.DataWidth, _ = s.U16(0x0A)
		if d.DataWidth == 0xFFFF {
			d.DataWidth = 0
		}
		// §7.18: size 0 = no device, 0xFFFF = unknown, bit 15 set = KiB
		// units, 0x7FFF = see the extended size (MiB) at 0x1C.
		if sz, ok := s.U16(0x0C); ok && sz != 0 && sz != 0xFFFF {
			switch {
			case sz == 0x7FFF:
				if ext, ok := s.U32(0x1C); ok {
					d.Size = uint64(ext&0x7FFFFFFF) << 20
				}
			case sz&0x8000 != 0:
				d.Size = uint64(sz&0x7FFF) << 10
			default:
				d.Size = uint64(sz) << 20
			}
		}
		if ff, ok := s.U8(0x0E); ok {
			d.FormFactor = name(formFactors, ff)
		}
		d.Locator, d.BankLocator = s.String(0x10), s.String(0x11)
		if mt, ok := s.U8(0x12); ok {
			d.Type = name(memoryTypes, mt)
		}
		if td, ok := s.U16(0x13); ok {
			d.Synchronous = td&(1<<7) != 0
		}
		if sp, ok := s.U16(0x15); ok && sp != 0xFFFF {
			d.Speed = sp
		}
		d.Manufacturer, d.SerialNumber = s.String(0x17), s.String(0x18)
		d.AssetTag, d.PartNumber = s.String(0x19), s.String(0x1A)
		out = append(out, d)
	}
	return out
}
