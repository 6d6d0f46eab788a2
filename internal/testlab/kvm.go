package testlab

import (
	"os"
	"sync"
)

var accel struct {
	once sync.Once
	mode string
	why  string
}

// Accel returns "kvm" when /dev/kvm works for a Linux guest and "tcg"
// otherwise. RAZOR_E2E_ACCEL=kvm|tcg overrides. Call ProbeAccel with a kernel
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

// ProbeAccel boots kernel under KVM with no root file system (see
// ProbeKVM); only when it reaches its panic do later VMs use KVM. It is a
// no-op after the first call.
func ProbeAccel(kernel string) {
	accel.once.Do(func() { accel.mode, accel.why = ProbeKVM(kernel) })
}
