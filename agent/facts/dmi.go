package facts

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/agent/facts/smbios"
	"github.com/razor-mk/razor-mk/wire"
)

// Where Linux exports the firmware's SMBIOS tables (root-only) and the
// decoded subset (partly world-readable) it falls back to.
const (
	dmiEntryPath = "sys/firmware/dmi/tables/smbios_entry_point"
	dmiTablePath = "sys/firmware/dmi/tables/DMI"
	dmiIDDir     = "sys/class/dmi/id"
)

// platform is what the firmware says about the machine, from the SMBIOS
// tables or, without them, /sys/class/dmi/id.
type platform struct {
	source  string // "smbios", "sysfs" or "" (nothing)
	version string // SMBIOS version, "" from sysfs

	bios    smbios.BIOS
	hasBIOS bool
	system  smbios.System
	hasSys  bool
	board   smbios.Baseboard
	hasBB   bool
	chassis smbios.Chassis
	procs   []smbios.Processor
	arrays  []smbios.MemoryArray
	dimms   []smbios.MemoryDevice
}

// loadPlatform parses the SMBIOS tables once. Machines without them
// (many VMs, this kind of build host) are normal: no error then. Tables
// that exist but do not parse are an error, and /sys/class/dmi/id is
// used instead.
func (g *gatherer) loadPlatform() {
	if g.platLoaded {
		return
	}
	g.platLoaded = true
	entry, err1 := g.t.ReadFile(dmiEntryPath)
	table, err2 := g.t.ReadFile(dmiTablePath)
	switch {
	case err1 == nil && err2 == nil:
		tab, err := smbios.Parse(entry, table)
		if err == nil {
			g.plat = platformFromTable(tab)
			return
		}
		g.platErr = err
	case errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist):
	case err1 != nil && !errors.Is(err1, fs.ErrNotExist):
		g.platErr = fmt.Errorf("read SMBIOS entry point: %w", err1)
	case err2 != nil && !errors.Is(err2, fs.ErrNotExist):
		g.platErr = fmt.Errorf("read SMBIOS table: %w", err2)
	}
	if p, ok := platformFromSysfs(g.t); ok {
		g.plat = p
	}
}

func platformFromTable(t *smbios.Table) platform {
	p := platform{source: "smbios", version: t.EntryPoint.String()}
	p.bios, p.hasBIOS = t.BIOS()
	p.system, p.hasSys = t.System()
	p.board, p.hasBB = t.Baseboard()
	p.chassis, _ = t.Chassis()
	p.procs = t.Processors()
	p.arrays = t.MemoryArrays()
	p.dimms = t.MemoryDevices()
	return p
}

// platformFromSysfs reads the kernel's decoded DMI strings. The serial
// numbers and the UUID are readable by root only; without root they are
// just missing.
func platformFromSysfs(t tree) (platform, bool) {
	if !isDir(t, dmiIDDir) {
		return platform{}, false
	}
	r := func(name string) string { return readString(t, dmiIDDir+"/"+name) }
	p := platform{source: "sysfs"}
	p.bios = smbios.BIOS{Vendor: r("bios_vendor"), Version: r("bios_version"), ReleaseDate: r("bios_date"), Release: r("bios_release")}
	p.hasBIOS = p.bios.Vendor != "" || p.bios.Version != ""
	p.system = smbios.System{
		Manufacturer: r("sys_vendor"), ProductName: r("product_name"), Version: r("product_version"),
		SerialNumber: r("product_serial"), UUID: strings.ToUpper(r("product_uuid")),
		SKU: r("product_sku"), Family: r("product_family"),
	}
	p.hasSys = p.system.Manufacturer != "" || p.system.ProductName != ""
	p.board = smbios.Baseboard{Manufacturer: r("board_vendor"), Product: r("board_name"), Version: r("board_version"), SerialNumber: r("board_serial"), AssetTag: r("board_asset_tag")}
	p.hasBB = p.board.Manufacturer != "" || p.board.Product != ""
	p.chassis = smbios.Chassis{Manufacturer: r("chassis_vendor"), Version: r("chassis_version"), SerialNumber: r("chassis_serial"), AssetTag: r("chassis_asset_tag")}
	if ct, err := strconv.ParseUint(r("chassis_type"), 10, 8); err == nil {
		p.chassis.Type = smbios.ChassisTypeName(uint8(ct))
	}
	return p, true
}

