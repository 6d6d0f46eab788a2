// Package ipxe chooses what a network-booting client is told to load: an
// iPXE binary over TFTP for a plain PXE ROM, the same binary by HTTP URL
// for a UEFI HTTP-boot client, or the URL of the iPXE boot script for a
// client that already runs iPXE. A UEFI PXE client (x86-64 or arm64)
// whose loader is shim gets the signed chain instead: shimx64.efi or
// shimaa64.efi over TFTP, which loads Debian's signed netboot GRUB, so
// that it boots with Secure Boot on (and arm64 boots at all: Debian has
// no arm64 iPXE). The choice follows DHCP option 93 (client system
// architecture, RFC 4578 §2.1), option 77 (user class, RFC 3004) and
// option 60 (vendor class identifier, "PXEClient…"/"HTTPClient…").
package ipxe

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/iana"
)

// Errors; callers use errors.Is.
var (
	// ErrNotNetboot: the client is neither a PXE ROM, an HTTP-boot
	// firmware nor iPXE, so it gets no boot file.
	ErrNotNetboot = errors.New("ipxe: client is not network booting")
	// ErrUnsupportedArch: no boot file is known for the client's
	// architecture.
	ErrUnsupportedArch = errors.New("ipxe: no boot file for client architecture")
)

// Firmware is a client's boot environment, derived from option 93.
type Firmware string

// Firmware kinds.
const (
	BIOS       Firmware = "bios"       // x86 PC BIOS (arch 0)
	EFIX86_64  Firmware = "efi-x86_64" // UEFI x86-64 (arch 7, 9; 16 over HTTP)
	EFIIA32    Firmware = "efi-ia32"   // UEFI IA-32 (arch 6; 15 over HTTP)
	EFIARM64   Firmware = "efi-arm64"  // UEFI arm64 (arch 11; 19 over HTTP)
	Unknown    Firmware = "unknown"    // anything else
	userIPXE            = "iPXE"       // option 77 sent by iPXE
	pxeVendor           = "PXEClient"  // option 60 prefix of PXE ROMs
	httpVendor          = "HTTPClient" // option 60 prefix of UEFI HTTP boot
	scriptName          = "boot.ipxe"  // default script path
)

// Client is what a DHCP request tells about the booting machine.
type Client struct {
	// Arch holds option 93's architecture types (the first one wins);
	// empty means BIOS (PXE spec: a client without option 93 is x86 PC).
	Arch []iana.Arch
	// UserClass holds option 77's user classes ("iPXE" for iPXE).
	UserClass []string
	// VendorClass is option 60 ("PXEClient:Arch:00007:UNDI:003016",
	// "HTTPClient:Arch:00016…", or anything else).
	VendorClass string
	// Loader is LoaderShim for the signed chain, else LoaderIPXE.
	Loader Loader
}

// IsPXE reports whether the client announced itself as a PXE ROM.
func (c Client) IsPXE() bool { return strings.HasPrefix(c.VendorClass, pxeVendor) }

// IsHTTPBoot reports whether the client is a UEFI HTTP-boot firmware.
func (c Client) IsHTTPBoot() bool { return strings.HasPrefix(c.VendorClass, httpVendor) }

// IsIPXE reports whether the client is already running iPXE (option 77).
func (c Client) IsIPXE() bool {
	for _, u := range c.UserClass {
		if u == userIPXE {
			return true
		}
	}
	return false
}

// Netboot reports whether the client is booting from the network at all.
func (c Client) Netboot() bool { return c.IsPXE() || c.IsHTTPBoot() || c.IsIPXE() }

