// Package spec reads and validates microkernel image specs: the YAML files
// (images/prod.yaml, images/dev.yaml) that name an image's base (kernel and
// userland source), kernel modules, firmware, agent build, variant, kernel
// command line and initrd compression.
//
// Parsing is strict: an unknown key, a value of the wrong type, a bad value
// or a file that does not exist is an error that names the file, the line
// and the key ("images/prod.yaml:12: modules.include[3]: …"). A spec may
// extend another ("extends: prod.yaml"): the parent is read first and the
// child's keys replace the parent's (a list replaces the whole list).
package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ErrSpec is wrapped by every validation and parse error.
var ErrSpec = errors.New("spec: invalid image spec")

// Variants.
const (
	VariantDev  = "dev"
	VariantProd = "prod"
)

// Defaults applied to keys the spec leaves out.
const (
	DefaultArch        = "amd64"
	DefaultVariant     = VariantProd
	DefaultBusybox     = "busybox-static"
	DefaultCompression = "gzip"
	DefaultHostname    = "razor-mk"
	// DefaultCmdline sends the console to the serial port (last console=
	// wins /dev/console) as well as the screen, and reboots 10 s after a
	// panic so that a node whose microkernel failed PXE-boots again.
	DefaultCmdline = "console=tty0 console=ttyS0,115200n8 panic=10"
	// DefaultCmdlineArm64 is DefaultCmdline for arm64, whose serial port
	// is a PL011 UART, ttyAMA0 (QEMU's virt machine, Ampere Altra); the
	// 16550-style ttyS0 of other arm64 servers is found from the ACPI
	// SPCR table, which arm64 kernels make a console of themselves.
	DefaultCmdlineArm64 = "console=tty0 console=ttyAMA0,115200n8 panic=10"
)

// DefaultModules is the driver set of the shipped specs: common server NICs
// and storage controllers, QEMU's virtio and e1000 devices, what the
// agent's extension mirror needs (squashfs, loop), the BMC's IPMI
// interface, and efivarfs, through which the agent reads the EFI
// variables (secure_boot).
var DefaultModules = []string{
	"virtio_net", "virtio_pci", "e1000", "e1000e", "igb", "ixgbe", "bnx2", "tg3",
	"mlx5_core", "ahci", "nvme", "virtio_blk", "virtio_scsi", "mpt3sas",
	"megaraid_sas", "squashfs", "loop", "virtio_rng", "ipmi_si", "ipmi_devintf",
	"efivarfs",
}

// DefaultModulesArm64 is the driver set for arm64 servers: virtio for
// QEMU's virt machine and arm64 clouds; the NICs of Ampere, Graviton,
// Grace, ThunderX and Kunpeng servers (Mellanox/NVIDIA mlx5, Broadcom
// bnxt, Intel igb/ixgbe/i40e/ice, Cavium ThunderX nicvf/nicpf, Amazon
// ena, HiSilicon hns3); NVMe, AHCI (PCI and platform) and the SAS HBAs;
// the BMC through the system interface or, as on Ampere's reference
// boards, SSIF over I2C; and what DefaultModules has for the agent.
// Debian's arm64 kernel builds some of these in (the builder records
// those as built in).
var DefaultModulesArm64 = []string{
	"virtio_net", "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_rng",
	"mlx5_core", "bnxt_en", "igb", "ixgbe", "i40e", "ice", "nicvf", "nicpf",
	"ena", "hns3", "tg3", "nvme", "ahci", "ahci_platform", "mpt3sas",
	"megaraid_sas", "squashfs", "loop", "ipmi_si", "ipmi_ssif",
	"ipmi_devintf", "efivarfs",
}

// DefaultModulesFor returns the default driver set of arch:
// DefaultModulesArm64 for arm64, else DefaultModules.
func DefaultModulesFor(arch string) []string {
	if arch == "arm64" {
		return DefaultModulesArm64
	}
	return DefaultModules
}

// DefaultCmdlineFor returns the default kernel command line of arch:
// DefaultCmdlineArm64 for arm64, else DefaultCmdline.
func DefaultCmdlineFor(arch string) string {
	if arch == "arm64" {
		return DefaultCmdlineArm64
	}
	return DefaultCmdline
}

