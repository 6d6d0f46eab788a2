package facts

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/facts")

// treesDir holds the captured /proc+/sys trees (see capture-host.sh and
// capture-vm.sh there) and their golden outputs.
const treesDir = "../../testdata/facts"

// trees are the captured trees every golden test runs against.
var trees = []string{"host", "qemu", "vmware", "vmware-sysfs-dmi", "uefi-secureboot", "arm64"}

// render prints what a node reports from a tree: identity, failed
// sources and facts, in a stable text form.
func render(id Identity, idErr error, res Result) string {
	var b strings.Builder
	b.WriteString("# identity\n")
	if idErr != nil {
		fmt.Fprintf(&b, "error: %v\n", idErr)
	}
	fmt.Fprintf(&b, "hw_id: %s\nuuid: %s\n", id.HWID, id.UUID)
	b.WriteString("# errors\n")
	for _, e := range res.Errors {
		fmt.Fprintf(&b, "%s: %v\n", e.Source, e.Err)
	}
	b.WriteString("# facts\n")
	names := make([]string, 0, len(res.Facts))
	for k := range res.Facts {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, res.Facts[k])
	}
	return b.String()
}

func TestGatherGolden(t *testing.T) {
	for _, name := range trees {
		t.Run(name, func(t *testing.T) {
			opts := Options{Root: filepath.Join(treesDir, name)}
			if _, err := os.Stat(opts.Root); err != nil {
				t.Fatalf("captured tree missing: %v", err)
			}
			res := Gather(context.Background(), opts)
			id, idErr := GetIdentity(opts)
			got := render(id, idErr, res)
			golden := filepath.Join(treesDir, name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Gather(%s) differs from %s (-want +got):\n%s", name, golden, diff)
			}
		})
	}
}

