package facts

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const pciDevicesDir = "sys/bus/pci/devices"

// pciAddrRE matches a PCI function address: domain:bus:device.function.
var pciAddrRE = regexp.MustCompile(`^[0-9a-fA-F]{4,}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)

// pciDevice is one PCI function as sysfs describes it.
type pciDevice struct {
	addr   string // 0000:00:03.0
	class  uint32 // 0x020000
	vendor uint16
	device uint16
}

// loadPCI lists the PCI functions once. A machine without PCI (some
// arm64 boards) is not an error.
func (g *gatherer) loadPCI() error {
	if g.pciLoaded {
		return g.pciErr
	}
	g.pciLoaded = true
	g.pci = map[string]*pciDevice{}
	ents, err := g.t.ReadDir(pciDevicesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		g.pciErr = fmt.Errorf("list PCI devices: %w", err)
		return g.pciErr
	}
	for _, e := range ents {
		if !pciAddrRE.MatchString(e.Name()) {
			continue
		}
		d := path.Join(pciDevicesDir, e.Name())
		g.pci[e.Name()] = &pciDevice{
			addr:   e.Name(),
			class:  uint32(parseUint(readString(g.t, d+"/class"))),
			vendor: uint16(parseUint(readString(g.t, d+"/vendor"))),
			device: uint16(parseUint(readString(g.t, d+"/device"))),
		}
	}
	return nil
}

// pciAddrs returns the PCI addresses in bus order.
func (g *gatherer) pciAddrs() []string {
	out := make([]string, 0, len(g.pci))
	for a := range g.pci {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// pciPhysID is lshw's physical id of a PCI function: the device number
// in hex, with ".function" when that is not 0.
func pciPhysID(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return ""
	}
	dev, fn, _ := strings.Cut(addr[i+1:], ".")
	d, err := strconv.ParseUint(dev, 16, 8)
	if err != nil {
		return ""
	}
	s := strconv.FormatUint(d, 16)
	if fn != "0" && fn != "" {
		s += "." + fn
	}
	return s
}

// pciCapNames are lshw's names of the PCI capability IDs (PCI Local Bus
// 3.0 §6.7, PCI Code and ID Assignment §2).
var pciCapNames = map[byte]string{
	0x01: "pm", 0x02: "agp", 0x03: "vpd", 0x04: "slotid", 0x05: "msi",
	0x06: "hotswap", 0x07: "pcix", 0x08: "ht", 0x09: "vendor_specific",
	0x0a: "debug", 0x0b: "cpci", 0x0c: "hotplug", 0x0d: "bridge_subsystem",
	0x0e: "agp8x", 0x0f: "secure", 0x10: "pciexpress", 0x11: "msix",
	0x12: "sata", 0x13: "af",
}

// pciConfigInfo decodes what lshw reports from a function's configuration
// space: its capabilities (bus_master, cap_list and the capability list)
// and latency timer. Reading past the first 64 bytes needs root; without
// it the capability list is just shorter.
func pciConfigInfo(cfg []byte) (caps []string, latency int, ok bool) {
	if len(cfg) < 64 {
		return nil, 0, false
	}
	command := uint16(cfg[0x04]) | uint16(cfg[0x05])<<8
	status := uint16(cfg[0x06]) | uint16(cfg[0x07])<<8
	latency = int(cfg[0x0d])
	var list []string
	if status&(1<<4) != 0 {
		seen := map[int]bool{}
		for p := int(cfg[0x34]) &^ 3; p >= 0x40 && p+1 < len(cfg) && !seen[p] && len(seen) < 48; p = int(cfg[p+1]) &^ 3 {
			seen[p] = true
			if n, ok := pciCapNames[cfg[p]]; ok && !slices.Contains(list, n) {
				list = append(list, n)
			}
		}
	}
	caps = append(caps, list...)
	if command&(1<<2) != 0 {
		caps = append(caps, "bus_master")
	}
	if status&(1<<4) != 0 {
		caps = append(caps, "cap_list")
	}
	return caps, latency, true
}

// pciWidth returns "64 bits" when a memory BAR of the function is 64-bit
// wide (IORESOURCE_MEM_64 in sysfs's resource flags), else "32 bits".
func pciWidth(resource string) string {
	const memFlag, mem64Flag = 0x200, 0x00100000
	lines := strings.Split(resource, "\n")
	if len(lines) == 0 || strings.TrimSpace(resource) == "" {
		return ""
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		flags := parseUint(f[2])
		if flags&memFlag != 0 && flags&mem64Flag != 0 {
			return "64 bits"
		}
	}
	return "32 bits"
}

// hasROM reports a ROM BAR (the 7th resource line) in use.
func hasROM(resource string) bool {
	lines := strings.Split(strings.TrimSpace(resource), "\n")
	if len(lines) < 7 {
		return false
	}
	f := strings.Fields(lines[6])
	return len(f) == 3 && parseUint(f[0]) != 0
}
