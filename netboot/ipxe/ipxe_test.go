package ipxe

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/iana"
)

func TestChooseLoader(t *testing.T) {
	yes := func(Firmware) bool { return true }
	no := func(Firmware) bool { return false }
	ovmf := Client{Arch: []iana.Arch{iana.EFI_X86_64}, VendorClass: "PXEClient:Arch:00007:UNDI:003016"}
	httpBoot := Client{Arch: []iana.Arch{iana.EFI_X86_64_HTTP}, VendorClass: "HTTPClient:Arch:00016:UNDI:003001"}
	ipxeEFI := Client{Arch: []iana.Arch{iana.EFI_X86_64}, VendorClass: "PXEClient:Arch:00007:UNDI:003016", UserClass: []string{"iPXE"}}
	bios := Client{Arch: []iana.Arch{iana.INTEL_X86PC}, VendorClass: "PXEClient:Arch:00000:UNDI:002001"}
	arm := Client{Arch: []iana.Arch{iana.EFI_ARM64}, VendorClass: "PXEClient:Arch:00011:UNDI:003000"}
	for _, tt := range []struct {
		name   string
		client Client
		loader Loader
		shim   func(Firmware) bool
		file   string
	}{
		{"auto with the signed chain", ovmf, "", yes, "shimx64.efi"},
		{"auto without it", ovmf, LoaderAuto, no, "snponly.efi"},
		{"auto, nothing known", ovmf, LoaderAuto, nil, "snponly.efi"},
		{"shim asked for", ovmf, LoaderShim, nil, "shimx64.efi"},
		{"ipxe asked for", ovmf, LoaderIPXE, yes, "snponly.efi"},
		{"http boot keeps ipxe", httpBoot, LoaderShim, yes, "http://10.9.0.1:8026/ipxe/snponly.efi"},
		{"ipxe gets the script", ipxeEFI, LoaderShim, yes, "http://10.9.0.1:8026/boot.ipxe"},
		{"bios keeps ipxe", bios, LoaderShim, yes, "undionly.kpxe"},
		{"arm64 gets its shim", arm, LoaderAuto, yes, "shimaa64.efi"},
		{"arm64 on ipxe", arm, LoaderIPXE, yes, "arm64/snponly.efi"},
	} {
		srv := Server{IP: netip.MustParseAddr("10.9.0.1"), HTTPPort: 8026, Loader: tt.loader, Shim: tt.shim}
		ch, err := Choose(tt.client, srv)
		if err != nil || ch.File != tt.file {
			t.Errorf("%s: Choose = %+v, %v, want file %s", tt.name, ch, err, tt.file)
		}
		if want := strings.HasPrefix(tt.file, "shim"); (ch.Loader == LoaderShim) != want {
			t.Errorf("%s: Loader = %s", tt.name, ch.Loader)
		}
	}
	for in, want := range map[string]Loader{"": LoaderAuto, "auto": LoaderAuto, " SHIM ": LoaderShim, "ipxe": LoaderIPXE} {
		if got, err := ParseLoader(in); err != nil || got != want {
			t.Errorf("ParseLoader(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParseLoader("grub"); err == nil {
		t.Error(`ParseLoader("grub") = nil error`)
	}
}

func TestChoose(t *testing.T) {
	srv := Server{IP: netip.MustParseAddr("10.9.0.1"), HTTPPort: 8026}
	tests := []struct {
		name    string
		client  Client
		server  Server
		want    Choice
		wantErr error
	}{
		{
			name:   "bios pxe rom",
			client: Client{Arch: []iana.Arch{iana.INTEL_X86PC}, VendorClass: "PXEClient:Arch:00000:UNDI:002001"},
			server: srv,
			want:   Choice{Method: TFTP, File: "undionly.kpxe", Firmware: BIOS, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:   "pxe rom without option 93 is bios",
			client: Client{VendorClass: "PXEClient"},
			server: srv,
			want:   Choice{Method: TFTP, File: "undionly.kpxe", Firmware: BIOS, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:   "uefi x86_64 (arch 7, as OVMF sends)",
			client: Client{Arch: []iana.Arch{iana.EFI_X86_64}, VendorClass: "PXEClient:Arch:00007:UNDI:003016"},
			server: srv,
			want:   Choice{Method: TFTP, File: "snponly.efi", Firmware: EFIX86_64, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:   "uefi x86_64 arch 9 with override",
			client: Client{Arch: []iana.Arch{iana.EFI_BC}, VendorClass: "PXEClient:Arch:00009"},
			server: Server{IP: srv.IP, HTTPPort: 8026, Files: Files{EFIX86_64: "ipxe.efi"}},
			want:   Choice{Method: TFTP, File: "ipxe.efi", Firmware: EFIX86_64, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:   "arm64",
			client: Client{Arch: []iana.Arch{iana.EFI_ARM64}, VendorClass: "PXEClient:Arch:00011"},
			server: srv,
			want:   Choice{Method: TFTP, File: "arm64/snponly.efi", Firmware: EFIARM64, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:   "uefi http boot",
			client: Client{Arch: []iana.Arch{iana.EFI_X86_64_HTTP}, VendorClass: "HTTPClient:Arch:00016:UNDI:003001"},
			server: srv,
			want:   Choice{Method: HTTP, File: "http://10.9.0.1:8026/ipxe/snponly.efi", Firmware: EFIX86_64, VendorClass: "HTTPClient", Loader: LoaderIPXE},
		},
		{
			name:   "ipxe user class gets the script",
			client: Client{Arch: []iana.Arch{iana.INTEL_X86PC}, UserClass: []string{"iPXE"}, VendorClass: "PXEClient:Arch:00000"},
			server: srv,
			want:   Choice{Method: HTTP, File: "http://10.9.0.1:8026/boot.ipxe", Firmware: BIOS, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:   "ipxe under uefi with a custom script path",
			client: Client{Arch: []iana.Arch{iana.EFI_X86_64}, UserClass: []string{"iPXE"}},
			server: Server{IP: srv.IP, HTTPPort: 80, ScriptPath: "razor/boot.ipxe"},
			want:   Choice{Method: HTTP, File: "http://10.9.0.1:80/razor/boot.ipxe", Firmware: EFIX86_64, VendorClass: "PXEClient", Loader: LoaderIPXE},
		},
		{
			name:    "plain dhcp client",
			client:  Client{VendorClass: "udhcp 1.36.1"},
			server:  srv,
			wantErr: ErrNotNetboot,
		},
		{
			name:    "ia32 efi has no default binary",
			client:  Client{Arch: []iana.Arch{iana.EFI_IA32}, VendorClass: "PXEClient:Arch:00006"},
			server:  srv,
			wantErr: ErrUnsupportedArch,
		},
		{
			name:    "unknown arch",
			client:  Client{Arch: []iana.Arch{iana.EFI_RISCV64}, VendorClass: "PXEClient:Arch:00027"},
			server:  srv,
			wantErr: ErrUnsupportedArch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(tt.client, tt.server)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Choose(%+v) error = %v, want %v", tt.client, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Choose(%+v) = %+v, want %+v (-want +got):\n%s", tt.client, got, tt.want, diff)
			}
		})
	}
}
