package pxelab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// OVMF firmware files of Debian's ovmf package.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// VMConfig is a QEMU node that boots from the network on a tap device.
type VMConfig struct {
	Name   string
	Accel  string // "kvm" or "tcg" (default)
	Memory int    // MiB, default 384
	CPUs   int    // default 1
	// UEFI boots OVMF with its own PXE (no NIC option ROM); otherwise
	// SeaBIOS boots QEMU's iPXE ROM of the virtio NIC.
	UEFI bool
	Tap  string // tap device in the namespace
	MAC  string
	// SMBIOS type 1 fields, e.g. "manufacturer=Acme,serial=S1".
	SMBIOS string
	// VarsFile is a writable copy of OVMF's variable store (UEFI only).
	VarsFile string
}

// Args returns QEMU's arguments for cfg.
func (cfg VMConfig) Args() []string {
	mem, cpus, accel := cfg.Memory, cfg.CPUs, cfg.Accel
	if mem == 0 {
		mem = 384
	}
	if cpus == 0 {
		cpus = 1
	}
	if accel == "" {
		accel = "tcg"
	}
	cpu := "max" // under TCG: RDRAND, so the guest's getrandom does not block
	if accel == "kvm" {
		cpu = "host"
	}
	args := []string{
		"-nographic", "-nodefaults", "-serial", "stdio",
		"-machine", "q35,accel=" + accel, "-cpu", cpu,
		"-m", fmt.Sprint(mem), "-smp", fmt.Sprint(cpus),
		"-netdev", "tap,id=n0,ifname=" + cfg.Tap + ",script=no,downscript=no",
	}
	nic := "virtio-net-pci,netdev=n0,mac=" + cfg.MAC
	if cfg.UEFI {
		nic += ",romfile="
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+cfg.VarsFile)
	}
	args = append(args, "-device", nic)
	if cfg.SMBIOS != "" {
		args = append(args, "-smbios", "type=1,"+cfg.SMBIOS)
	}
	return append(args, "-boot", "n")
}

// StartVM powers a node on inside the namespace: QEMU's serial console is
// its output, each line timed from power-on (Proc.Started). For UEFI a
// fresh copy of OVMF's variables is made in dir.
func (n *Netns) StartVM(cfg VMConfig, dir string, onLine func(Line)) (*Proc, error) {
	if cfg.UEFI && cfg.VarsFile == "" {
		b, err := os.ReadFile(OVMFVars)
		if err != nil {
			return nil, fmt.Errorf("pxelab: OVMF (Debian package ovmf): %w", err)
		}
		cfg.VarsFile = dir + "/" + cfg.Name + "-vars.fd"
		if err := os.WriteFile(cfg.VarsFile, b, 0o600); err != nil {
			return nil, err
		}
	}
	cmd := n.Command("qemu-system-x86_64", cfg.Args()...)
	return Start(cfg.Name, cmd, onLine)
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
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1").CombinedOutput()
	if s := string(out); strings.Contains(s, "Unable to mount root") || strings.Contains(s, "Kernel panic") {
		return "kvm", "a KVM probe guest booted"
	}
	return "tcg", "/dev/kvm present but a probe guest did not reach its kernel panic within 20 s"
}