// Firmware classifies the client's first architecture type.
func (c Client) Firmware() Firmware {
	if len(c.Arch) == 0 {
		return BIOS
	}
	switch c.Arch[0] {
	case iana.INTEL_X86PC, iana.INTEL_X86PC_HTTP:
		return BIOS
	case iana.EFI_X86_64, iana.EFI_BC, iana.EFI_X86_64_HTTP:
		return EFIX86_64
	case iana.EFI_IA32, iana.EFI_X86_HTTP:
		return EFIIA32
	case iana.EFI_ARM64, iana.EFI_ARM64_HTTP:
		return EFIARM64
	}
	return Unknown
}

// Arch is the firmware's architecture in Debian's names (amd64, i386,
// arm64), the names image manifests use; "" for Unknown.
func (f Firmware) Arch() string {
	switch f {
	case BIOS, EFIX86_64:
		return "amd64"
	case EFIIA32:
		return "i386"
	case EFIARM64:
		return "arm64"
	}
	return ""
}

// Files names the iPXE binary for each firmware, relative to the iPXE
// directory. A zero field takes its default (DefaultFiles).
type Files struct {
	BIOS      string // default "undionly.kpxe"
	EFIX86_64 string // default "snponly.efi"
	EFIIA32   string // default "" (none: Debian ships no 32-bit EFI iPXE)
	EFIARM64  string // default "arm64/snponly.efi"
}

// DefaultFiles are the binaries Debian's ipxe package installs in
// /usr/lib/ipxe (arm64 has to be added by the operator). snponly.efi uses
// the firmware's own network driver for the NIC it booted from, which
// works on any NIC with a UEFI driver.
var DefaultFiles = Files{
	BIOS:      "undionly.kpxe",
	EFIX86_64: "snponly.efi",
	EFIARM64:  "arm64/snponly.efi",
}

// WithDefaults fills zero fields from DefaultFiles.
func (f Files) WithDefaults() Files {
	if f.BIOS == "" {
		f.BIOS = DefaultFiles.BIOS
	}
	if f.EFIX86_64 == "" {
		f.EFIX86_64 = DefaultFiles.EFIX86_64
	}
	if f.EFIIA32 == "" {
		f.EFIIA32 = DefaultFiles.EFIIA32
	}
	if f.EFIARM64 == "" {
		f.EFIARM64 = DefaultFiles.EFIARM64
	}
	return f
}

// For returns the binary for a firmware, "" if none.
func (f Files) For(fw Firmware) string {
	f = f.WithDefaults()
	switch fw {
	case BIOS:
		return f.BIOS
	case EFIX86_64:
		return f.EFIX86_64
	case EFIIA32:
		return f.EFIIA32
	case EFIARM64:
		return f.EFIARM64
	}
	return ""
}

// Loader is the first-stage loader a UEFI client gets.
type Loader string

// Loaders.
const (
	// LoaderAuto: shim when the current image carries the signed chain
	// (Server.Shim), else iPXE. The default.
	LoaderAuto Loader = "auto"
	// LoaderIPXE: iPXE (unsigned: Secure Boot must be off).
	LoaderIPXE Loader = "ipxe"
	// LoaderShim: shim → Debian's signed GRUB → the signed kernel; boots
	// with Secure Boot on or off. PXE over TFTP only: Debian's signed
	// GRUB cannot load over HTTP, so HTTP-boot clients keep iPXE.
	LoaderShim Loader = "shim"
)

// ParseLoader reads a loader setting; "" is LoaderAuto.
func ParseLoader(s string) (Loader, error) {
	switch l := Loader(strings.ToLower(strings.TrimSpace(s))); l {
	case "", LoaderAuto:
		return LoaderAuto, nil
	case LoaderIPXE, LoaderShim:
		return l, nil
	}
	return "", fmt.Errorf("ipxe: loader %q: want auto, ipxe or shim", s)
}

// ShimFile is the first-stage file of the signed chain per firmware
// (shim fetches its second stage, grubx64.efi, beside itself).
var ShimFile = map[Firmware]string{EFIX86_64: "shimx64.efi", EFIARM64: "shimaa64.efi"}

