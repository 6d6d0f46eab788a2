package testlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// OVMF firmware files of Debian's ovmf package: plain, and built for
// Secure Boot with Microsoft's keys enrolled and Secure Boot on in the
// variables (what servers ship with).
const (
	OVMFCode   = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars   = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	OVMFCodeSB = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	OVMFVarsMS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
	// AAVMF is OVMF for arm64 (Debian's qemu-efi-aarch64).
	AAVMFCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	AAVMFVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
)

// VMOptions describes one QEMU machine. Zero values take the defaults named
// on each field.
type VMOptions struct {
	Name string // for logs; default "vm"
	// QEMU is the emulator: "" = qemu-system-x86_64 (qemu-system-aarch64
	// for Arch arm64); qemu-system-i386 for a 32-bit machine.
	QEMU string
	// Arch "arm64" is a QEMU virt machine with AAVMF (UEFI, always) and a
	// virtio RNG; "" is an x86-64 PC (q35).
	Arch   string
	Accel  string // "kvm" or "tcg"; "" = Accel()
	Memory int    // MiB, default 512
	CPUs   int    // default 1
	// Kernel, Initrd and Append boot a kernel directly (-kernel); leave
	// Kernel empty to boot from the network (-boot n).
	Kernel, Initrd, Append string
	// UEFI boots OVMF instead of SeaBIOS.
	UEFI bool
	// SecureBoot (with UEFI) boots OVMF's Secure Boot build with
	// Microsoft's keys and Secure Boot enforced: the machine runs only
	// loaders signed by Microsoft's UEFI CA (shim), and what they verify.
	// It needs SMM, so that the guest cannot rewrite the variables.
	SecureBoot bool
	// HTTPBoot (with UEFI) turns OVMF's PXE off, so that it boots the
	// network through UEFI HTTP Boot (DHCP vendor class HTTPClient).
	HTTPBoot bool
	// NICs are the network cards, in order.
	NICs []NIC
	// SMBIOS holds -smbios arguments, e.g. "type=1,manufacturer=Acme,serial=S1".
	SMBIOS []string
	// Netns runs QEMU inside this network namespace (for taps there).
	Netns string
	// ExitOnReboot makes QEMU exit when the guest reboots (-no-reboot);
	// otherwise a reboot restarts the machine, firmware and all.
	ExitOnReboot bool
	// Nice lowers QEMU's CPU priority (nice(1) increment, 0 = none), for
	// a machine that must not starve the server a test measures.
	Nice int
	// Extra QEMU arguments.
	Extra []string
}

// NIC is one network card.
type NIC struct {
	Netdev string // a -netdev spec without id: "user,…" or "tap,ifname=tap0,script=no,downscript=no"
	MAC    string // 52:54:00:…
	Model  string // default virtio-net-pci
	// ROMFile overrides the NIC's option ROM ("" = QEMU's iPXE ROM).
	ROMFile string
	// NoROM boots without an option ROM: under UEFI, OVMF's own PXE
	// client loads iPXE over TFTP.
	NoROM bool
}

// TapNIC is a virtio NIC on the tap device tap.
func TapNIC(tap, mac string) NIC {
	return NIC{Netdev: "tap,ifname=" + tap + ",script=no,downscript=no", MAC: mac}
}

func (cfg VMOptions) secureBoot() bool { return cfg.UEFI && cfg.SecureBoot && !cfg.arm64() }

func (cfg VMOptions) arm64() bool { return cfg.Arch == "arm64" }

// uefi reports whether the machine boots UEFI firmware (arm64 always).
func (cfg VMOptions) uefi() bool { return cfg.UEFI || cfg.arm64() }

// varsTemplate is the variable store a UEFI machine starts from.
func (cfg VMOptions) varsTemplate() string {
	switch {
	case cfg.arm64():
		return AAVMFVars
	case cfg.secureBoot():
		return OVMFVarsMS
	}
	return OVMFVars
}