// Spec is an image spec. Paths in it are absolute after Load (relative
// paths in a file are taken relative to that file's directory).
type Spec struct {
	// Extends names a parent spec (relative to this file) whose keys this
	// one overrides.
	Extends string `yaml:"extends" spec:"path"`
	// Name of the image ([A-Za-z0-9._-], at most 64 characters).
	Name string `yaml:"name"`
	// Variant is dev or prod (default prod); mkbuild's --variant overrides it.
	Variant string `yaml:"variant"`
	// Arch is the Debian architecture of kernel, userland and agent
	// (default amd64).
	Arch string `yaml:"arch"`
	// Base names the source of kernel and userland: "debian" or
	// "tinycore".
	Base string `yaml:"base"`
	// Debian configures the debian base.
	Debian Debian `yaml:"debian"`
	// Tinycore configures the tinycore base, and the Tiny Core mirror
	// extensions come from on any base.
	Tinycore Tinycore `yaml:"tinycore"`
	// Extensions are Tiny Core extensions, built in or mirror-only.
	Extensions Extensions `yaml:"extensions"`
	// Modules selects kernel modules.
	Modules Modules `yaml:"modules"`
	// Firmware configures where module firmware comes from.
	Firmware Firmware `yaml:"firmware"`
	// Kernel configures the kernel's command line.
	Kernel Kernel `yaml:"kernel"`
	// Initrd configures the initrd's compression.
	Initrd Initrd `yaml:"initrd"`
	// Userland configures /etc and the busybox applets.
	Userland Userland `yaml:"userland"`
	// Agent configures the mk-agent build.
	Agent Agent `yaml:"agent"`
	// SSH holds the dev variant's authorized keys.
	SSH SSH `yaml:"ssh"`
	// Files are extra files copied into the initrd.
	Files []File `yaml:"files"`

	// Path is the spec file, absolute; set by Load.
	Path string `yaml:"-"`
	// Layers are the files read, the root ancestor first and Path last,
	// with their sha256; set by Load.
	Layers []Layer `yaml:"-"`

	pos map[string]Pos
}

// Layer is one file of a spec and its parents.
type Layer struct {
	Path   string
	SHA256 string
}

// Debian configures the debian base: Debian's kernel package and
// busybox-static, obtained with apt-get download or given as .deb files.
type Debian struct {
	// Kernel is the kernel package (default linux-image-<arch>); a
	// meta-package is resolved to the versioned package it depends on.
	Kernel string `yaml:"kernel"`
	// KernelDeb is a local .deb used instead of apt.
	KernelDeb string `yaml:"kernel_deb" spec:"path"`
	// Busybox is the busybox package (default busybox-static).
	Busybox string `yaml:"busybox"`
	// BusyboxDeb is a local .deb used instead of apt.
	BusyboxDeb string `yaml:"busybox_deb" spec:"path"`
	// Firmware are firmware packages (firmware-bnx2, …) to take module
	// firmware from. They live in non-free-firmware: a package apt cannot
	// find is recorded in the manifest, not an error.
	Firmware []string `yaml:"firmware"`
	// FirmwareDebs are local firmware .deb files.
	FirmwareDebs []string `yaml:"firmware_debs" spec:"path"`
	// SecureBoot puts the signed UEFI loaders of the image's architecture
	// (SignedLoaders: shim and Debian's netboot GRUB) into the image
	// directory, beside the kernel, for nodes that boot with Secure Boot
	// on. Default: on where SignedLoaders has the architecture (amd64,
	// arm64).
	SecureBoot *bool `yaml:"secure_boot"`
	// ShimDeb is a local shim-signed .deb used instead of apt.
	ShimDeb string `yaml:"shim_deb" spec:"path"`
	// GRUBDeb is a local grub-efi-<arch>-signed .deb used instead of apt.
	GRUBDeb string `yaml:"grub_deb" spec:"path"`
}

// LoaderFile is one signed loader: a file of a Debian package, written
// into the image directory under the name UEFI clients fetch it by.
type LoaderFile struct {
	// Package is the Debian package that holds the signed file.
	Package string
	// File is its path in the package.
	File string
	// Name is its name in the image directory.
	Name string
}

// Loaders is the signed boot chain of one architecture: shim (signed by
// Microsoft's UEFI CA, with Debian's key built in), then the netboot
// GRUB that shim verifies, which verifies the kernel.
type Loaders struct {
	Arch string
	Shim LoaderFile
	// GRUB is the netboot GRUB (grubnet*.efi.signed: its built-in
	// configuration looks for grub.cfg on the network it booted from),
	// named as shim fetches its second stage: grub<arch>.efi beside
	// itself.
	GRUB LoaderFile
}

// SignedLoaders are the architectures whose signed loaders mkbuild
// fetches, one row each. The files are those of Debian 12's packages
// (shim-signed 1.51~1+deb12u1+16.1, grub-efi-<arch>-signed 2.06-13).
var SignedLoaders = []Loaders{
	{
		Arch: "amd64",
		Shim: LoaderFile{Package: "shim-signed", File: "usr/lib/shim/shimx64.efi.signed", Name: "shimx64.efi"},
		GRUB: LoaderFile{Package: "grub-efi-amd64-signed", File: "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", Name: "grubx64.efi"},
	},
	{
		// arm64 UEFI (client architectures 11 and 19): shim fetches
		// grubaa64.efi beside itself.
		Arch: "arm64",
		Shim: LoaderFile{Package: "shim-signed", File: "usr/lib/shim/shimaa64.efi.signed", Name: "shimaa64.efi"},
		GRUB: LoaderFile{Package: "grub-efi-arm64-signed", File: "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed", Name: "grubaa64.efi"},
	},
}

// LoadersFor returns the signed loaders of arch, false when there are none.
func LoadersFor(arch string) (Loaders, bool) {
	for _, l := range SignedLoaders {
		if l.Arch == arch {
			return l, true
		}
	}
	return Loaders{}, false
}

