package smbios

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const trees = "../../../testdata/facts"

func readTables(t testing.TB, tree string) (entry, table []byte) {
	t.Helper()
	dir := filepath.Join(trees, tree, "sys/firmware/dmi/tables")
	entry, err := os.ReadFile(filepath.Join(dir, "smbios_entry_point"))
	if err != nil {
		t.Fatal(err)
	}
	table, err = os.ReadFile(filepath.Join(dir, "DMI"))
	if err != nil {
		t.Fatal(err)
	}
	return entry, table
}

// TestParseCaptured decodes the tables QEMU built for the captured VMs
// (see testdata/facts/capture-vm.sh for the -smbios options).
func TestParseCaptured(t *testing.T) {
	t.Run("qemu SMBIOS 3 entry point", func(t *testing.T) {
		tab, err := Parse(readTables(t, "qemu"))
		if err != nil {
			t.Fatalf("Parse() error: %v", err)
		}
		if tab.EntryPoint.Anchor != "_SM3_" || tab.EntryPoint.String() != "3.0" {
			t.Errorf("Parse() entry point = %+v, want _SM3_ 3.0", tab.EntryPoint)
		}
		sys, ok := tab.System()
		want := System{Handle: 0x100, Manufacturer: "QEMU", ProductName: "Standard PC (Q35 + ICH9, 2009)", Version: "pc-q35-7.2",
			SerialNumber: "QEMU-NODE-0001", UUID: "5F1C2A7E-3B4D-4E8F-9A0B-1C2D3E4F5A6B", SKU: "RZ-TEST", Family: "Razor"}
		if diff := cmp.Diff(want, sys); !ok || diff != "" {
			t.Errorf("System() (-want +got):\n%s", diff)
		}
		bb, _ := tab.Baseboard()
		if bb.Manufacturer != "QEMU" || bb.Product != "Q35-Board" || bb.SerialNumber != "BOARD-0001" || bb.Version != "1.0" {
			t.Errorf("Baseboard() = %+v", bb)
		}
		procs := tab.Processors()
		if len(procs) != 1 || !procs[0].Populated || procs[0].Socket != "CPU 0" || procs[0].CoreCount != 2 || procs[0].ThreadCount != 2 {
			t.Errorf("Processors() = %+v, want one populated 2-core socket", procs)
		}
		dimms := tab.MemoryDevices()
		if len(dimms) != 1 || dimms[0].Size != 512<<20 || dimms[0].Locator != "DIMM 0" || dimms[0].FormFactor != "DIMM" || dimms[0].Type != "RAM" {
			t.Errorf("MemoryDevices() = %+v, want one 512 MiB DIMM", dimms)
		}
		arrays := tab.MemoryArrays()
		if len(arrays) != 1 || !arrays[0].SystemMemory || arrays[0].Handle != dimms[0].ArrayHandle {
			t.Errorf("MemoryArrays() = %+v", arrays)
		}
	})
	t.Run("vmware SMBIOS 2 entry point", func(t *testing.T) {
		tab, err := Parse(readTables(t, "vmware"))
		if err != nil {
			t.Fatalf("Parse() error: %v", err)
		}
		if tab.EntryPoint.Anchor != "_SM_" || tab.EntryPoint.Structures == 0 {
			t.Errorf("Parse() entry point = %+v, want _SM_ with a structure count", tab.EntryPoint)
		}
		b, _ := tab.BIOS()
		if b.Vendor != "Phoenix Technologies LTD" || b.Version != "6.00" || b.ReleaseDate != "11/12/2020" || b.Release != "4.6" || b.RuntimeSize != 96<<10 {
			t.Errorf("BIOS() = %+v", b)
		}
		sys, _ := tab.System()
		if sys.Manufacturer != "VMware, Inc." || sys.UUID != "564D9A3C-1E2B-7F80-4A6C-11DE0F219B55" {
			t.Errorf("System() = %+v", sys)
		}
		c, _ := tab.Chassis()
		if c.Manufacturer != "No Enclosure" || c.Type != "Other" || c.AssetTag != "No Asset Tag" {
			t.Errorf("Chassis() = %+v", c)
		}
		if n := len(tab.Processors()); n != 2 {
			t.Errorf("Processors() = %d sockets, want 2", n)
		}
	})
}

// builder assembles SMBIOS structures for tests.
type builder struct{ b []byte }

