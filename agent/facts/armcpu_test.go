package facts

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// armCPUInfo writes an arm64 /proc/cpuinfo in the kernel's layout
// (arch/arm64/kernel/cpuinfo.c: a block per CPU, no model name) for n
// CPUs of one MIDR.
func armCPUInfo(n int, impl, variant, part, rev string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "processor\t: %d\nBogoMIPS\t: 50.00\n", i)
		b.WriteString("Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\n")
		fmt.Fprintf(&b, "CPU implementer\t: %s\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n", impl, variant, part, rev)
	}
	return b.String()
}

func TestArmCPUName(t *testing.T) {
	tests := []struct {
		impl, variant, part, rev string
		name, vendor, model      string
		stepping                 string
	}{
		{"0x41", "0x3", "0xd0c", "1", "ARM Neoverse-N1", "ARM", "Neoverse-N1", "r3p1"}, // Ampere Altra, Graviton2
		{"0x41", "0x1", "0xd40", "1", "ARM Neoverse-V1", "ARM", "Neoverse-V1", "r1p1"}, // Graviton3
		{"0x41", "0x0", "0xd49", "0", "ARM Neoverse-N2", "ARM", "Neoverse-N2", "r0p0"},
		{"0x41", "0x0", "0xd4f", "1", "ARM Neoverse-V2", "ARM", "Neoverse-V2", "r0p1"}, // Grace, Graviton4
		{"0x41", "0x0", "0xd08", "3", "ARM Cortex-A72", "ARM", "Cortex-A72", "r0p3"},
		{"0x41", "0x1", "0xd07", "0", "ARM Cortex-A57", "ARM", "Cortex-A57", "r1p0"},
		{"0x41", "0x0", "0xd03", "4", "ARM Cortex-A53", "ARM", "Cortex-A53", "r0p4"},
		{"0xc0", "0x0", "0xac3", "0", "Ampere Ampere-1", "Ampere", "Ampere-1", "r0p0"}, // AmpereOne
		{"0x43", "0x1", "0x0af", "1", "Cavium ThunderX2-99xx", "Cavium", "ThunderX2-99xx", "r1p1"},
		{"0x42", "0x1", "0x516", "0", "Broadcom ThunderX2", "Broadcom", "ThunderX2", "r1p0"},
		{"0x46", "0x1", "0x001", "0", "Fujitsu A64FX", "Fujitsu", "A64FX", "r1p0"},
		{"0x48", "0x1", "0xd01", "0", "HiSilicon Kunpeng-920", "HiSilicon", "Kunpeng-920", "r1p0"},
		{"0x61", "0x1", "0x023", "1", "Apple Firestorm", "Apple", "Firestorm", "r1p1"},
		// A part we do not know, of a known implementer; an unknown
		// implementer (QEMU's "max" CPU reports implementer 0).
		{"0x41", "0x0", "0xdff", "0", "ARM part 0xdff", "ARM", "", "r0p0"},
		{"0x00", "0x0", "0x051", "0", "ARM implementer 0x00 part 0x051", "0x00", "", "r0p0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci, err := parseCPUInfo([]byte(armCPUInfo(2, tt.impl, tt.variant, tt.part, tt.rev)))
			if err != nil {
				t.Fatal(err)
			}
			id, ok := ci.armCPU(1)
			if !ok {
				t.Fatalf("armCPU(1) = false")
			}
			got := []string{ci.modelName(1), id.vendor(), id.model(), id.stepping()}
			want := []string{tt.name, tt.vendor, tt.model, tt.stepping}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("implementer %s part %s (-want +got):\n%s", tt.impl, tt.part, diff)
			}
		})
	}
	// Not Arm: x86 has no MIDR fields; a malformed one is not guessed at.
	for _, in := range []string{
		"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n",
		"processor\t: 0\nCPU implementer\t: 0x41\n",
		"processor\t: 0\nCPU implementer\t: ARM\nCPU part\t: 0xd0c\n",
		"processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0x1ffffffff\n",
	} {
		ci, err := parseCPUInfo([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := ci.armCPU(0); ok {
			t.Errorf("armCPU(%q) = %+v, want none", in, id)
		}
	}
	// Old arm64 kernels also printed "Processor : AArch64 Processor rev 1
	// (aarch64)" in the global section: the MIDR's name says more.
	ci, _ := parseCPUInfo([]byte("Processor\t: AArch64 Processor rev 1 (aarch64)\n" + armCPUInfo(1, "0x41", "0x0", "0xd07", "1")))
	if got := ci.modelName(0); got != "ARM Cortex-A57" {
		t.Errorf("modelName with an old Processor line = %q, want ARM Cortex-A57", got)
	}
}

func TestCPUListCount(t *testing.T) {
	for in, want := range map[string]int{
		"0": 1, "0-3": 4, "0-3,8-11": 8, "0,2,4": 3, "": 0, "3-1": 0, "x": 0, "0-": 0,
		"-1": 0, "0-99999999": 0, "1,,2": 0,
	} {
		if got := cpuListCount(in); got != want {
			t.Errorf("cpuListCount(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestArmFacts gathers the processor facts of a constructed arm64 machine
// without SMBIOS: an 8-core Neoverse-N1 (an Ampere Altra slice, as a cloud
// VM or a board with no DMI shows it), one thread per core.
func TestArmFacts(t *testing.T) {
	files := map[string]string{
		"proc/cpuinfo":                                         armCPUInfo(8, "0x41", "0x3", "0xd0c", "1"),
		"proc/sys/kernel/arch":                                 "aarch64\n",
		"proc/sys/kernel/osrelease":                            "6.1.0-57-arm64\n",
		"sys/devices/system/cpu/online":                        "0-7\n",
		"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3000000\n",
	}
	for i := 0; i < 8; i++ {
		d := fmt.Sprintf("sys/devices/system/cpu/cpu%d/topology/", i)
		files[d+"physical_package_id"] = "0\n"
		files[d+"core_cpus_list"] = fmt.Sprintf("%d\n", i)
	}
	dir := writeTree(t, files)
	res := Gather(context.Background(), Options{Root: dir})
	want := map[string]string{
		"architecture":                 "aarch64",
		"hardwaremodel":                "aarch64",
		"processorcount":               "8",
		"processor0":                   "ARM Neoverse-N1",
		"processor7":                   "ARM Neoverse-N1",
		"physicalprocessorcount":       "1",
		"mk_hw_lscpu_Architecture":     "aarch64",
		"mk_hw_lscpu_Byte_Order":       "Little Endian",
		"mk_hw_lscpu_CPUs":             "8",
		"mk_hw_lscpu_Vendor_ID":        "ARM",
		"mk_hw_lscpu_Model":            "1",
		"mk_hw_lscpu_Model_name":       "Neoverse-N1",
		"mk_hw_lscpu_Stepping":         "r3p1",
		"mk_hw_lscpu_BogoMIPS":         "50.00",
		"mk_hw_lscpu_Threads_per_core": "1",
		"mk_hw_lscpu_Cores_per_socket": "8",
		"mk_hw_lscpu_CPU_sockets":      "1",
		"mk_hw_lscpu_CPU_MHz":          "3000.000",
		"mk_hw_cpu_count":              "1",
		"mk_hw_cpu0_product":           "ARM Neoverse-N1",
		"mk_hw_cpu0_vendor":            "ARM",
		"mk_hw_cpu0_version":           "r3p1",
		"mk_hw_cpu0_width":             "64 bits",
		"mk_hw_cpu0_size":              "3GHz",
		"mk_hw_cpu0_configuration":     "cores=8 enabledcores=8 threads=8",
		"mk_hw_cpu0_capabilities":      "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs",
	}
	for k, v := range want {
		if got := res.Facts[k]; got != v {
			t.Errorf("Gather(arm64) %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"mk_hw_lscpu_CPU_family", "mk_hw_lscpu_Virtualization", "mk_hw_lscpu_CPU_op-modes"} {
		if v, ok := res.Facts[k]; ok {
			t.Errorf("Gather(arm64) %s = %q, want none (x86 only)", k, v)
		}
	}
}

func FuzzArmCPU(f *testing.F) {
	f.Add("0x41", "0x3", "0xd0c", "1")
	f.Add("0xc0", "0x0", "0xac3", "0")
	f.Add("0x00", "", "0x051", "")
	f.Add("65", "0x", "-1", "0x1ffffffffffffffff")
	f.Fuzz(func(t *testing.T, impl, variant, part, rev string) {
		in := fmt.Sprintf("processor\t: 0\nCPU implementer\t: %s\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n", impl, variant, part, rev)
		ci, err := parseCPUInfo([]byte(in))
		if err != nil {
			return
		}
		name := ci.modelName(0)
		if id, ok := ci.armCPU(0); ok {
			if name == "" || id.vendor() == "" || !strings.HasPrefix(id.stepping(), "r") {
				t.Errorf("armCPU(%q) = %+v: name %q vendor %q stepping %q", in, id, name, id.vendor(), id.stepping())
			}
		}
	})
}