// WantLoaders reports whether the image gets the signed loaders: a
// debian image with debian.secure_boot on (its default where
// SignedLoaders has the architecture).
func (s *Spec) WantLoaders() bool {
	return s.Base == "debian" && s.Debian.SecureBoot != nil && *s.Debian.SecureBoot
}

// Modules selects kernel modules by name or glob; the selection is closed
// over the modules' dependencies.
type Modules struct {
	// Include are names ("virtio_net"), name globs ("mlx5_*") or path
	// globs and directories under /lib/modules/<kver>
	// ("kernel/drivers/net/ethernet/intel"). Default:
	// DefaultModulesFor(Arch).
	Include []string `yaml:"include"`
	// Exclude removes matches of Include (not dependencies).
	Exclude []string `yaml:"exclude"`
}

// Firmware configures module firmware sources besides the base's packages.
type Firmware struct {
	// Dirs are directories laid out like /lib/firmware to copy the
	// firmware the selected modules declare from.
	Dirs []string `yaml:"dirs" spec:"path"`
}

// Kernel configures the kernel.
type Kernel struct {
	// Cmdline is the command line the image wants (default
	// DefaultCmdlineFor(Arch)); the server appends razor.server= and the
	// node token.
	Cmdline *string `yaml:"cmdline"`
}

// Initrd configures the initrd archive.
type Initrd struct {
	// Compression is none, gzip, zstd or xz (default gzip).
	Compression string `yaml:"compression"`
	// Level is the compression level (gzip 1-9, zstd 1-22); 0 means the
	// compressor's default.
	Level int `yaml:"level"`
}

// Userland configures the image's /etc and busybox.
type Userland struct {
	// Hostname is /etc/hostname until the agent sets mk<MAC> (default razor-mk).
	Hostname string `yaml:"hostname"`
	// BusyboxExclude are applets that get no link (the code stays in the
	// busybox binary; without a link nothing starts it by name).
	BusyboxExclude []string `yaml:"busybox_exclude"`
}

// Agent configures the mk-agent binary installed as /bin/mk-agent.
type Agent struct {
	// Path is a prebuilt static mk-agent; empty builds it from Source.
	Path string `yaml:"path" spec:"path"`
	// Source is the Go module to build from; empty finds the module that
	// holds the spec (or the working directory) by its go.mod.
	Source string `yaml:"source" spec:"path"`
	// Tags are extra build tags; the dev variant adds "dev".
	Tags []string `yaml:"tags"`
}

// SSH configures the dev variant's SSH access.
type SSH struct {
	// AuthorizedKeys are authorized_keys lines.
	AuthorizedKeys []string `yaml:"authorized_keys"`
	// AuthorizedKeysFiles are files of authorized_keys lines; "~/" is the
	// home directory, and a glob ("~/.ssh/id_*.pub") may match nothing.
	AuthorizedKeysFiles []string `yaml:"authorized_keys_files" spec:"path"`
}

// File is an extra file copied into the initrd.
type File struct {
	// Src is the file on the build host.
	Src string `yaml:"src" spec:"path"`
	// Dst is the absolute path in the image.
	Dst string `yaml:"dst"`
	// Mode is the permission, octal ("0644", the default, or 0755).
	Mode Mode `yaml:"mode"`
}

// Mode is a file permission written in octal.
type Mode uint32

// UnmarshalYAML reads "0755", 0755 or 0o755.
func (m *Mode) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("mode %q is not an octal permission (0000-7777)", s)
	}
	*m = Mode(v)
	return nil
}

// Perm returns the mode as an fs.FileMode (setuid, setgid, sticky mapped).
func (m Mode) Perm() fs.FileMode {
	p := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		p |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		p |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		p |= fs.ModeSticky
	}
	return p
}

// Cmdline returns the effective kernel command line.
func (s *Spec) Cmdline() string {
	if s.Kernel.Cmdline == nil {
		return DefaultCmdlineFor(s.Arch)
	}
	return strings.Join(strings.Fields(*s.Kernel.Cmdline), " ")
}

// AgentTags returns the agent's build tags for the spec's variant, sorted.
func (s *Spec) AgentTags() []string {
	tags := slices.Clone(s.Agent.Tags)
	if s.Variant == VariantDev && !slices.Contains(tags, "dev") {
		tags = append(tags, "dev")
	}
	sort.Strings(tags)
	return slices.Compact(tags)
}

// Pos is a position in a spec file.
type Pos struct {
	File string
	Line int
}

// Pos returns where key (a dotted path, "modules.include[2]") was set; the
// zero Pos when it was not set in any file.
func (s *Spec) Pos(key string) Pos {
	for k := key; k != ""; {
		if p, ok := s.pos[k]; ok {
			return p
		}
		// Fall back to the enclosing key: a missing "debian.kernel" is
		// reported at "debian".
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	if len(s.Layers) > 0 {
		return Pos{File: s.Layers[len(s.Layers)-1].Path}
	}
	return Pos{File: s.Path}
}

// Error is one problem in a spec.
type Error struct {
	Pos Pos
	Key string
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Pos.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrSpec) true.
func (e *Error) Unwrap() error { return ErrSpec }
