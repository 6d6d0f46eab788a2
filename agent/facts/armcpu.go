package facts

import (
	"fmt"
	"strconv"
	"strings"
)

// Arm CPUs have no "model name" in /proc/cpuinfo: each processor block
// gives the fields of its Main ID Register (MIDR_EL1) instead:
//
//	CPU implementer	: 0x41
//	CPU architecture: 8
//	CPU variant	: 0x3
//	CPU part	: 0xd0c
//	CPU revision	: 1
//
// The implementer is assigned by Arm, the part number by the implementer;
// variant and revision make the "r3p1" of Arm's documentation. The table
// below names the cores found in arm64 servers (Ampere Altra is ARM's
// Neoverse-N1, AmpereOne Ampere's own; Graviton 2/3/4 and Grace are
// Neoverse-N1/V1/V2), clouds, boards and developer machines, spelt as
// lscpu spells them.

// armImplementer is one MIDR implementer code and the parts we name.
type armImplementer struct {
	name  string
	parts map[uint64]string
}

// armImplementers maps MIDR implementer codes to vendors and part names.
var armImplementers = map[uint64]armImplementer{
	0x41: {"ARM", map[uint64]string{
		0xd02: "Cortex-A34", 0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd05: "Cortex-A55",
		0xd07: "Cortex-A57", 0xd08: "Cortex-A72", 0xd09: "Cortex-A73", 0xd0a: "Cortex-A75",
		0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77", 0xd40: "Neoverse-V1",
		0xd41: "Cortex-A78", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510", 0xd47: "Cortex-A710",
		0xd48: "Cortex-X2", 0xd49: "Neoverse-N2", 0xd4a: "Neoverse-E1", 0xd4b: "Cortex-A78C",
		0xd4f: "Neoverse-V2", 0xd80: "Cortex-A520", 0xd81: "Cortex-A720", 0xd82: "Cortex-X4",
		0xd84: "Neoverse-V3", 0xd8e: "Neoverse-N3",
	}},
	0x42: {"Broadcom", map[uint64]string{0x00f: "Brahma-B15", 0x100: "Brahma-B53", 0x516: "ThunderX2"}},
	0x43: {"Cavium", map[uint64]string{
		0x0a0: "ThunderX", 0x0a1: "ThunderX-88XX", 0x0a2: "ThunderX-81XX", 0x0a3: "ThunderX-83XX",
		0x0af: "ThunderX2-99xx", 0x0b8: "ThunderX3-T110",
	}},
	0x46: {"Fujitsu", map[uint64]string{0x001: "A64FX"}},
	0x48: {"HiSilicon", map[uint64]string{0xd01: "Kunpeng-920"}},
	0x4e: {"NVIDIA", map[uint64]string{0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel"}},
	0x50: {"APM", map[uint64]string{0x000: "X-Gene"}},
	0x51: {"Qualcomm", map[uint64]string{0x800: "Falkor V1/Kryo", 0xc00: "Falkor"}},
	0x61: {"Apple", map[uint64]string{
		0x022: "Icestorm", 0x023: "Firestorm", 0x024: "Icestorm", 0x025: "Firestorm",
		0x028: "Icestorm", 0x029: "Firestorm", 0x032: "Blizzard", 0x033: "Avalanche",
	}},
	0xc0: {"Ampere", map[uint64]string{0xac3: "Ampere-1", 0xac4: "Ampere-1a"}},
}

// armID is the MIDR of one processor as cpuinfo gives it.
type armID struct {
	implementer, part, variant, revision uint64
}

// armCPU reads processor i's MIDR fields; false when cpuinfo has no
// "CPU implementer" and "CPU part" (not an Arm CPU, or unparsable).
func (c cpuInfo) armCPU(i int) (armID, bool) {
	impl, err1 := parseCPUNumber(c.get(i, "CPU implementer"))
	part, err2 := parseCPUNumber(c.get(i, "CPU part"))
	if err1 != nil || err2 != nil {
		return armID{}, false
	}
	// Variant and revision are informative only: 0 when absent.
	variant, _ := parseCPUNumber(c.get(i, "CPU variant"))
	rev, _ := parseCPUNumber(c.get(i, "CPU revision"))
	return armID{implementer: impl, part: part, variant: variant, revision: rev}, true
}

// parseCPUNumber reads cpuinfo's "0x41" (hex) and "1" (decimal) values.
func parseCPUNumber(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseUint(h, 16, 32)
	}
	return strconv.ParseUint(s, 10, 32)
}

// vendor is the implementer's name ("ARM", "Ampere"), or its code in hex
// ("0x00") when unknown, as lscpu shows an unknown one.
func (id armID) vendor() string {
	if im, ok := armImplementers[id.implementer]; ok {
		return im.name
	}
	return fmt.Sprintf("0x%02x", id.implementer)
}

// model is the part's name ("Neoverse-N1"), "" when unknown.
func (id armID) model() string {
	return armImplementers[id.implementer].parts[id.part]
}

// name is what processor<N> and mk_hw_cpu<N>_product report: vendor and
// part ("ARM Neoverse-N1", "Ampere Ampere-1"); for a part we do not know,
// its numbers ("Ampere part 0xac9", "ARM implementer 0x00 part 0x051").
func (id armID) name() string {
	im, ok := armImplementers[id.implementer]
	switch {
	case !ok:
		return fmt.Sprintf("ARM implementer 0x%02x part 0x%03x", id.implementer, id.part)
	case im.parts[id.part] == "":
		return fmt.Sprintf("%s part 0x%03x", im.name, id.part)
	}
	return im.name + " " + im.parts[id.part]
}

// stepping is Arm's "r<variant>p<revision>" ("r3p1"), as lscpu shows it.
func (id armID) stepping() string {
	return fmt.Sprintf("r%dp%d", id.variant, id.revision)
}
