package rules

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSystemTags(t *testing.T) {
	tests := []struct {
		name  string
		facts map[string]string
		want  []string
	}{
		{"kvm guest, 2 CPUs, 4 GiB, one NIC", kvmFacts, []string{"cpus_2", "kvm_vm", "memsize_4GiB", "nics_1"}},
		{"QEMU guest as mk-agent reports it", map[string]string{
			"virtual": "kvm", "is_virtual": "true", "processorcount": "2", "physicalprocessorcount": "1",
			"mk_hw_cpu_count": "2", "mk_hw_mem_size": "4GiB", "memorysize": "3.84 GB", "memorysize_mb": "3933.25",
			"mk_hw_nic_count": "1", "manufacturer": "QEMU", "mk_hw_bus_vendor": "QEMU", "mk_hw_fw_vendor": "SeaBIOS",
		}, []string{"QEMU", "cpus_2", "kvm_vm", "memsize_4GiB", "nics_1"}},
		{"physical Dell with lshw facts", map[string]string{
			"is_virtual": "false", "virtual": "physical", "processorcount": "32",
			"mk_hw_cpu_count": "2", "mk_hw_mem_size": "36GiB", "mk_hw_nic_count": "4",
			"mk_hw_bus_vendor": "Dell Inc.", "memorysize_mb": "36195.50",
		}, []string{"DellInc", "cpus_2", "memsize_36GiB", "nics_4"}},
		{"Facter facts only", map[string]string{
			"processorcount": "4", "memorysize_mb": "7983.10", "is_virtual": "true", "virtual": "vmware",
		}, []string{"cpus_4", "memsize_8GiB", "vmware_vm"}},
		{"VMware vendor and virtual", map[string]string{
			"mk_hw_bus_vendor": "Intel Corporation", "is_virtual": "TRUE", "virtual": "VMware Virtual Platform",
			"mk_hw_mem_size": "4096MiB",
		}, []string{"IntelCorporation", "VMwareVirtualPlatform_vm", "memsize_4GiB"}},
		{"small memory in MiB", map[string]string{"mk_hw_mem_size": "384MiB"}, []string{"memsize_384MiB"}},
		{"half a GiB", map[string]string{"mk_hw_mem_size": "512MiB"}, []string{"memsize_512MiB"}},
		{"just under 1 GiB", map[string]string{"mk_hw_mem_size": "1000MiB"}, []string{"memsize_1000MiB"}},
		{"exactly 1 GiB", map[string]string{"mk_hw_mem_size": "1024MiB"}, []string{"memsize_1GiB"}},
		{"MemTotal-like size below 1 GiB", map[string]string{"memorysize_mb": "1023.4"}, []string{"memsize_1023MiB"}},
		{"memory rounds to the nearest GiB", map[string]string{"mk_hw_mem_size": "1536 MiB"}, []string{"memsize_2GiB"}},
		{"memory from SI units", map[string]string{"mk_hw_mem_size": "16GB"}, []string{"memsize_15GiB"}},
		{"memory in bytes", map[string]string{"mk_hw_mem_size": "8589934592"}, []string{"memsize_8GiB"}},
		{"unusable mk_hw_mem_size falls back", map[string]string{"mk_hw_mem_size": "lots", "memorysize_mb": "2048"}, []string{"memsize_2GiB"}},
		{"memorysize_mb with a unit is unusable", map[string]string{"memorysize_mb": "2048 MiB"}, nil},
		{"zero memory", map[string]string{"mk_hw_mem_size": "0", "memorysize_mb": "0.2"}, nil},
		{"cpu count falls back", map[string]string{"mk_hw_cpu_count": "", "processorcount": "8"}, []string{"cpus_8"}},
		{"cpu count not a number falls back", map[string]string{"mk_hw_cpu_count": "two", "processorcount": "08"}, []string{"cpus_8"}},
		{"cpu count negative", map[string]string{"processorcount": "-1"}, nil},
		{"nic count zero", map[string]string{"mk_hw_nic_count": "0"}, []string{"nics_0"}},
		{"nic count spaced", map[string]string{"mk_hw_nic_count": " 2\n"}, []string{"nics_2"}},
		{"virtual without is_virtual", map[string]string{"virtual": "kvm"}, nil},
		{"is_virtual without virtual", map[string]string{"is_virtual": "true"}, nil},
		{"vendor sanitised", map[string]string{"mk_hw_bus_vendor": "  --Hewlett-Packard (HP) + Co.=%!"}, []string{"Hewlett-PackardHP+Co=%"}},
		{"vendor non-ASCII", map[string]string{"mk_hw_bus_vendor": "Sübmicro™"}, []string{"Sbmicro"}},
		{"vendor of symbols only", map[string]string{"mk_hw_bus_vendor": "--- (.) ---"}, nil},
		{"vendor too long", map[string]string{"mk_hw_bus_vendor": strings.Repeat("V", 100)}, []string{strings.Repeat("V", 64)}},
		{"virtual too long", map[string]string{"is_virtual": "true", "virtual": strings.Repeat("v", 100)}, []string{strings.Repeat("v", 61) + "_vm"}},
		{"vendor named like a system tag", map[string]string{"mk_hw_bus_vendor": "cpus_2", "processorcount": "2"}, []string{"cpus_2"}},
		{"no facts", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SystemTags(tc.facts)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SystemTags(%v) (-want +got):\n%s", tc.facts, diff)
			}
			for _, name := range got {
				if err := ValidName(name); err != nil {
					t.Errorf("SystemTags gave %q: %v", name, err)
				}
			}
		})
	}
}