// Server says where the boot files are served.
type Server struct {
	// IP is the address clients reach the server at (siaddr, URLs).
	IP netip.Addr
	// HTTPPort is the HTTP port of the image, binary and script service.
	HTTPPort int
	// ScriptPath is the iPXE script path, default "/boot.ipxe".
	ScriptPath string
	// BinaryPath is the HTTP path prefix of the iPXE binaries for
	// HTTP-boot clients, default "/ipxe/".
	BinaryPath string
	// Files overrides the binary names.
	Files Files
	// Loader is the UEFI PXE clients' first stage; "" is LoaderAuto.
	Loader Loader
	// Shim reports whether the signed chain can be served to a client
	// of a firmware (an image of its architecture carries shim and
	// GRUB); LoaderAuto picks shim only then. nil means no.
	Shim func(Firmware) bool
}

// useShim decides the signed chain for a client of firmware fw.
func (s Server) useShim(fw Firmware) bool {
	if ShimFile[fw] == "" {
		return false
	}
	switch s.Loader {
	case LoaderShim:
		return true
	case LoaderIPXE:
		return false
	}
	return s.Shim != nil && s.Shim(fw)
}

// Method is how the chosen file is fetched.
type Method string

// Methods.
const (
	TFTP Method = "tftp" // File is a TFTP file name, siaddr is the server
	HTTP Method = "http" // File is a full http:// URL
)

// Choice is the boot file a client is given.
type Choice struct {
	Method   Method
	File     string   // the DHCP "file" field: TFTP name or URL
	Firmware Firmware // for logs
	// VendorClass is what the reply's option 60 must say: "HTTPClient"
	// for HTTP boot (UEFI requires it), "PXEClient" for PXE and iPXE.
	VendorClass string
	// Loader is LoaderShim for the signed chain, else LoaderIPXE.
	Loader Loader
}

func (s Server) base() string {
	return "http://" + netip.AddrPortFrom(s.IP, uint16(s.HTTPPort)).String()
}

// ScriptURL is the iPXE script URL, http://IP:PORT/boot.ipxe by default.
func (s Server) ScriptURL() string {
	p := s.ScriptPath
	if p == "" {
		p = "/" + scriptName
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return s.base() + p
}

// Choose picks the boot file for a client. iPXE (option 77 "iPXE") gets
// the script URL whatever its firmware, so there is no chain-load loop; an
// HTTP-boot client gets the binary by URL; a PXE ROM gets the binary by
// TFTP name, or shim when the loader says so (Server.Loader, Shim).
func Choose(c Client, s Server) (Choice, error) {
	fw := c.Firmware()
	switch {
	case c.IsIPXE():
		return Choice{Method: HTTP, File: s.ScriptURL(), Firmware: fw, VendorClass: pxeVendor, Loader: LoaderIPXE}, nil
	case !c.IsPXE() && !c.IsHTTPBoot():
		return Choice{}, ErrNotNetboot
	}
	if c.IsPXE() && !c.IsHTTPBoot() && s.useShim(fw) {
		return Choice{Method: TFTP, File: ShimFile[fw], Firmware: fw, VendorClass: pxeVendor, Loader: LoaderShim}, nil
	}
	file := s.Files.For(fw)
	if file == "" {
		arch := "none"
		if len(c.Arch) > 0 {
			arch = strconv.Itoa(int(c.Arch[0]))
		}
		return Choice{}, fmt.Errorf("%w: arch %s (%s)", ErrUnsupportedArch, arch, fw)
	}
	if c.IsHTTPBoot() {
		bp := s.BinaryPath
		if bp == "" {
			bp = "/ipxe/"
		}
		return Choice{Method: HTTP, File: s.base() + path.Join("/", bp, file), Firmware: fw, VendorClass: httpVendor, Loader: LoaderIPXE}, nil
	}
	return Choice{Method: TFTP, File: file, Firmware: fw, VendorClass: pxeVendor, Loader: LoaderIPXE}, nil
}
