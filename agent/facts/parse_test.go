package facts

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUInfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		procs   int
		model   string
		wantErr bool
	}{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\nflags\t\t: fpu lm\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\n\n", 2, "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", false},
		{"arm64", "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n\nHardware\t: BCM2835\n", 1, "", false},
		{"value with colons", "processor : 0\nmodel name : A: B: C\n", 1, "A: B: C", false},
		{"empty", "", 0, "", true},
		{"no processors", "vendor_id : x\n", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci, err := parseCPUInfo([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseCPUInfo() error = %v, wantErr %v", err, tt.wantErr)
			}
			if len(ci.procs) != tt.procs {
				t.Errorf("parseCPUInfo() = %d processors, want %d", len(ci.procs), tt.procs)
			}
			if tt.procs > 0 && ci.get(0, "model name") != tt.model {
				t.Errorf("parseCPUInfo() model name = %q, want %q", ci.get(0, "model name"), tt.model)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	got, err := parseMeminfo([]byte("MemTotal:        8048576 kB\nMemFree:  100 kB\nHugePages_Total:       0\nbogus line\nX: 1 MB\n"))
	if err != nil {
		t.Fatalf("parseMeminfo() error: %v", err)
	}
	want := map[string]uint64{"MemTotal": 8048576, "MemFree": 100, "HugePages_Total": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMeminfo() (-want +got):\n%s", diff)
	}
	if _, err := parseMeminfo([]byte("MemFree: 1 kB\n")); err != errNoMemTotal {
		t.Errorf("parseMeminfo(no MemTotal) error = %v, want errNoMemTotal", err)
	}
}

func TestFormats(t *testing.T) {
	tests := []struct{ got, want string }{
		{binarySize(36 << 30), "36GiB"},
		{binarySize(1536 << 20), "1536MiB"},
		{binarySize(96 << 10), "96KiB"},
		{binarySize(0), "0iB"},
		{binarySize(1000), "1000iB"},
		{diskSize(8 << 30), "8GiB (8589MB)"},
		{diskSize(500107862016), "465GiB (500GB)"},
		{mhz(2400), "2400MHz"},
		{mhz(4000), "4GHz"},
		{mhz(100), "100MHz"},
		{decimalValue(1000*1000*1000, "bit/s"), "1Gbit/s"},
		{decimalValue(2500*1000*1000, "bit/s"), "2500Mbit/s"},
		{facterSize(8048576), "7.68 GB"},
		{facterSize(1000), "1000.00 kB"},
		{alphafy("eth0.100"), "eth0_100"},
		{alphafy("br-lan:1"), "br_lan_1"},
		{cleanValue(" a\x00b\tc "), "a b c"},
		{maskString(24), "255.255.255.0"},
		{maskString(0), "0.0.0.0"},
		{maskString(32), "255.255.255.255"},
		{pciPhysID("0000:00:19.0"), "19"},
		{pciPhysID("0000:3b:00.1"), "0.1"},
		{pciPhysID("bogus"), ""},
		{wwn("naa.5000C500A1B2C3D4"), "0x5000c500a1b2c3d4"},
		{wwn("eui.0025388B71B0F6B5"), "eui.0025388b71b0f6b5"},
		{wwn("t10.ATA     QEMU HARDDISK"), ""},
		{vpdSerial([]byte{0, 0x80, 0, 5, 'S', 'N', '1', ' ', ' '}), "SN1"},
		{vpdSerial([]byte{0, 0x80, 0, 50, 'S', 'N'}), "SN"},
		{vpdSerial([]byte{0, 0x83, 0, 2, 'S', 'N'}), ""},
		{vpdSerial(nil), ""},
		{pciWidth("0x1 0x2 0x40200\n0x0 0x0 0x0\n"), "32 bits"},
		{pciWidth("0x1 0x2 0x140204\n"), "64 bits"},
		{configString(map[string]string{"link": "yes", "driver": "e1000", "ip": ""}), "driver=e1000 link=yes"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d = %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestPCIConfigInfo(t *testing.T) {
	cfg := make([]byte, 256)
	cfg[0x04] = 0x04 // bus master
	cfg[0x06] = 0x10 // capability list
	cfg[0x0d] = 32   // latency timer
	cfg[0x34] = 0x40
	cfg[0x40], cfg[0x41] = 0x01, 0x50 // power management → 0x50
	cfg[0x50], cfg[0x51] = 0x05, 0x70 // MSI → 0x70
	cfg[0x70], cfg[0x71] = 0x10, 0x40 // PCI Express → loops back to 0x40
	caps, lat, ok := pciConfigInfo(cfg)
	if !ok || lat != 32 {
		t.Fatalf("pciConfigInfo() latency %d ok %v, want 32 true", lat, ok)
	}
	if diff := cmp.Diff([]string{"pm", "msi", "pciexpress", "bus_master", "cap_list"}, caps); diff != "" {
		t.Errorf("pciConfigInfo() caps (-want +got):\n%s", diff)
	}
	if _, _, ok := pciConfigInfo(cfg[:32]); ok {
		t.Errorf("pciConfigInfo(32 bytes) ok = true, want false")
	}
}

func TestProcNet(t *testing.T) {
	fib := []byte(`Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.2.0/24 2 0 2
        |-- 10.0.2.15
           /32 host LOCAL
     |-- 127.0.0.1
        /32 host LOCAL
     |-- 172.16.0.9
        /32 host LOCAL
Local:
     |-- 10.0.2.15
        /32 host LOCAL
     |-- 10.0.2.255
        /32 link BROADCAST
`)
	got := parseFibLocal(fib)
	want := []netip.Addr{netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("172.16.0.9")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("parseFibLocal() (-want +got):\n%s", diff)
	}
	routes := parseRoutes([]byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n" +
		"bad\tzz\n"))
	if len(routes) != 3 || !routes[0].def || routes[1].bits != 24 {
		t.Fatalf("parseRoutes() = %+v, want a default and two connected routes", routes)
	}
	for _, tt := range []struct {
		addr  string
		iface string
		bits  int
		ok    bool
	}{
		{"10.0.2.15", "eth0", 24, true}, // longest prefix wins over 10/8
		{"10.9.9.9", "eth1", 8, true},
		{"172.16.0.9", "", 0, false}, // no connected route: not attributed
	} {
		r, ok := connectedRoute(routes, netip.MustParseAddr(tt.addr))
		if ok != tt.ok || (ok && (r.iface != tt.iface || r.bits != tt.bits)) {
			t.Errorf("connectedRoute(%s) = %s/%d %v, want %s/%d %v", tt.addr, r.iface, r.bits, ok, tt.iface, tt.bits, tt.ok)
		}
	}
	v6 := parseIfInet6([]byte("00000000000000000000000000000001 01 80 10 80       lo\n" +
		"fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n" +
		"fd000000000000000000000000000002 04 40 00 82     eth0\nshort line\n"))
	if len(v6) != 1 || len(v6["eth0"]) != 1 || v6["eth0"][0].String() != "fd00::2" {
		t.Errorf("parseIfInet6() = %v, want eth0: [fd00::2] (global scope only)", v6)
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	for _, tree := range trees {
		if b, err := os.ReadFile(filepath.Join(treesDir, tree, "proc/cpuinfo")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("processor : 0\n\n\nprocessor:1\nflags: lm\n"))
	f.Add([]byte(":\n:::\nprocessor"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := parseCPUInfo(b)
		if err == nil && len(ci.procs) == 0 {
			t.Fatalf("parseCPUInfo() = no processors and no error")
		}
		for i := range ci.procs {
			_ = ci.modelName(i)
			_ = ci.flags(i)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	for _, tree := range trees {
		if b, err := os.ReadFile(filepath.Join(treesDir, tree, "proc/meminfo")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("MemTotal: 18446744073709551615 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeminfo(b)
		if err == nil {
			_ = facterSize(m["MemTotal"])
			_ = binarySize(m["MemTotal"] << 10)
		}
	})
}

func FuzzProcNet(f *testing.F) {
	f.Add([]byte("Main:\n  |-- 10.0.2.15\n     /32 host LOCAL\n"), []byte("Iface\tDestination\tGateway\nx\t0002000A\t00000000\t0\t0\t0\t0\t00FFFFFF\n"), []byte("fd000000000000000000000000000002 04 40 00 82 eth0\n"))
	f.Fuzz(func(t *testing.T, trie, route, inet6 []byte) {
		rs := parseRoutes(route)
		for _, a := range parseFibLocal(trie) {
			if !a.Is4() {
				t.Fatalf("parseFibLocal() returned non-IPv4 %v", a)
			}
			if r, ok := connectedRoute(rs, a); ok {
				_ = maskString(r.bits)
			}
		}
		_ = parseIfInet6(inet6)
	})
}

func FuzzPCIConfig(f *testing.F) {
	f.Add(make([]byte, 64))
	cfg := make([]byte, 256)
	cfg[0x06], cfg[0x34], cfg[0x40], cfg[0x41] = 0x10, 0x40, 0x01, 0x40
	f.Add(cfg)
	f.Fuzz(func(t *testing.T, b []byte) {
		caps, _, _ := pciConfigInfo(b)
		if len(caps) > 64 {
			t.Fatalf("pciConfigInfo() = %d capabilities, the walk is not bounded", len(caps))
		}
		_ = vpdSerial(b)
	})
}