func (b *builder) add(typ uint8, handle uint16, formatted []byte, strs ...string) {
	hdr := []byte{typ, byte(4 + len(formatted)), 0, 0}
	binary.LittleEndian.PutUint16(hdr[2:], handle)
	b.b = append(b.b, hdr...)
	b.b = append(b.b, formatted...)
	if len(strs) == 0 {
		b.b = append(b.b, 0, 0)
		return
	}
	for _, s := range strs {
		b.b = append(b.b, s...)
		b.b = append(b.b, 0)
	}
	b.b = append(b.b, 0)
}

func entry3(tableLen uint32, major, minor uint8) []byte {
	e := make([]byte, 0x18)
	copy(e, "_SM3_")
	e[0x06], e[0x07], e[0x08] = 0x18, major, minor
	binary.LittleEndian.PutUint32(e[0x0C:], tableLen)
	var s byte
	for _, c := range e {
		s += c
	}
	e[0x05] = -s
	return e
}

func entry2(tableLen, count uint16, major, minor uint8) []byte {
	e := make([]byte, 0x1F)
	copy(e, "_SM_")
	e[0x05], e[0x06], e[0x07] = 0x1F, major, minor
	copy(e[0x10:], "_DMI_")
	binary.LittleEndian.PutUint16(e[0x16:], tableLen)
	binary.LittleEndian.PutUint16(e[0x1C:], count)
	var s byte
	for _, c := range e[0x10:0x1F] {
		s += c
	}
	e[0x15] = -s
	s = 0
	for _, c := range e {
		s += c
	}
	e[0x04] = -s
	return e
}

