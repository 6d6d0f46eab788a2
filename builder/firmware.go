package builder

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/builder/modules"
)

// ErrMissingFirmware: with Options.StrictFirmware, a module's firmware was
// found nowhere.
var ErrMissingFirmware = errors.New("builder: missing firmware")

// FirmwareComponent is the apt component Debian's firmware packages are
// in (since Debian 12).
const FirmwareComponent = "non-free-firmware"

// firmwarePackages maps the start of a firmware file's path to the Debian
// 12 package that ships it (package firmware-nonfree's binaries, all in
// FirmwareComponent). Longer prefixes are tried first; the list covers
// the network, storage and common board firmware a microkernel loads.
var firmwarePackages = []struct{ prefix, pkg string }{
	{"bnx2x/", "firmware-bnx2x"},
	{"bnx2/", "firmware-bnx2"},
	{"rtl_nic/", "firmware-realtek"},
	{"rtl_bt/", "firmware-realtek"},
	{"rtlwifi/", "firmware-realtek"},
	{"rtw88/", "firmware-realtek"},
	{"rtw89/", "firmware-realtek"},
	{"qed/", "firmware-qlogic"},
	{"qlogic/", "firmware-qlogic"},
	{"ql2", "firmware-qlogic"},
	{"myri10ge", "firmware-myricom"},
	{"phanfw", "firmware-netxen"},
	{"nx3fw", "firmware-netxen"},
	{"netronome/", "firmware-netronome"},
	{"liquidio/", "firmware-cavium"},
	{"cavium/", "firmware-cavium"},
	{"iwlwifi-", "firmware-iwlwifi"},
	{"brcm/", "firmware-brcm80211"},
	{"ath", "firmware-atheros"},
	{"amdgpu/", "firmware-amd-graphics"},
	{"radeon/", "firmware-amd-graphics"},
	{"tigon/", "firmware-misc-nonfree"},
	{"e100/", "firmware-misc-nonfree"},
	{"cxgb3/", "firmware-misc-nonfree"},
	{"cxgb4/", "firmware-misc-nonfree"},
	{"mellanox/", "firmware-misc-nonfree"},
	{"intel/", "firmware-misc-nonfree"},
	{"i915/", "firmware-misc-nonfree"},
	{"nvidia/", "firmware-misc-nonfree"},
}

// FirmwarePackage returns the Debian package that ships firmware file
// name, or "" when the table does not know it.
func FirmwarePackage(name string) string {
	best, pkg := 0, ""
	for _, p := range firmwarePackages {
		if strings.HasPrefix(name, p.prefix) && len(p.prefix) > best {
			best, pkg = len(p.prefix), p.pkg
		}
	}
	return pkg
}

// FirmwareAdvice says, for each missing firmware file, which module wants
// it and how to supply it: the Debian package (in the spec's
// debian.firmware, with the apt component enabled), or a firmware.dirs
// directory holding the file.
func FirmwareAdvice(missing []string, set *modules.Set) []string {
	wanted := map[string][]string{}
	if set != nil {
		for _, m := range set.Modules {
			for _, f := range m.Info.Firmware {
				wanted[f] = append(wanted[f], m.Name)
			}
		}
	}
	var out []string
	for _, f := range missing {
		mods := "a listed module"
		if ms := wanted[f]; len(ms) > 0 {
			slices.Sort(ms)
			mods = "module " + strings.Join(slices.Compact(ms), ", ")
		}
		var how string
		if pkg := FirmwarePackage(f); pkg != "" {
			how = fmt.Sprintf("it is in Debian's %s package (apt component %s): add %s to debian.firmware in the spec and enable %s in the apt sources (Components: main %s, then apt-get update)",
				pkg, FirmwareComponent, pkg, FirmwareComponent, FirmwareComponent)
		} else {
			how = fmt.Sprintf("find its Debian package with apt-file search %s (component %s) and add it to debian.firmware", f, FirmwareComponent)
		}
		out = append(out, fmt.Sprintf("missing firmware %s (for %s): %s; or put the file in a directory listed in firmware.dirs", f, mods, how))
	}
	return out
}
