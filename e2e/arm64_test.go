package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// arm64RegisterTimeout: an arm64 machine under TCG emulates every
// instruction of a foreign architecture, and its kernel and initrd come
// over TFTP (GRUB).
const arm64RegisterTimeout = 10 * time.Minute

// TestARM64MixedFleet boots an arm64 server (QEMU virt, AAVMF, virtio-net)
// and an x86-64 one from one razor-netboot and one images directory
// holding an amd64 and an arm64 microkernel: the arm64 node gets
// shimaa64.efi (DHCP client architecture 11), Debian's signed arm64 GRUB,
// the per-node GRUB configuration and the arm64 image; the x86-64 node
// gets iPXE and the amd64 image. Each registers with facts matching its
// machine.
func TestARM64MixedFleet(t *testing.T) {
	t.Parallel()
	lab := newPXELabImages(t, "a64", []string{"images/prod.yaml", "images/prod-arm64.yaml"}, "--dhcp-range", pxeRange)
	arm := &pxeNode{name: "arm64", arch: "arm64", uefi: true, hw: vmFacts{cpus: 2, memMiB: 768, mac: "52:54:00:77:05:01",
		manufacturer: "Razor ARM Inc.", product: "ARM Box", serial: "E2E-ARM-1",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0501"}}
	x86 := &pxeNode{name: "x86", hw: vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:77:05:02",
		manufacturer: "Razor x86 Inc.", product: "x86 Box", serial: "E2E-X86-1",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0502"}}
	start := time.Now()
	armVM := lab.power(t, arm)
	x86VM := lab.power(t, x86)

	x := lab.srv.waitNode(t, x86VM, "x86-64 node registered", registerTimeout, registeredSince(x86.hw.mac, start))
	checkFacts(t, x, x86.hw)
	if got := x.Facts["architecture"]; got != "x86_64" {
		t.Errorf("x86-64 node fact architecture = %q", got)
	}
	if _, _, err := x86VM.WaitFor(context.Background(), 0, regexp.MustCompile(`Razor: booting microkernel mk for`), time.Millisecond); err != nil {
		t.Errorf("x86-64 node did not boot the amd64 image: %v", err)
	}

	a := lab.srv.waitNode(t, armVM, "arm64 node registered", arm64RegisterTimeout, registeredSince(arm.hw.mac, start))
	logBoot(t, armVM, "arm64 node", time.Now())
	checkFacts(t, a, arm.hw)
	for k, want := range map[string]string{"architecture": "aarch64", "hardwaremodel": "aarch64", "boot_mode": "uefi"} {
		if got := a.Facts[k]; got != want {
			t.Errorf("arm64 node fact %s = %q, want %q", k, got, want)
		}
	}
	if a.Facts["processor0"] == "" {
		t.Error("arm64 node has no processor0 fact")
	}
	for _, re := range []string{`NBP filename is shimaa64\.efi`, `Razor: booting microkernel prod-arm64 for`} {
		if _, _, err := armVM.WaitFor(context.Background(), 0, regexp.MustCompile(re), time.Millisecond); err != nil {
			t.Errorf("arm64 console lacks %q: %v", re, err)
		}
	}
	checkSteps(t, lab.srv.Client, a.ID, sbSteps)
	t.Logf("mixed fleet took %v; arm64 facts: architecture %s, processor0 %q, processorcount %s",
		time.Since(start).Round(time.Second), a.Facts["architecture"], a.Facts["processor0"], a.Facts["processorcount"])
	if strings.Contains(a.Facts["processor0"], "Intel") {
		t.Errorf("arm64 processor0 = %q", a.Facts["processor0"])
	}
}