// TestIdentity pins what the server will see of each captured machine,
// independently of the golden files.
func TestIdentity(t *testing.T) {
	tests := []struct {
		tree string
		want Identity
	}{
		// eth0 is virtio; ifb0/ifb1 (virtual, random MACs) and lo do not count.
		{"host", Identity{HWID: "02FC00000001", MACs: []string{"02FC00000001"}}},
		{"qemu", Identity{
			HWID: "525400123401_525400123402",
			UUID: "5F1C2A7E-3B4D-4E8F-9A0B-1C2D3E4F5A6B",
			MACs: []string{"525400123401", "525400123402"},
		}},
		{"vmware", Identity{
			HWID: "005056A1B2C3_005056A1B2C4",
			UUID: "564D9A3C-1E2B-7F80-4A6C-11DE0F219B55",
			MACs: []string{"005056A1B2C3", "005056A1B2C4"},
		}},
		{"vmware-sysfs-dmi", Identity{
			HWID: "005056A1B2C3_005056A1B2C4",
			UUID: "564D9A3C-1E2B-7F80-4A6C-11DE0F219B55",
			MACs: []string{"005056A1B2C3", "005056A1B2C4"},
		}},
		// The UUID comes from the SMBIOS tables UEFI installs on arm64.
		{"arm64", Identity{
			HWID: "5254001234A1",
			UUID: "7A3E9C41-5B2D-4F6E-8A1C-9D0E2F3A4B5C",
			MACs: []string{"5254001234A1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			got, err := GetIdentity(Options{Root: filepath.Join(treesDir, tt.tree)})
			if err != nil {
				t.Fatalf("GetIdentity(%s) error: %v", tt.tree, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GetIdentity(%s) = %+v, want %+v (-want +got):\n%s", tt.tree, got, tt.want, diff)
			}
		})
	}
}

// TestKeyFacts checks the facts tags and system tags depend on, per tree,
// so that a golden rewrite cannot silently lose them.
func TestKeyFacts(t *testing.T) {
	tests := []struct {
		tree string
		want map[string]string
	}{
		{"host", map[string]string{
			"virtual": "kvm", "is_virtual": "true", "processorcount": "2",
			"physicalprocessorcount": "1", "mk_hw_nic_count": "1", "mk_hw_disk_count": "1",
			"macaddress_eth0": "02:FC:00:00:00:01", "ipaddress_eth0": "192.0.2.2",
			"netmask_eth0": "255.255.255.0", "mk_hw_nic0_driver": "virtio_net",
			"mk_hw_nic0_pci_address": "0000:00:03.0", "blockdevices": "vda",
		}},
		{"qemu", map[string]string{
			"virtual": "kvm", "manufacturer": "QEMU", "serialnumber": "QEMU-NODE-0001",
			"uuid": "5F1C2A7E-3B4D-4E8F-9A0B-1C2D3E4F5A6B", "boardserialnumber": "BOARD-0001",
			"mk_hw_bus_vendor": "QEMU", "mk_hw_fw_vendor": "SeaBIOS", "mk_hw_mem_size": "512MiB",
			"mk_hw_disk_count": "2", "mk_hw_disk0_serial": "SATA-0001",
			"mk_hw_disk0_wwn": "0x5000c5001234abcd", "mk_hw_disk1_serial": "VIRTIO-0001",
			"mk_hw_nic1_driver": "e1000", "mk_hw_nic1_link_speed": "1000",
			"blockdevices": "sda,sr0,vda", "blockdevice_vda_size": "8589934592",
		}},
		{"vmware", map[string]string{
			"virtual": "vmware", "is_virtual": "true", "manufacturer": "VMware, Inc.",
			"productname": "VMware Virtual Platform", "physicalprocessorcount": "2",
			"mk_hw_cpu_count": "2", "mk_hw_nic0_driver": "vmxnet3",
			"mk_hw_disk0_wwn": "0x6000c29e1e5d4a2b", "mk_hw_mem_size": "1GiB",
		}},
		{"vmware-sysfs-dmi", map[string]string{
			"virtual": "vmware", "manufacturer": "VMware, Inc.",
			"uuid": "564D9A3C-1E2B-7F80-4A6C-11DE0F219B55", "bios_vendor": "Phoenix Technologies LTD",
		}},
		// QEMU virt, -cpu cortex-a72 -smp 4, booted through AAVMF.
		{"arm64", map[string]string{
			"architecture":                 "aarch64",
			"hardwaremodel":                "aarch64",
			"processorcount":               "4",
			"processor0":                   "ARM Cortex-A72",
			"processor3":                   "ARM Cortex-A72",
			"physicalprocessorcount":       "1",
			"mk_hw_cpu_count":              "1",
			"mk_hw_cpu0_product":           "ARM Cortex-A72",
			"mk_hw_cpu0_width":             "64 bits",
			"mk_hw_cpu0_configuration":     "cores=4 enabledcores=4 threads=4",
			"mk_hw_lscpu_Vendor_ID":        "ARM",
			"mk_hw_lscpu_Model_name":       "Cortex-A72",
			"mk_hw_lscpu_Stepping":         "r0p3",
			"mk_hw_lscpu_Cores_per_socket": "4",
			"mk_hw_lscpu_Threads_per_core": "1",
			"virtual":                      "kvm",
			"manufacturer":                 "QEMU",
			"productname":                  "ARM-Virt-Node",
			"serialnumber":                 "QEMU-ARM-0001",
			"boardserialnumber":            "BOARD-ARM-0001",
			"mk_hw_fw_vendor":              "EFI Development Kit II / OVMF",
			"boot_mode":                    "uefi",
			"secure_boot":                  "false",
			"macaddress_eth0":              "52:54:00:12:34:A1",
			"mk_hw_nic0_driver":            "virtio_net",
			"mk_hw_disk0_serial":           "NVME-ARM-0001",
			"mk_hw_disk1_serial":           "VIRTIO-ARM-0001",
			"blockdevices":                 "nvme0n1,vda",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			res := Gather(context.Background(), Options{Root: filepath.Join(treesDir, tt.tree)})
			for k, want := range tt.want {
				if got := res.Facts[k]; got != want {
					t.Errorf("Gather(%s).Facts[%q] = %q, want %q", tt.tree, k, got, want)
				}
			}
			if len(res.Errors) != 0 {
				t.Errorf("Gather(%s).Errors = %v, want none", tt.tree, res.Errors)
			}
		})
	}
}

// TestCaptureReplays captures a tree (and the live system) and checks that
// the capture reports exactly what was seen while capturing.
func TestCaptureReplays(t *testing.T) {
	roots := []string{"", filepath.Join(treesDir, "qemu"), filepath.Join(treesDir, "vmware"), filepath.Join(treesDir, "uefi-secureboot"), filepath.Join(treesDir, "arm64")}
	for _, root := range roots {
		name := root
		if name == "" {
			name = "live"
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "capture")
			captured, err := Capture(context.Background(), Options{Root: root}, dir)
			if err != nil {
				t.Fatalf("Capture(%q) error: %v", root, err)
			}
			if len(captured.Facts) == 0 {
				t.Fatalf("Capture(%q) found no facts", root)
			}
			replayed := Gather(context.Background(), Options{Root: dir})
			if diff := cmp.Diff(captured.Facts, replayed.Facts); diff != "" {
				t.Errorf("Gather(capture of %q) differs from the capture (-captured +replayed):\n%s", root, diff)
			}
			if root != "" {
				direct := Gather(context.Background(), Options{Root: root})
				if diff := cmp.Diff(direct.Facts, captured.Facts); diff != "" {
					t.Errorf("Capture(%q) facts differ from Gather (-gather +capture):\n%s", root, diff)
				}
			}
		})
	}
}

func TestCaptureRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Capture(context.Background(), Options{Root: filepath.Join(treesDir, "qemu")}, dir); err == nil {
		t.Errorf("Capture(non-empty dir) = nil error, want an error")
	}
}

// writeTree builds a small tree from path → content; a content starting
// with "->" makes a symbolic link.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestBestEffort checks that failing sources are recorded and the others
// still report.
func TestBestEffort(t *testing.T) {
	root := writeTree(t, map[string]string{
		"proc/cpuinfo":                                         "garbage without processors\n",
		"proc/meminfo":                                         "MemTotal:       1024000 kB\n",
		"proc/sys/kernel/osrelease":                            "6.1.0-test\n",
		"proc/sys/kernel/arch":                                 "x86_64\n",
		"sys/firmware/dmi/tables/smbios_entry_point":           "_SM_ but truncated",
		"sys/firmware/dmi/tables/DMI":                          "",
		"sys/class/dmi/id/sys_vendor":                          "Dell Inc.\n",
		"sys/class/dmi/id/product_name":                        "PowerEdge R640\n",
		"sys/class/dmi/id/chassis_type":                        "23\n",
		"sys/devices/pci0000:00/0000:00:19.0/class":            "0x020000\n",
		"sys/devices/pci0000:00/0000:00:19.0/vendor":           "0x8086\n",
		"sys/devices/pci0000:00/0000:00:19.0/device":           "0x15b7\n",
		"sys/bus/pci/devices/0000:00:19.0":                     "->../../../devices/pci0000:00/0000:00:19.0",
		"sys/devices/pci0000:00/0000:00:19.0/net/eno1/address": "3c:ec:ef:00:11:22\n",
		"sys/devices/pci0000:00/0000:00:19.0/net/eno1/type":    "1\n",
		"sys/devices/pci0000:00/0000:00:19.0/net/eno1/device":  "->../../../0000:00:19.0",
		"sys/class/net/eno1":                                   "->../../devices/pci0000:00/0000:00:19.0/net/eno1",
		// A controller no driver claimed, and one whose interface lives in
		// another network namespace.
		"sys/devices/pci0000:00/0000:00:1f.6/class":  "0x020000\n",
		"sys/devices/pci0000:00/0000:00:1f.6/vendor": "0x8086\n",
		"sys/bus/pci/devices/0000:00:1f.6":           "->../../../devices/pci0000:00/0000:00:1f.6",
		"sys/devices/pci0000:00/0000:00:1f.7/class":  "0x020000\n",
		"sys/devices/pci0000:00/0000:00:1f.7/driver": "->../../../bus/pci/drivers/ixgbe",
		"sys/bus/pci/drivers/ixgbe/x":                "",
		"sys/bus/pci/devices/0000:00:1f.7":           "->../../../devices/pci0000:00/0000:00:1f.7",
	})
	res := Gather(context.Background(), Options{Root: root})
	var sources []string
	for _, e := range res.Errors {
		sources = append(sources, e.Source)
	}
	if want := []string{"smbios", "cpu", "block"}; !slices.Equal(sources, want) {
		t.Errorf("Gather(broken tree) failed sources = %v, want %v (errors: %v)", sources, want, res.Errors)
	}
	for k, want := range map[string]string{
		"manufacturer":           "Dell Inc.",
		"productname":            "PowerEdge R640",
		"type":                   "Rack Mount Chassis",
		"memorysize":             "1000.00 MB",
		"macaddress":             "3C:EC:EF:00:11:22",
		"mk_hw_nic_count":        "2",
		"mk_hw_nic1_unclaimed":   "true",
		"mk_hw_nic1_description": "Ethernet controller",
		"mk_hw_nic1_bus_info":    "pci@0000:00:1f.6",
		"mk_hw_nic0_pci_address": "0000:00:19.0",
		"mk_hw_nic0_vendor_id":   "0x8086",
		"mk_hw_nic0_physical_id": "19",
		"virtual":                "physical",
		"is_virtual":             "false",
		"kernelrelease":          "6.1.0-test",
		"mk_hw_mem_size":         "1000MiB",
	} {
		if got := res.Facts[k]; got != want {
			t.Errorf("Gather(broken tree).Facts[%q] = %q, want %q", k, got, want)
		}
	}
	id, err := GetIdentity(Options{Root: root})
	if err != nil || id.HWID != "3CECEF001122" || id.UUID != "" {
		t.Errorf("GetIdentity(broken tree) = %+v, %v; want hw_id 3CECEF001122 and no UUID", id, err)
	}
}

