// Package smbios parses the SMBIOS (DMI) tables that Linux exports under
// /sys/firmware/dmi/tables: the entry point (32-bit "_SM_", 64-bit "_SM3_"
// or legacy "_DMI_") and the structure table, and decodes the structures a
// hardware inventory needs (BIOS, system, baseboard, chassis, processors,
// memory arrays and devices). Offsets and encodings follow the DMTF SMBIOS
// Reference Specification (DSP0134) 3.x.
//
// The parser never trusts lengths from the firmware: every read is bounds
// checked and bad input yields an error, never a panic.
package smbios

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors of Parse and ParseEntryPoint; callers use errors.Is.
var (
	ErrEntryPoint = errors.New("smbios: bad entry point")
	ErrTable      = errors.New("smbios: bad structure table")
)

// MaxTableSize bounds the structure table this package accepts.
const MaxTableSize = 1 << 20

// EntryPoint is the decoded SMBIOS entry point structure.
type EntryPoint struct {
	// Anchor is "_SM_", "_SM3_" or "_DMI_".
	Anchor string
	// Major, Minor and Docrev are the SMBIOS version (Docrev only for _SM3_).
	Major, Minor, Docrev uint8
	// TableLength is the length (_SM_, _DMI_) or maximum length (_SM3_) of
	// the structure table.
	TableLength uint32
	// Structures is the number of structures (0 for _SM3_: unknown).
	Structures uint16
}

// Version returns the SMBIOS version as major<<8 | minor, the form the
// specification's "2.6 and later" rules compare against.
func (e EntryPoint) Version() uint16 { return uint16(e.Major)<<8 | uint16(e.Minor) }

// String returns the version as "major.minor".
func (e EntryPoint) String() string { return fmt.Sprintf("%d.%d", e.Major, e.Minor) }

func checksum(b []byte) bool {
	var s byte
	for _, c := range b {
		s += c
	}
	return s == 0
}

// ParseEntryPoint decodes the entry point structure in data (the content
// of /sys/firmware/dmi/tables/smbios_entry_point).
func ParseEntryPoint(data []byte) (EntryPoint, error) {
	var e EntryPoint
	switch {
	case bytes.HasPrefix(data, []byte("_SM3_")):
		// DSP0134 §5.2.2: 24 bytes, checksum over the declared length.
		if len(data) < 0x18 {
			return e, fmt.Errorf("%w: _SM3_ entry point is %d bytes, want 24", ErrEntryPoint, len(data))
		}
		n := int(data[0x06])
		if n < 0x18 || n > len(data) {
			return e, fmt.Errorf("%w: _SM3_ length %d", ErrEntryPoint, n)
		}
		if !checksum(data[:n]) {
			return e, fmt.Errorf("%w: _SM3_ checksum", ErrEntryPoint)
		}
		e.Anchor = "_SM3_"
		e.Major, e.Minor, e.Docrev = data[0x07], data[0x08], data[0x09]
		e.TableLength = binary.LittleEndian.Uint32(data[0x0C:])
	case bytes.HasPrefix(data, []byte("_SM_")):
		// DSP0134 §5.2.1: 31 bytes (0x1E was a misprint in 2.1), the
		// intermediate "_DMI_" anchor at 0x10.
		if len(data) < 0x1F {
			return e, fmt.Errorf("%w: _SM_ entry point is %d bytes, want 31", ErrEntryPoint, len(data))
		}
		n := int(data[0x05])
		if n < 0x1E || n > len(data) {
			return e, fmt.Errorf("%w: _SM_ length %d", ErrEntryPoint, n)
		}
		if !checksum(data[:n]) {
			return e, fmt.Errorf("%w: _SM_ checksum", ErrEntryPoint)
		}
		if !bytes.Equal(data[0x10:0x15], []byte("_DMI_")) || !checksum(data[0x10:0x1F]) {
			return e, fmt.Errorf("%w: _SM_ intermediate anchor", ErrEntryPoint)
		}
		e.Anchor = "_SM_"
		e.Major, e.Minor = data[0x06], data[0x07]
		// Some firmware reports 2.33 for 2.3.3 and 2.51 for 2.5.1 (as
		// dmidecode notes); fold those back.
		switch e.Version() {
		case 0x021F, 0x0221:
			e.Minor = 3
		case 0x0233:
			e.Minor = 6
		}
		e.TableLength = uint32(binary.LittleEndian.Uint16(data[0x16:]))
		e.Structures = binary.LittleEndian.Uint16(data[0x1C:])
	case bytes.HasPrefix(data, []byte("_DMI_")):
		// Legacy DMI 2.0 entry point: 15 bytes.
		if len(data) < 0x0F {
			return e, fmt.Errorf("%w: _DMI_ entry point is %d bytes, want 15", ErrEntryPoint, len(data))
		}
		if !checksum(data[:0x0F]) {
			return e, fmt.Errorf("%w: _DMI_ checksum", ErrEntryPoint)
		}
		e.Anchor = "_DMI_"
		e.Major, e.Minor = data[0x0E]>>4, data[0x0E]&0x0F
		e.TableLength = uint32(binary.LittleEndian.Uint16(data[0x06:]))
		e.Structures = binary.LittleEndian.Uint16(data[0x0C:])
	default:
		return e, fmt.Errorf("%w: no _SM_, _SM3_ or _DMI_ anchor", ErrEntryPoint)
	}
	return e, nil
}

