package bootscript

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/server/store"
)

func TestGRUBChain(t *testing.T) {
	got := GRUBChain("/grub/node.cfg", 15*time.Second)
	want := `# Razor: per-node boot configuration
set timeout=0
smbios --type 1 --get-uuid 8 --set razor_uuid
smbios --type 1 --get-string 7 --set razor_serial
echo "Razor: fetching the boot configuration for $net_default_mac"
source "/grub/node.cfg?mac=$net_default_mac&uuid=$razor_uuid&arch=$grub_cpu&platform=$grub_platform&serial=$razor_serial"
echo 'Razor: could not fetch the boot configuration'
echo 'Razor: rebooting in 15 s'
sleep 15
reboot
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GRUBChain mismatch (-want +got):\n%s", diff)
	}
}

func TestGRUBMicrokernel(t *testing.T) {
	v := vars
	v.Platform, v.Loader = "efi", LoaderGRUB
	got, err := GRUBMicrokernel(Microkernel{
		KernelURL: "/images/mk/vmlinuz", InitrdURL: "/images/mk/initrd", InitrdName: "initrd", Name: "mk",
		Args: []string{"console=ttyS0,115200n8 quiet", "razor.server=http://10.0.0.1:8026", "razor.token=abc", ""},
	}, v, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Razor
set timeout=0
echo 'Razor: booting microkernel mk for 52:54:00:00:00:07'
if linux '/images/mk/vmlinuz' 'console=ttyS0,115200n8' 'quiet' 'razor.server=http://10.0.0.1:8026' 'razor.token=abc'; then
  if initrd '/images/mk/initrd'; then
    boot
  fi
fi
echo 'Razor: microkernel boot failed'
echo 'Razor: rebooting in 10 s'
sleep 10
reboot
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GRUBMicrokernel mismatch (-want +got):\n%s", diff)
	}
	// An argument that could end the quote is refused, not injected.
	for _, arg := range []string{"a'; reboot; echo '", `a\`} {
		if _, err := GRUBMicrokernel(Microkernel{KernelURL: "/k", InitrdURL: "/i", Args: []string{"x", arg}}, v, time.Second); !errors.Is(err, ErrTarget) {
			t.Errorf("GRUBMicrokernel with argument %q = %v, want ErrTarget", arg, err)
		}
	}
}

func TestGRUBTarget(t *testing.T) {
	v := vars
	v.Platform, v.Loader = "efi", LoaderGRUB
	kernel := store.Target{Kind: store.TargetKernel,
		Kernel: "{{.Server}}/images/marker/vmlinuz", Initrd: "tftp://10.0.0.9/inst/initrd.gz",
		Cmdline: "console=ttyS0 razor.node={{.Node}}"}
	got, err := GRUBTarget(kernel, v, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"echo 'Razor: node node7 boots policy install'\n",
		"if linux '/images/marker/vmlinuz' 'console=ttyS0' 'razor.node=node7'; then\n",
		"  if initrd '(tftp,10.0.0.9)/inst/initrd.gz'; then\n",
		"echo 'Razor: boot of policy install failed'\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("GRUBTarget lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "initrd=") {
		t.Errorf("GRUBTarget passes initrd= (GRUB loads the initrd itself):\n%s", got)
	}
	if got, _ := GRUBTarget(store.Target{Kind: store.TargetLocal, Local: "sanboot"}, v, time.Second); !strings.Contains(got, "\nexit\n") {
		t.Errorf("local under GRUB = %q, want exit", got)
	}
	if got, _ := GRUBTarget(store.Target{Kind: store.TargetPoweroff}, v, time.Second); !strings.Contains(got, "\nhalt\n") {
		t.Errorf("poweroff under GRUB = %q, want halt", got)
	}
	for name, tt := range map[string]store.Target{
		"ipxe script":     {Kind: store.TargetIPXE, Script: "#!ipxe\nboot\n"},
		"other http host": {Kind: store.TargetKernel, Kernel: "http://mirror.example/vmlinuz"},
		"own non-image":   {Kind: store.TargetKernel, Kernel: "{{.Server}}/boot.ipxe"},
		"ipxe only":       {Kind: store.TargetKernel, Kernel: "{{.Server}}/images/m/vmlinuz", Loaders: []string{LoaderIPXE}},
		"quote in cmdline": {Kind: store.TargetKernel, Kernel: "{{.Server}}/images/m/vmlinuz",
			Cmdline: "x='{{fact \"hostname\"}}'"},
	} {
		if got, err := GRUBTarget(tt, v, time.Second); !errors.Is(err, ErrTarget) {
			t.Errorf("%s: GRUBTarget = %q, %v, want ErrTarget", name, got, err)
		}
	}
}

func TestCanRunUnder(t *testing.T) {
	const srv = "http://10.0.0.1:8026"
	own := store.Target{Kind: store.TargetKernel, Kernel: "{{.Server}}/images/m/vmlinuz"}
	for _, tt := range []struct {
		name   string
		t      store.Target
		loader string
		ok     bool
	}{
		{"kernel on our images under grub", own, LoaderGRUB, true},
		{"kernel on our images under ipxe", own, LoaderIPXE, true},
		{"foreign http kernel under ipxe", store.Target{Kind: store.TargetKernel, Kernel: "http://m.example/k"}, LoaderIPXE, true},
		{"foreign http kernel under grub", store.Target{Kind: store.TargetKernel, Kernel: "http://m.example/k"}, LoaderGRUB, false},
		{"tftp kernel under grub", store.Target{Kind: store.TargetKernel, Kernel: "tftp://10.0.0.9/k"}, LoaderGRUB, true},
		{"script under grub", store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\n"}, LoaderGRUB, false},
		{"local under grub", store.Target{Kind: store.TargetLocal}, LoaderGRUB, true},
		{"grub-only target under ipxe", store.Target{Kind: store.TargetLocal, Loaders: []string{LoaderGRUB}}, LoaderIPXE, false},
	} {
		err := CanRunUnder(tt.t, tt.loader, srv)
		if (err == nil) != tt.ok {
			t.Errorf("%s: CanRunUnder = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestValidateLoaders(t *testing.T) {
	for _, tt := range []struct {
		t  store.Target
		ok bool
	}{
		{store.Target{Kind: store.TargetLocal, Loaders: []string{"ipxe", "grub"}}, true},
		{store.Target{Kind: store.TargetLocal, Loaders: []string{"pxelinux"}}, false},
		{store.Target{Kind: store.TargetLocal, Loaders: []string{"grub", "grub"}}, false},
		{store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\n", Loaders: []string{"grub"}}, false},
		{store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\n", Loaders: []string{"ipxe"}}, true},
	} {
		if err := ValidateTarget(tt.t); (err == nil) != tt.ok {
			t.Errorf("ValidateTarget(%+v) = %v, want ok %v", tt.t, err, tt.ok)
		}
	}
}

func TestGRUBError(t *testing.T) {
	got := GRUBError("no image for 'x'\n$evil", 3*time.Second)
	if strings.Count(got, "\n") != 5 || strings.Contains(got, "$") || strings.Contains(got, "'x'") {
		t.Errorf("GRUBError = %q: the reason must stay one quoted line", got)
	}
}

// FuzzGRUBWords: whatever a value holds, a quoted word is one word that
// GRUB reads back as the value: it opens and closes one quote and holds
// no newline.
func FuzzGRUBWords(f *testing.F) {
	for _, s := range []string{"console=ttyS0", "a'b", "$x", "a b", "\n", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := grubWords([]string{s})
		if err != nil {
			return
		}
		if !strings.HasPrefix(out, "'") || !strings.HasSuffix(out, "'") || strings.Count(out, "'") != 2 || strings.ContainsAny(out, "\r\n\\") {
			t.Fatalf("grubWords(%q) = %q", s, out)
		}
		if out[1:len(out)-1] != s {
			t.Fatalf("grubWords(%q) = %q: not the value", s, out)
		}
	})
}