func TestGatherMissingRoot(t *testing.T) {
	res := Gather(context.Background(), Options{Root: filepath.Join(t.TempDir(), "nope")})
	if len(res.Errors) != 1 || res.Errors[0].Source != "root" || res.Facts == nil {
		t.Errorf("Gather(missing root) = %+v, want one root error and an empty map", res)
	}
}

func TestGatherCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Gather(ctx, Options{Root: filepath.Join(treesDir, "qemu")})
	if len(res.Errors) != 1 || !errors.Is(res.Errors[0].Err, context.Canceled) {
		t.Errorf("Gather(cancelled) errors = %v, want one context.Canceled", res.Errors)
	}
}

func TestGetIdentityNone(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sys/class/net/lo":                   "->../../devices/virtual/net/lo",
		"sys/devices/virtual/net/lo/type":    "772\n",
		"sys/devices/virtual/net/lo/address": "00:00:00:00:00:00\n",
	})
	_, err := GetIdentity(Options{Root: root})
	if !errors.Is(err, ErrNoIdentity) {
		t.Errorf("GetIdentity(only lo) error = %v, want ErrNoIdentity", err)
	}
}

func TestMarkIdentity(t *testing.T) {
	mk := func(name string, typ int, physical, wireless, random bool) *netIface {
		return &netIface{name: name, typ: typ, mac: "AA" + strings.Repeat("0", 10), physical: physical, wireless: wireless, random: random}
	}
	tests := []struct {
		name string
		ifs  []*netIface
		want []string
	}{
		{"physical ethernet only", []*netIface{
			mk("eth0", 1, true, false, false), mk("br0", 1, false, false, false),
			mk("ib0", 32, true, false, false), mk("wlan0", 1, true, true, false),
			mk("veth1", 1, false, false, true),
		}, []string{"eth0"}},
		{"random MACs left out", []*netIface{mk("eth0", 1, true, false, false), mk("eth1", 1, true, false, true)}, []string{"eth0"}},
		{"random MACs when nothing else", []*netIface{mk("eth0", 1, true, false, true)}, []string{"eth0"}},
		{"none", []*netIface{mk("lo", 772, false, false, false)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			markIdentity(tt.ifs)
			var got []string
			for _, i := range tt.ifs {
				if i.identity {
					got = append(got, i.name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("markIdentity() picked %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mk_hw_lscpu_CPU_op-mode(s)", "mk_hw_lscpu_CPU_op-modes"},
		{"blockdevice_cciss!c0d0_size", "blockdevice_ccissc0d0_size"},
		{"a!@#$%^&*()=+[]{}b", "ab"},
		{"plain_name", "plain_name"},
	}
	for _, tt := range tests {
		if got := CleanName(tt.in); got != tt.want {
			t.Errorf("CleanName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExclude(t *testing.T) {
	in := map[string]string{"kernel": "Linux", "kernelrelease": "6.1", "uptime_days": "0", "macaddress": "AA", "mk_hw_lscpu_hash_json_str": "{}"}
	re := regexp.MustCompile(`(^kernel.*$)|(^uptime.*$)|(.*json_str$)`)
	got := Exclude(in, re)
	if diff := cmp.Diff(map[string]string{"macaddress": "AA"}, got); diff != "" {
		t.Errorf("Exclude() (-want +got):\n%s", diff)
	}
	if len(in) != 5 {
		t.Errorf("Exclude() modified its input: %v", in)
	}
	if diff := cmp.Diff(in, Exclude(in, nil)); diff != "" {
		t.Errorf("Exclude(nil pattern) (-want +got):\n%s", diff)
	}
}

// FuzzGather feeds arbitrary content to the main sources of a small tree:
// no collector may panic (Gather would report it as an internal error).
func FuzzGather(f *testing.F) {
	read := func(tree, name string) []byte {
		b, _ := os.ReadFile(filepath.Join(treesDir, tree, name))
		return b
	}
	f.Add(read("qemu", "proc/cpuinfo"), read("qemu", "proc/meminfo"),
		read("qemu", "sys/firmware/dmi/tables/smbios_entry_point"), read("qemu", "sys/firmware/dmi/tables/DMI"),
		[]byte("52:54:00:12:34:01\n"), []byte("1\n"), []byte("0x1af4\n"))
	f.Add([]byte("processor: 0\n"), []byte("MemTotal: 1 kB\n"), []byte("_SM3_"), []byte{}, []byte("zz"), []byte("-1"), []byte(""))
	f.Fuzz(func(t *testing.T, cpuinfo, meminfo, entry, table, mac, typ, vendor []byte) {
		root := t.TempDir()
		files := map[string][]byte{
			"proc/cpuinfo": cpuinfo,
			"proc/meminfo": meminfo,
			"sys/firmware/dmi/tables/smbios_entry_point":           entry,
			"sys/firmware/dmi/tables/DMI":                          table,
			"sys/devices/pci0000:00/0000:00:03.0/vendor":           vendor,
			"sys/devices/pci0000:00/0000:00:03.0/class":            []byte("0x020000"),
			"sys/devices/pci0000:00/0000:00:03.0/config":           table,
			"sys/devices/pci0000:00/0000:00:03.0/resource":         mac,
			"sys/devices/pci0000:00/0000:00:03.0/net/eth0/address": mac,
			"sys/devices/pci0000:00/0000:00:03.0/net/eth0/type":    typ,
			"sys/devices/pci0000:00/0000:00:03.0/net/eth0/speed":   typ,
		}
		for p, c := range files {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, c, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for link, target := range map[string]string{
			"sys/bus/pci/devices/0000:00:03.0":                    "../../../devices/pci0000:00/0000:00:03.0",
			"sys/class/net/eth0":                                  "../../devices/pci0000:00/0000:00:03.0/net/eth0",
			"sys/devices/pci0000:00/0000:00:03.0/net/eth0/device": "../../../0000:00:03.0",
		} {
			full := filepath.Join(root, link)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
		}
		res := Gather(context.Background(), Options{Root: root})
		for _, e := range res.Errors {
			if strings.Contains(e.Err.Error(), "internal error") {
				t.Fatalf("Gather() source %s panicked: %v", e.Source, e.Err)
			}
		}
		_, _ = GetIdentity(Options{Root: root})
	})
}

// TestCPUMHzStable checks that the clock facts do not follow cpuinfo's
// moving figure where the kernel scales or measures the clock.
func TestCPUMHzStable(t *testing.T) {
	cpuinfo := func(flags string) string {
		return "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Xeon\nstepping\t: 4\ncpu MHz\t\t: 1234.567\nflags\t\t: fpu lm " + flags + "\n\n"
	}
	tests := []struct {
		name      string
		files     map[string]string
		mhz, size string
	}{
		{"cpufreq maximum", map[string]string{
			"proc/cpuinfo": cpuinfo("aperfmperf"),
			"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3900000\n",
			"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_min_freq": "800000\n",
		}, "3900.000", "3900MHz"},
		{"fixed TSC rate", map[string]string{"proc/cpuinfo": cpuinfo("")}, "1234.567", "1235MHz"},
		{"measured, nothing better", map[string]string{"proc/cpuinfo": cpuinfo("aperfmperf")}, "1234.567", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Gather(context.Background(), Options{Root: writeTree(t, tt.files)})
			if got := res.Facts["mk_hw_lscpu_CPU_MHz"]; got != tt.mhz {
				t.Errorf("mk_hw_lscpu_CPU_MHz = %q, want %q", got, tt.mhz)
			}
			if got := res.Facts["mk_hw_cpu0_size"]; got != tt.size {
				t.Errorf("mk_hw_cpu0_size = %q, want %q", got, tt.size)
			}
		})
	}
}