// Structure is one SMBIOS structure: its header, formatted area and
// string set.
type Structure struct {
	Type   uint8
	Handle uint16
	// Data is the formatted area including the 4-byte header, so that the
	// specification's offsets index it directly.
	Data []byte
	// Strings holds the string set; string number n is Strings[n-1].
	Strings []string
}

// Table is a parsed SMBIOS structure table.
type Table struct {
	EntryPoint EntryPoint
	Structures []Structure
}

// Parse decodes an entry point and the structure table it describes (the
// contents of /sys/firmware/dmi/tables/smbios_entry_point and DMI).
func Parse(entry, table []byte) (*Table, error) {
	ep, err := ParseEntryPoint(entry)
	if err != nil {
		return nil, err
	}
	structs, err := ParseStructures(table, ep)
	if err != nil {
		return nil, err
	}
	return &Table{EntryPoint: ep, Structures: structs}, nil
}

// ParseStructures decodes the structure table in data. The entry point
// bounds it: a 32-bit table stops after its declared number of
// structures, any table at its declared length or at the end-of-table
// structure (type 127).
func ParseStructures(data []byte, ep EntryPoint) ([]Structure, error) {
	if len(data) > MaxTableSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTable, len(data), MaxTableSize)
	}
	if ep.TableLength > 0 && int(ep.TableLength) < len(data) {
		data = data[:ep.TableLength]
	}
	var out []Structure
	off := 0
	for off+4 <= len(data) {
		if ep.Structures > 0 && len(out) >= int(ep.Structures) {
			break
		}
		typ, n := data[off], int(data[off+1])
		handle := binary.LittleEndian.Uint16(data[off+2:])
		if n < 4 {
			return out, fmt.Errorf("%w: structure %d (type %d, handle 0x%04X) at offset %d has length %d", ErrTable, len(out), typ, handle, off, n)
		}
		if off+n > len(data) {
			return out, fmt.Errorf("%w: structure type %d at offset %d runs past the table end", ErrTable, typ, off)
		}
		s := Structure{Type: typ, Handle: handle, Data: data[off : off+n]}
		// The string set follows the formatted area and ends with two NULs;
		// a structure without strings has just the two NULs.
		p := off + n
		end := bytes.Index(data[p:], []byte{0, 0})
		if end < 0 {
			return out, fmt.Errorf("%w: structure type %d at offset %d has no string-set terminator", ErrTable, typ, off)
		}
		if end > 0 {
			for _, raw := range bytes.Split(data[p:p+end], []byte{0}) {
				s.Strings = append(s.Strings, clean(raw))
			}
		}
		out = append(out, s)
		off = p + end + 2
		if typ == 127 {
			break
		}
	}
	return out, nil
}

// clean makes a firmware string printable: invalid UTF-8 and control
// characters become '.', as dmidecode shows them, and surrounding blanks
// go.
func clean(b []byte) string {
	s := strings.ToValidUTF8(string(b), ".")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '.'
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// String returns the string that the byte at offset off refers to, or ""
// (for no string, a missing offset or a bad index).
func (s Structure) String(off int) string {
	if off >= len(s.Data) {
		return ""
	}
	i := int(s.Data[off])
	if i == 0 || i > len(s.Strings) {
		return ""
	}
	return s.Strings[i-1]
}

// U8 returns the byte at off and whether the structure is long enough.
func (s Structure) U8(off int) (uint8, bool) {
	if off+1 > len(s.Data) {
		return 0, false
	}
	return s.Data[off], true
}

// U16 returns the little-endian word at off and whether it is present.
func (s Structure) U16(off int) (uint16, bool) {
	if off+2 > len(s.Data) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(s.Data[off:]), true
}

// U32 returns the little-endian double word at off and whether it is present.
func (s Structure) U32(off int) (uint32, bool) {
	if off+4 > len(s.Data) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(s.Data[off:]), true
}

// U64 returns the little-endian quad word at off and whether it is present.
func (s Structure) U64(off int) (uint64, bool) {
	if off+8 > len(s.Data) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(s.Data[off:]), true
}

// OfType returns the structures of type t in table order.
func (t *Table) OfType(typ uint8) []Structure {
	var out []Structure
	for _, s := range t.Structures {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}
