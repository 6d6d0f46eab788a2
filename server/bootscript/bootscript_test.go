package bootscript

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/server/store"
)

var vars = Vars{
	Server: "http://10.0.0.1:8026", Node: "node7", Policy: "install", MAC: "52:54:00:00:00:07",
	MACs: []string{"52:54:00:00:00:07"}, UUID: "4C4C4544-0031-3510-8036-B7C04F335331",
	Serial: "ABC", Arch: "x86_64", Platform: "pcbios",
	Facts: map[string]string{"hostname": "mk525400000007", "evil": "x\nreboot"},
}

func TestChain(t *testing.T) {
	got := Chain("http://10.0.0.1:8026/boot.ipxe", 15*time.Second)
	want := `#!ipxe
echo Razor: fetching the boot script for ${mac}
chain --autofree http://10.0.0.1:8026/boot.ipxe?mac=${mac:hexhyp}&uuid=${uuid}&serial=${serial:uristring}&arch=${buildarch}&platform=${platform} || goto error
:error
echo Razor: could not fetch the boot script
echo Razor: rebooting in 15 s
sleep 15
reboot
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Chain() mismatch (-want +got):\n%s", diff)
	}
}

func TestMicrokernel(t *testing.T) {
	mk := Microkernel{
		KernelURL: "http://10.0.0.1:8026/images/prod/vmlinuz", InitrdURL: "http://10.0.0.1:8026/images/prod/initrd",
		InitrdName: "initrd", Name: "prod",
		Args: []string{"console=ttyS0  quiet", "razor.server=http://10.0.0.1:8026", "razor.token=abc", ""},
	}
	for _, tc := range []struct {
		platform, want string
	}{
		{"pcbios", `#!ipxe
echo Razor: booting microkernel prod for 52:54:00:00:00:07
kernel http://10.0.0.1:8026/images/prod/vmlinuz console=ttyS0 quiet razor.server=http://10.0.0.1:8026 razor.token=abc || goto error
initrd http://10.0.0.1:8026/images/prod/initrd || goto error
boot || goto error
:error
echo Razor: microkernel boot failed
echo Razor: rebooting in 15 s
sleep 15
reboot
`},
		{"efi", `#!ipxe
echo Razor: booting microkernel prod for 52:54:00:00:00:07
kernel http://10.0.0.1:8026/images/prod/vmlinuz console=ttyS0 quiet razor.server=http://10.0.0.1:8026 razor.token=abc initrd=initrd || goto error
initrd http://10.0.0.1:8026/images/prod/initrd || goto error
boot || goto error
:error
echo Razor: microkernel boot failed
echo Razor: rebooting in 15 s
sleep 15
reboot
`},
	} {
		v := vars
		v.Platform = tc.platform
		got, err := MicrokernelScript(mk, v, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("MicrokernelScript(%s) mismatch (-want +got):\n%s", tc.platform, diff)
		}
	}
}

func TestTarget(t *testing.T) {
	kernel := store.Target{Kind: store.TargetKernel,
		Kernel:  "{{.Server}}/images/debian/linux",
		Initrd:  "{{.Server}}/images/debian/initrd.gz",
		Cmdline: "auto url={{.Server}}/preseed/{{.Node}} hostname={{fact \"hostname\"}} BOOTIF={{.MAC}}"}
	for _, tc := range []struct {
		name     string
		target   store.Target
		platform string
		want     string
		field    string // error field, if an error is wanted
	}{
		{"kernel bios", kernel, "pcbios", `#!ipxe
echo Razor: node node7 boots policy install
kernel http://10.0.0.1:8026/images/debian/linux auto url=http://10.0.0.1:8026/preseed/node7 hostname=mk525400000007 BOOTIF=52:54:00:00:00:07 || goto error
initrd http://10.0.0.1:8026/images/debian/initrd.gz || goto error
boot || goto error
:error
echo Razor: boot of policy install failed
echo Razor: rebooting in 15 s
sleep 15
reboot
`, ""},
		{"kernel efi", kernel, "efi", `#!ipxe
echo Razor: node node7 boots policy install
kernel http://10.0.0.1:8026/images/debian/linux auto url=http://10.0.0.1:8026/preseed/node7 hostname=mk525400000007 BOOTIF=52:54:00:00:00:07 initrd=initrd.gz || goto error
initrd http://10.0.0.1:8026/images/debian/initrd.gz || goto error
boot || goto error
:error
echo Razor: boot of policy install failed
echo Razor: rebooting in 15 s
sleep 15
reboot
`, ""},
		{"ipxe", store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\necho {{.Node}} {{fact \"evil\"}}\nsanboot {{.Server}}/iso/{{.UUID}}.iso"}, "pcbios",
			"#!ipxe\necho node7 x reboot\nsanboot http://10.0.0.1:8026/iso/4C4C4544-0031-3510-8036-B7C04F335331.iso\n", ""},
		{"local exit", store.Target{Kind: store.TargetLocal}, "pcbios", "#!ipxe\necho Razor: booting from the next boot device\nexit\n", ""},
		{"local sanboot", store.Target{Kind: store.TargetLocal, Local: "sanboot"}, "pcbios", "#!ipxe\necho Razor: booting from the local disk\nsanboot --no-describe --drive 0x80 || exit\n", ""},
		{"poweroff", store.Target{Kind: store.TargetPoweroff}, "pcbios", "#!ipxe\necho Razor: powering off\npoweroff || shell\n", ""},
		{"fact with newline in cmdline", store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Cmdline: "a={{fact \"evil\"}}"}, "pcbios", "", "cmdline"},
		{"unknown field", store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Cmdline: "{{.Nope}}"}, "pcbios", "", "cmdline"},
		{"script without shebang", store.Target{Kind: store.TargetIPXE, Script: "exit"}, "pcbios", "", "script"},
		{"unknown kind", store.Target{Kind: "pxe"}, "pcbios", "", "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vars
			v.Platform = tc.platform
			got, err := Target(tc.target, v, 15*time.Second)
			if tc.field != "" {
				var te *TargetError
				if !errors.As(err, &te) || te.Field != tc.field || !errors.Is(err, ErrTarget) {
					t.Fatalf("Target() = %q, %v; want a TargetError on %s", got, err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("Target() = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Target() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestError(t *testing.T) {
	got := Error("no image: ${evil}\nreboot", 0)
	want := "#!ipxe\n:error\necho Razor: no image: {evil} reboot\necho Razor: rebooting in 1 s\nsleep 1\nreboot\n"
	if got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestValidateTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target store.Target
		field  string
	}{
		{"kernel ok", store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Initrd: "http://x/i", Cmdline: "a={{.Node}}", Once: true}, ""},
		{"kernel template url", store.Target{Kind: store.TargetKernel, Kernel: "{{.Server}}/k"}, ""},
		{"kernel missing", store.Target{Kind: store.TargetKernel}, "kernel"},
		{"kernel not a url", store.Target{Kind: store.TargetKernel, Kernel: "/boot/vmlinuz"}, "kernel"},
		{"initrd bad scheme", store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Initrd: "ftp://x/i"}, "initrd"},
		{"kernel with script", store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Script: "#!ipxe"}, "script"},
		{"bad template", store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Cmdline: "{{.Node"}, "cmdline"},
		{"ipxe ok", store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\nexit\n"}, ""},
		{"ipxe missing", store.Target{Kind: store.TargetIPXE}, "script"},
		{"ipxe with kernel", store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\n", Kernel: "http://x/k"}, "kernel"},
		{"local ok", store.Target{Kind: store.TargetLocal, Local: "sanboot"}, ""},
		{"local bad", store.Target{Kind: store.TargetLocal, Local: "grub"}, "local"},
		{"local once", store.Target{Kind: store.TargetLocal, Once: true}, "once"},
		{"poweroff ok", store.Target{Kind: store.TargetPoweroff}, ""},
		{"poweroff with cmdline", store.Target{Kind: store.TargetPoweroff, Cmdline: "x"}, "cmdline"},
		{"no kind", store.Target{}, "kind"},
		{"bad kind", store.Target{Kind: "grub"}, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTarget(tc.target)
			if tc.field == "" {
				if err != nil {
					t.Errorf("ValidateTarget(%+v) = %v, want nil", tc.target, err)
				}
				return
			}
			var te *TargetError
			if !errors.As(err, &te) || te.Field != tc.field {
				t.Errorf("ValidateTarget(%+v) = %v, want an error on %s", tc.target, err, tc.field)
			}
		})
	}
}