// smbiosFacts reports the Facter DMI facts and the lshw-derived
// mk_hw_bus_*, mk_hw_fw_* and mk_hw_mem_slot* families.
func (g *gatherer) smbiosFacts() error {
	g.loadPlatform()
	p := &g.plat
	if p.hasSys {
		g.set("manufacturer", p.system.Manufacturer)
		g.set("productname", p.system.ProductName)
		g.set("serialnumber", p.system.SerialNumber)
		if u, ok := wire.NormalizeUUID(p.system.UUID); ok {
			g.set("uuid", u)
		}
	}
	if p.hasBB {
		g.set("boardmanufacturer", p.board.Manufacturer)
		g.set("boardproductname", p.board.Product)
		g.set("boardserialnumber", p.board.SerialNumber)
	}
	if p.hasBIOS {
		g.set("bios_vendor", p.bios.Vendor)
		g.set("bios_version", p.bios.Version)
		g.set("bios_release_date", p.bios.ReleaseDate)
	}
	g.set("type", p.chassis.Type)
	g.set("mk_hw_smbios_version", p.version)

	// lshw's "core" node: the motherboard, always present.
	g.set("mk_hw_bus_description", "Motherboard")
	g.set("mk_hw_bus_physical_id", "0")
	if p.hasBB {
		g.set("mk_hw_bus_product", p.board.Product)
		g.set("mk_hw_bus_vendor", p.board.Manufacturer)
		g.set("mk_hw_bus_version", p.board.Version)
		g.set("mk_hw_bus_serial", p.board.SerialNumber)
	}

	if p.hasBIOS {
		g.set("mk_hw_fw_description", "BIOS")
		g.set("mk_hw_fw_physical_id", "0")
		g.set("mk_hw_fw_vendor", p.bios.Vendor)
		g.set("mk_hw_fw_version", p.bios.Version)
		g.set("mk_hw_fw_date", p.bios.ReleaseDate)
		if p.bios.RuntimeSize > 0 {
			g.set("mk_hw_fw_size", binarySize(p.bios.RuntimeSize))
		}
		if p.bios.ROMSize > 0 {
			g.set("mk_hw_fw_capacity", binarySize(p.bios.ROMSize))
		}
		g.set("mk_hw_fw_capabilities", strings.Join(p.bios.Characteristics, " "))
	}

	// Hanlon's DIMM facts: the populated banks only.
	n := 0
	index := map[uint16]int{} // position of a bank within its array
	for _, d := range p.dimms {
		pos := index[d.ArrayHandle]
		index[d.ArrayHandle]++
		if d.Size == 0 {
			continue
		}
		pre := "mk_hw_mem_slot"
		g.setn(pre, n, "description", dimmDescription(d))
		g.setn(pre, n, "physical_id", strconv.FormatInt(int64(pos), 16))
		g.setn(pre, n, "slot", d.Locator)
		g.setn(pre, n, "size", binarySize(d.Size))
		g.setn(pre, n, "vendor", d.Manufacturer)
		g.setn(pre, n, "product", d.PartNumber)
		g.setn(pre, n, "serial", d.SerialNumber)
		if d.Speed > 0 {
			g.setn(pre, n, "clock", mhz(uint64(d.Speed)))
		}
		if d.DataWidth > 0 {
			g.setn(pre, n, "width", strconv.Itoa(int(d.DataWidth))+" bits")
		}
		n++
	}
	if n > 0 {
		g.set("mk_hw_mem_slot_count", strconv.Itoa(n))
	}
	return g.platErr
}

// dimmDescription describes a memory bank as lshw does: "DIMM DDR4
// Synchronous 2666 MHz (0.4 ns)".
func dimmDescription(d smbios.MemoryDevice) string {
	var parts []string
	for _, s := range []string{d.FormFactor, d.Type} {
		if s != "" && s != "Unknown" && s != "Other" {
			parts = append(parts, s)
		}
	}
	if d.Synchronous {
		parts = append(parts, "Synchronous")
	}
	if d.Speed > 0 {
		parts = append(parts, fmt.Sprintf("%d MHz (%.1f ns)", d.Speed, 1000/float64(d.Speed)))
	}
	if len(parts) == 0 {
		return "Memory bank"
	}
	return strings.Join(parts, " ")
}