func (cfg VMOptions) withDefaults() VMOptions {
	if cfg.Name == "" {
		cfg.Name = "vm"
	}
	if cfg.Memory == 0 {
		cfg.Memory = 512
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.Accel == "" {
		cfg.Accel = Accel()
	}
	return cfg
}

// Args returns QEMU's arguments for cfg; varsFile is the writable copy of
// OVMF's variable store (UEFI only).
func (cfg VMOptions) Args(varsFile string) []string {
	cfg = cfg.withDefaults()
	cpu := "max" // under TCG: RDRAND, so the guest's getrandom does not block
	if cfg.Accel == "kvm" {
		cpu = "host"
	}
	machine := "q35,accel=" + cfg.Accel
	if cfg.secureBoot() {
		machine += ",smm=on"
	}
	if cfg.arm64() {
		// Under TCG, "max" with the implementation-defined pointer
		// authentication (much cheaper to emulate than QARMA) and
		// FEAT_RNG, so the guest's getrandom does not wait.
		machine, cpu = "virt,accel="+cfg.Accel, "max,pauth-impdef=on"
		if cfg.Accel == "kvm" {
			cpu = "host"
		}
	}
	args := []string{
		"-nographic", "-nodefaults", "-serial", "stdio",
		"-machine", machine, "-cpu", cpu,
		"-m", fmt.Sprint(cfg.Memory), "-smp", fmt.Sprint(cfg.CPUs),
	}
	if cfg.ExitOnReboot {
		args = append(args, "-no-reboot")
	}
	if cfg.arm64() {
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+AAVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+varsFile,
			"-device", "virtio-rng-pci")
	} else if cfg.UEFI {
		code := OVMFCode
		if cfg.secureBoot() {
			code = OVMFCodeSB
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+varsFile)
		if cfg.HTTPBoot {
			// OVMF's knobs for its PXE boot options (HTTP Boot stays).
			args = append(args,
				"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
				"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no")
		}
	}
	for _, s := range cfg.SMBIOS {
		args = append(args, "-smbios", s)
	}
	for i, n := range cfg.NICs {
		id := fmt.Sprintf("n%d", i)
		model := n.Model
		if model == "" {
			model = "virtio-net-pci"
		}
		dev := fmt.Sprintf("%s,netdev=%s,mac=%s", model, id, n.MAC)
		switch {
		case n.NoROM:
			dev += ",romfile="
		case n.ROMFile != "":
			dev += ",romfile=" + n.ROMFile
		}
		args = append(args, "-netdev", n.Netdev+",id="+id, "-device", dev)
	}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
		if cfg.Append != "" {
			args = append(args, "-append", cfg.Append)
		}
	} else {
		args = append(args, "-boot", "n")
	}
	return append(args, cfg.Extra...)
}

// Argv is the whole command that runs the machine: QEMU and Args,
// behind nice and ip netns exec when Nice and Netns ask. A program that
// starts the machine itself (a BMC simulator powering it on) runs this.
func (cfg VMOptions) Argv(varsFile string) []string {
	cfg = cfg.withDefaults()
	argv := append([]string{cfg.qemu()}, cfg.Args(varsFile)...)
	if cfg.Nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(cfg.Nice)}, argv...)
	}
	if cfg.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", cfg.Netns}, argv...)
	}
	return argv
}

// VM is a running QEMU machine: its serial console is the Proc's output,
// each line timed from power-on.
type VM struct {
	*Proc
	Config VMOptions
	vars   string // OVMF variables copy, removed by Close
}

// LaunchVM powers a machine on. For UEFI a fresh copy of OVMF's variables
// is made in dir (the temporary directory if dir is ""). onLine, if not
// nil, sees each console line in order.
func LaunchVM(cfg VMOptions, dir string, onLine func(Line)) (*VM, error) {
	cfg = cfg.withDefaults()
	v := &VM{Config: cfg}
	if cfg.uefi() {
		b, err := os.ReadFile(cfg.varsTemplate())
		if err != nil {
			return nil, fmt.Errorf("testlab: OVMF (Debian package ovmf): %w", err)
		}
		if dir == "" {
			dir = os.TempDir()
		}
		f, err := os.CreateTemp(dir, cfg.Name+"-vars-*.fd")
		if err != nil {
			return nil, fmt.Errorf("testlab: OVMF variables: %w", err)
		}
		v.vars = f.Name()
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(v.vars)
			return nil, fmt.Errorf("testlab: OVMF variables: %w", err)
		}
	}
	argv := cfg.Argv(v.vars)
	cmd := exec.Command(argv[0], argv[1:]...)
	p, err := StartProc(cfg.Name, cmd, onLine)
	if err != nil {
		if v.vars != "" {
			os.Remove(v.vars)
		}
		return nil, err
	}
	v.Proc = p
	return v, nil
}

// StartVM powers a machine on inside the namespace (see LaunchVM).
func (n *Netns) StartVM(cfg VMOptions, dir string, onLine func(Line)) (*VM, error) {
	cfg.Netns = n.Name
	return LaunchVM(cfg, dir, onLine)
}

// Console returns the console so far as text, each line with its time
// since power-on.
func (v *VM) Console() string {
	var b strings.Builder
	for _, l := range v.Lines() {
		fmt.Fprintf(&b, "[%7.3fs] %s\n", l.At.Seconds(), l.Text)
	}
	return b.String()
}

// Close kills QEMU and removes the OVMF variables copy.
func (v *VM) Close() {
	v.Kill()
	if v.vars != "" {
		os.Remove(v.vars)
	}
}

// ProbeKVM reports whether KVM runs a Linux guest here: /dev/kvm may exist
// and still hang a guest, so kernel is booted under KVM with no root file
// system and must reach its "Unable to mount root" panic within 20 s.
// It returns "kvm" or "tcg" and why.
func ProbeKVM(kernel string) (accel, why string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg", "no usable /dev/kvm"
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
		"-machine", "q35,accel=kvm", "-cpu", "host", "-m", "256",
		"-kernel", filepath.Clean(kernel), "-append", "console=ttyS0 panic=-1").CombinedOutput()
	if s := string(out); strings.Contains(s, "Unable to mount root") || strings.Contains(s, "Kernel panic") {
		return "kvm", "a KVM probe guest booted"
	}
	return "tcg", "/dev/kvm present but a probe guest did not reach its kernel panic within 20 s"
}

// qemu is the emulator to run.
func (c VMOptions) qemu() string {
	if c.QEMU == "" {
		if c.arm64() {
			return "qemu-system-aarch64"
		}
		return "qemu-system-x86_64"
	}
	return c.QEMU
}