func TestEntryPoints(t *testing.T) {
	bad3 := entry3(100, 3, 2)
	bad3[0x05]++
	tests := []struct {
		name    string
		in      []byte
		want    EntryPoint
		wantErr bool
	}{
		{"_SM3_", entry3(100, 3, 2), EntryPoint{Anchor: "_SM3_", Major: 3, Minor: 2, TableLength: 100}, false},
		{"_SM_", entry2(200, 7, 2, 8), EntryPoint{Anchor: "_SM_", Major: 2, Minor: 8, TableLength: 200, Structures: 7}, false},
		{"_SM_ 2.33 means 2.3", entry2(200, 7, 2, 0x21), EntryPoint{Anchor: "_SM_", Major: 2, Minor: 3, TableLength: 200, Structures: 7}, false},
		{"bad checksum", bad3, EntryPoint{}, true},
		{"short", []byte("_SM3_"), EntryPoint{}, true},
		{"no anchor", []byte("hello world, this is not an entry point"), EntryPoint{}, true},
		{"empty", nil, EntryPoint{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEntryPoint(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseEntryPoint() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrEntryPoint) {
				t.Errorf("ParseEntryPoint() error = %v, want ErrEntryPoint", err)
			}
			if diff := cmp.Diff(tt.want, got); err == nil && diff != "" {
				t.Errorf("ParseEntryPoint() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStructures(t *testing.T) {
	var b builder
	uuid := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}
	b.add(TypeSystem, 1, append([]byte{1, 2, 0, 3}, uuid...), "ACME", "Box 9000", "SN\x01123 ")
	// Memory device: size 0x7FFF → extended size 64 GiB at 0x1C.
	md := make([]byte, 0x22-4)
	binary.LittleEndian.PutUint16(md[0x0C-4:], 0x7FFF)
	md[0x0E-4], md[0x10-4], md[0x12-4] = 0x09, 1, 0x1A
	binary.LittleEndian.PutUint16(md[0x13-4:], 1<<7)
	binary.LittleEndian.PutUint16(md[0x15-4:], 2933)
	binary.LittleEndian.PutUint32(md[0x1C-4:], 64<<10)
	b.add(TypeMemoryDevice, 2, md, "DIMM_A1")
	// Processor with 0xFF counts and the 3.0 word fields.
	p := make([]byte, 0x30-4)
	p[0x05-4], p[0x18-4] = 3, 0x41
	p[0x23-4], p[0x24-4], p[0x25-4] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint16(p[0x2A-4:], 300)
	binary.LittleEndian.PutUint16(p[0x2C-4:], 290)
	binary.LittleEndian.PutUint16(p[0x2E-4:], 600)
	b.add(TypeProcessor, 3, p)
	b.add(TypeEndOfTable, 4, nil)
	b.add(TypeSystem, 5, []byte{1}, "after the end")

	for _, tc := range []struct {
		name string
		ep   EntryPoint
		uuid string
	}{
		{"2.6 little-endian UUID", EntryPoint{Major: 2, Minor: 6}, "00112233-4455-6677-8899-AABBCCDDEEFF"},
		{"2.5 big-endian UUID", EntryPoint{Major: 2, Minor: 5}, "33221100-5544-7766-8899-AABBCCDDEEFF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			structs, err := ParseStructures(b.b, tc.ep)
			if err != nil {
				t.Fatalf("ParseStructures() error: %v", err)
			}
			if len(structs) != 4 {
				t.Fatalf("ParseStructures() = %d structures, want 4 (stop at end-of-table)", len(structs))
			}
			tab := &Table{EntryPoint: tc.ep, Structures: structs}
			sys, _ := tab.System()
			if sys.UUID != tc.uuid || sys.Manufacturer != "ACME" || sys.ProductName != "Box 9000" || sys.SerialNumber != "SN.123" || sys.Version != "" {
				t.Errorf("System() = %+v, want UUID %s and cleaned strings", sys, tc.uuid)
			}
			d := tab.MemoryDevices()
			if len(d) != 1 || d[0].Size != 64<<30 || d[0].Type != "DDR4" || !d[0].Synchronous || d[0].Speed != 2933 || d[0].Locator != "DIMM_A1" {
				t.Errorf("MemoryDevices() = %+v", d)
			}
			pr := tab.Processors()
			if len(pr) != 1 || pr[0].CoreCount != 300 || pr[0].CoresEnabled != 290 || pr[0].ThreadCount != 600 || !pr[0].Populated || !pr[0].Enabled {
				t.Errorf("Processors() = %+v", pr)
			}
		})
	}
}

func TestStructuresBad(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"length below header", []byte{1, 3, 0, 0, 0, 0}},
		{"runs past end", []byte{1, 40, 0, 0, 0, 0}},
		{"no terminator", []byte{1, 4, 0, 0, 'a', 'b'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseStructures(tt.in, EntryPoint{}); !errors.Is(err, ErrTable) {
				t.Errorf("ParseStructures(%v) error = %v, want ErrTable", tt.in, err)
			}
		})
	}
	if _, err := ParseStructures(make([]byte, MaxTableSize+1), EntryPoint{}); !errors.Is(err, ErrTable) {
		t.Errorf("ParseStructures(too big) error = %v, want ErrTable", err)
	}
}

func TestShortStructures(t *testing.T) {
	// Old firmware writes shorter structures: decoders must not read past them.
	var b builder
	b.add(TypeBIOS, 0, []byte{1, 2, 0, 0xE8, 3, 0x0F}, "Vendor", "1.0", "01/01/2000")
	b.add(TypeSystem, 1, []byte{1, 2}, "Maker", "Model")
	b.add(TypeProcessor, 2, []byte{0, 3})
	b.add(TypeMemoryDevice, 3, []byte{0, 0})
	b.add(TypeChassis, 4, []byte{0, 0x97})
	structs, err := ParseStructures(b.b, EntryPoint{Major: 2, Minor: 0})
	if err != nil {
		t.Fatal(err)
	}
	tab := &Table{Structures: structs}
	bios, _ := tab.BIOS()
	if bios.Vendor != "Vendor" || bios.RuntimeSize != 0x18000 || bios.ROMSize != 1<<20 || bios.Characteristics != nil {
		t.Errorf("BIOS() = %+v", bios)
	}
	sys, _ := tab.System()
	if sys.Manufacturer != "Maker" || sys.UUID != "" {
		t.Errorf("System() = %+v", sys)
	}
	if p := tab.Processors(); len(p) != 1 || p[0].Populated {
		t.Errorf("Processors() = %+v", p)
	}
	if d := tab.MemoryDevices(); len(d) != 1 || d[0].Size != 0 {
		t.Errorf("MemoryDevices() = %+v", d)
	}
	if c, _ := tab.Chassis(); c.Type != "Rack Mount Chassis" {
		t.Errorf("Chassis().Type = %q, want Rack Mount Chassis (lock bit ignored)", c.Type)
	}
}

func FuzzParse(f *testing.F) {
	for _, tree := range []string{"qemu", "vmware"} {
		e, tab := readTables(f, tree)
		f.Add(e, tab)
	}
	var b builder
	b.add(TypeSystem, 1, make([]byte, 20), "a", "b")
	f.Add(entry3(uint32(len(b.b)), 3, 0), b.b)
	f.Add(entry2(uint16(len(b.b)), 1, 2, 4), b.b)
	f.Fuzz(func(t *testing.T, entry, table []byte) {
		tab, err := Parse(entry, table)
		if err != nil {
			// The structure parser alone must not fail either way.
			_, _ = ParseStructures(table, EntryPoint{})
			return
		}
		tab.BIOS()
		tab.System()
		tab.Baseboard()
		tab.Chassis()
		tab.Processors()
		tab.MemoryArrays()
		tab.MemoryDevices()
	})
}
