package testlab

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       Event
		ok         bool
	}{
		{
			name: "dhcp offer",
			line: `{"time":"2026-11-26T00:18:52.635Z","level":"INFO","msg":"dhcp: offer","svc":"dhcp","mac":"52:54:00:77:00:01","ip":"10.77.0.100","file":"http://10.77.0.1:8026/boot.ipxe"}`,
			want: Event{Time: time.Date(2026, 11, 26, 0, 18, 52, 635e6, time.UTC), Level: "INFO", Msg: "dhcp: offer",
				Attrs: map[string]string{"svc": "dhcp", "mac": "52:54:00:77:00:01", "ip": "10.77.0.100", "file": "http://10.77.0.1:8026/boot.ipxe"}},
			ok: true,
		},
		{
			name: "numbers and lists",
			line: `{"time":"2026-11-26T00:18:52Z","level":"INFO","msg":"node registered","facts":106,"tags":["cpus_1","kvm_vm"],"ratio":0.5,"x":null,"o":{"a":1}}`,
			want: Event{Time: time.Date(2026, 11, 26, 0, 18, 52, 0, time.UTC), Level: "INFO", Msg: "node registered",
				Attrs: map[string]string{"facts": "106", "tags": "cpus_1 kvm_vm", "ratio": "0.5", "x": "", "o": `{"a":1}`}},
			ok: true,
		},
		{name: "text log", line: `time=2026-11-26T00:18:52Z level=INFO msg=x`},
		{name: "bad json", line: `{"time":`},
		{name: "no time", line: `{"msg":"x"}`},
		{name: "bad time", line: `{"time":"yesterday","msg":"x"}`},
		{name: "no msg", line: `{"time":"2026-11-26T00:18:52Z"}`},
		{name: "empty", line: ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseEvent(tc.line)
			if ok != tc.ok {
				t.Fatalf("ParseEvent(%q) ok = %v, want %v", tc.line, ok, tc.ok)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseEvent(%q) mismatch (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		`{"time":"2026-11-26T00:18:52.635Z","level":"INFO","msg":"dhcp: offer","mac":"52:54:00:77:00:01"}`,
		`{"time":"2026-11-26T00:18:52Z","msg":"x","tags":["a",1,null,{"b":[2]}]}`,
		`{"time":1,"msg":2}`, `[]`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := ParseEvent(line)
		if ok && (e.Time.IsZero() || e.Msg == "" || e.Attrs == nil) {
			t.Errorf("ParseEvent(%q) = %+v, true: want a time, a message and attributes", line, e)
		}
		NewNodeFilter("52:54:00:77:00:01").Match(e)
	})
}

func TestNodeFilter(t *testing.T) {
	ev := func(msg string, kv ...string) Event {
		e := Event{Msg: msg, Attrs: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Attrs[kv[i]] = kv[i+1]
		}
		return e
	}
	f := NewNodeFilter("52:54:00:77:00:01")
	steps := []struct {
		e    Event
		want bool
	}{
		{ev("httpimg: serving", "remote", "10.77.0.100:2305"), false}, // address not known yet
		{ev("dhcp: offer", "mac", "52:54:00:77:00:02", "ip", "10.77.0.101"), false},
		{ev("dhcp: offer", "mac", "52:54:00:77:00:01", "ip", "10.77.0.100"), true},
		{ev("tftp: file sent", "ip", "10.77.0.100:1234", "file", "undionly.kpxe"), true},
		{ev("tftp: file sent", "ip", "10.77.0.101:1234"), false},
		{ev("boot script served", "mac", "525400770001"), true},
		{ev("httpimg: serving", "remote", "10.77.0.100:2305"), true},
		{ev("checkin", "mac", "525400770009_525400770001"), true},
		{ev("checkin", "mac", "525400770009"), false},
		{ev("node registered", "mac", "525400770001", "node", "node1"), true},
		{ev("store loaded"), false},
	}
	for i, s := range steps {
		if got := f.Match(s.e); got != s.want {
			t.Errorf("step %d: Match(%s %v) = %v, want %v", i, s.e.Msg, s.e.Attrs, got, s.want)
		}
	}
	if f.IP() != "10.77.0.100" {
		t.Errorf("IP() = %q, want 10.77.0.100", f.IP())
	}
}

func TestVMOptionsArgs(t *testing.T) {
	bios := VMOptions{Name: "n", Accel: "tcg", Memory: 384, NICs: []NIC{TapNIC("tap0", "52:54:00:00:00:01")}, SMBIOS: []string{"type=1,serial=S1"}}
	want := []string{"-nographic", "-nodefaults", "-serial", "stdio", "-machine", "q35,accel=tcg", "-cpu", "max",
		"-m", "384", "-smp", "1", "-smbios", "type=1,serial=S1",
		"-netdev", "tap,ifname=tap0,script=no,downscript=no,id=n0",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01", "-boot", "n"}
	if diff := cmp.Diff(want, bios.Args("")); diff != "" {
		t.Errorf("BIOS Args() mismatch (-want +got):\n%s", diff)
	}
	nic := TapNIC("tap1", "52:54:00:00:00:02")
	nic.NoROM = true
	uefi := VMOptions{Name: "n", Accel: "kvm", CPUs: 2, UEFI: true, NICs: []NIC{nic}, ExitOnReboot: true}
	want = []string{"-nographic", "-nodefaults", "-serial", "stdio", "-machine", "q35,accel=kvm", "-cpu", "host",
		"-m", "512", "-smp", "2", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=/tmp/v.fd",
		"-netdev", "tap,ifname=tap1,script=no,downscript=no,id=n0",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,romfile=", "-boot", "n"}
	if diff := cmp.Diff(want, uefi.Args("/tmp/v.fd")); diff != "" {
		t.Errorf("UEFI Args() mismatch (-want +got):\n%s", diff)
	}
	sb := VMOptions{Name: "n", Accel: "tcg", UEFI: true, SecureBoot: true, HTTPBoot: true, NICs: []NIC{nic}}
	want = []string{"-nographic", "-nodefaults", "-serial", "stdio", "-machine", "q35,accel=tcg,smm=on", "-cpu", "max",
		"-m", "512", "-smp", "1",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCodeSB,
		"-drive", "if=pflash,format=raw,unit=1,file=/tmp/v.fd",
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
		"-netdev", "tap,ifname=tap1,script=no,downscript=no,id=n0",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,romfile=", "-boot", "n"}
	if diff := cmp.Diff(want, sb.Args("/tmp/v.fd")); diff != "" {
		t.Errorf("Secure Boot Args() mismatch (-want +got):\n%s", diff)
	}
	if sb.varsTemplate() != OVMFVarsMS || uefi.varsTemplate() != OVMFVars {
		t.Errorf("variable stores: Secure Boot %s, plain %s", sb.varsTemplate(), uefi.varsTemplate())
	}
	arm := VMOptions{Name: "a", Arch: "arm64", Accel: "tcg", NICs: []NIC{nic}}
	want = []string{"-nographic", "-nodefaults", "-serial", "stdio", "-machine", "virt,accel=tcg", "-cpu", "max,pauth-impdef=on",
		"-m", "512", "-smp", "1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + AAVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=/tmp/v.fd", "-device", "virtio-rng-pci",
		"-netdev", "tap,ifname=tap1,script=no,downscript=no,id=n0",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,romfile=", "-boot", "n"}
	if diff := cmp.Diff(want, arm.Args("/tmp/v.fd")); diff != "" {
		t.Errorf("arm64 Args() mismatch (-want +got):\n%s", diff)
	}
	if arm.qemu() != "qemu-system-aarch64" || arm.varsTemplate() != AAVMFVars || !arm.uefi() {
		t.Errorf("arm64: qemu %s, vars %s, uefi %v", arm.qemu(), arm.varsTemplate(), arm.uefi())
	}
	direct := VMOptions{Accel: "tcg", Kernel: "/k", Initrd: "/i", Append: "console=ttyS0", Extra: []string{"-x"}}
	if got := direct.Args(""); !slices.Equal(got[len(got)-7:], []string{"-kernel", "/k", "-initrd", "/i", "-append", "console=ttyS0", "-x"}) {
		t.Errorf("direct-kernel Args() = %q", got)
	}
}
