package facts

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

const blockDir = "sys/block"

// blockDev is one block device with hardware behind it.
type blockDev struct {
	name      string
	dev       string // real path of the device directory
	subsystem string // scsi, virtio, nvme, mmc, …
	size      uint64 // bytes
	scsiType  string // SCSI peripheral type, "" for other buses
}

// blockFacts reports Facter's blockdevices and blockdevice_<dev>_* and
// lshw's mk_hw_disk*. Like Facter, only devices with hardware behind them
// count (a "device" link: no loop, ram, zram, dm or md).
func (g *gatherer) blockFacts() error {
	ents, err := g.t.ReadDir(blockDir)
	if err != nil {
		return fmt.Errorf("list block devices: %w", err)
	}
	var devs []blockDev
	for _, e := range ents {
		d := path.Join(blockDir, e.Name())
		if !exists(g.t, d+"/device") {
			continue
		}
		dev, err := realPath(g.t, d+"/device")
		if err != nil {
			continue
		}
		b := blockDev{name: e.Name(), dev: dev, subsystem: linkBase(g.t, dev+"/subsystem")}
		b.size = parseUint(readString(g.t, d+"/size")) * 512
		if b.subsystem == "scsi" {
			b.scsiType = readString(g.t, dev+"/type")
		}
		devs = append(devs, b)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].name < devs[j].name })
	var names []string
	for _, b := range devs {
		n := b.name
		names = append(names, n)
		g.set("blockdevice_"+n+"_size", strconv.FormatUint(b.size, 10))
		g.set("blockdevice_"+n+"_vendor", readString(g.t, b.dev+"/vendor"))
		g.set("blockdevice_"+n+"_model", readString(g.t, b.dev+"/model"))
	}
	g.set("blockdevices", strings.Join(names, ","))

	i := 0
	for _, b := range devs {
		// lshw -c disk lists disks; optical drives are "cdrom" nodes, and
		// an empty card reader holds no disk.
		if b.scsiType == "5" || strings.HasPrefix(b.name, "sr") || b.size == 0 {
			continue
		}
		g.diskFacts(i, b)
		i++
	}
	g.set("mk_hw_disk_count", strconv.Itoa(i))
	return nil
}

func (g *gatherer) diskFacts(i int, b blockDev) {
	const pre = "mk_hw_disk"
	d := path.Join(blockDir, b.name)
	r := func(name string) string { return readString(g.t, name) }
	var desc, product, vendor, physID, busInfo, version, serial, wwid string
	base := path.Base(b.dev)
	switch {
	case strings.HasPrefix(b.name, "nvme"):
		desc = "NVMe disk"
		product, version, serial = r(b.dev+"/model"), r(b.dev+"/firmware_rev"), r(b.dev+"/serial")
		physID = r(d + "/nsid")
		busInfo = "nvme@" + strings.TrimPrefix(base, "nvme") + ":" + physID
		wwid = r(d + "/wwid")
	case b.subsystem == "virtio":
		desc = "Virtual I/O device"
		busInfo = "virtio@" + strings.TrimPrefix(base, "virtio")
		serial = r(d + "/serial")
	case b.subsystem == "scsi":
		vendor, product, version = r(b.dev+"/vendor"), r(b.dev+"/model"), r(b.dev+"/rev")
		desc = "SCSI Disk"
		if vendor == "ATA" {
			desc, vendor = "ATA Disk", ""
		}
		if h, ctl, ok := strings.Cut(base, ":"); ok {
			physID = strings.ReplaceAll(ctl, ":", ".")
			busInfo = "scsi@" + h + ":" + physID
		}
		if pg, err := g.t.ReadFile(b.dev + "/vpd_pg80"); err == nil {
			serial = vpdSerial(pg)
		}
		wwid = r(b.dev + "/wwid")
	case b.subsystem == "mmc":
		desc = "SD/MMC disk"
		product, serial = r(b.dev+"/name"), r(b.dev+"/serial")
		busInfo = "mmc@" + strings.TrimPrefix(base, "mmc")
	default:
		desc = "Disk"
		product, vendor = r(b.dev+"/model"), r(b.dev+"/vendor")
	}
	g.setn(pre, i, "description", desc)
	g.setn(pre, i, "product", product)
	g.setn(pre, i, "vendor", vendor)
	g.setn(pre, i, "physical_id", physID)
	g.setn(pre, i, "bus_info", busInfo)
	g.setn(pre, i, "logical_name", "/dev/"+b.name)
	g.setn(pre, i, "version", version)
	g.setn(pre, i, "serial", serial)
	g.setn(pre, i, "wwn", wwn(wwid))
	g.setn(pre, i, "size", diskSize(b.size))
	switch r(d + "/queue/rotational") {
	case "0":
		g.setn(pre, i, "rotational", "false")
	case "1":
		g.setn(pre, i, "rotational", "true")
	}
	conf := map[string]string{
		"driver":            linkBase(g.t, b.dev+"/driver"),
		"logicalsectorsize": r(d + "/queue/logical_block_size"),
		"sectorsize":        r(d + "/queue/physical_block_size"),
	}
	g.setn(pre, i, "configuration", configString(conf))
}

// vpdSerial returns the unit serial number of a SCSI VPD page 0x80 (SPC-4
// §7.8.15): page code at byte 1, length at bytes 2-3, the serial after.
func vpdSerial(pg []byte) string {
	if len(pg) < 4 || pg[1] != 0x80 {
		return ""
	}
	n := int(pg[2])<<8 | int(pg[3])
	if 4+n > len(pg) {
		n = len(pg) - 4
	}
	return strings.TrimSpace(strings.TrimRight(string(pg[4:4+n]), "\x00"))
}

// wwn turns the kernel's wwid into a World Wide Name as lsblk shows it:
// an NAA identifier as 0x…, an EUI-64 as eui.…; vendor-specific (t10.)
// identifiers are no WWN.
func wwn(wwid string) string {
	switch {
	case strings.HasPrefix(wwid, "naa."):
		return "0x" + strings.ToLower(strings.TrimPrefix(wwid, "naa."))
	case strings.HasPrefix(wwid, "eui."):
		return strings.ToLower(wwid)
	}
	return ""
}
