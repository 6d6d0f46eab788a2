package harness

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

var accel struct {
	once sync.Once
	mode string
	why  string
}

// Accel returns "kvm" when /dev/kvm works for a Linux guest and "tcg"
// otherwise. RAZOR_E2E_ACCEL=kvm|tcg overrides. Call ProbeKVM with a kernel
// first to test KVM for real: /dev/kvm may exist and still hang a guest
// (seen right after "Probing EDD"); without a probe, Accel trusts only the
// override and falls back to TCG.
func Accel() string {
	if a := os.Getenv("RAZOR_E2E_ACCEL"); a == "kvm" || a == "tcg" {
		return a
	}
	accel.once.Do(func() { accel.mode, accel.why = "tcg", "KVM not probed" })
	return accel.mode
}

// AccelReason says why Accel chose what it did.
func AccelReason() string {
	Accel()
	return accel.why
}

// ProbeKVM boots kernel under KVM with no root file system and waits up to
// 20 s for it to reach its "VFS: Unable to mount root" panic; only then is
// KVM used by later VMs. It is a no-op after the first call.
func ProbeKVM(kernel string) {
	accel.once.Do(func() {
		accel.mode, accel.why = "tcg", "no /dev/kvm"
		f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
		if err != nil {
			return
		}
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, "qemu-system-x86_64",
			"-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
			"-machine", "q35,accel=kvm", "-cpu", "host", "-m", "256",
			"-kernel", kernel, "-append", "console=ttyS0 panic=-1").CombinedOutput()
		if strings.Contains(string(out), "Unable to mount root") || strings.Contains(string(out), "Kernel panic") {
			accel.mode, accel.why = "kvm", "KVM probe booted a kernel"
			return
		}
		accel.why = "/dev/kvm present but a probe guest did not reach its kernel panic within 20 s"
	})
}
