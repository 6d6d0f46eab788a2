package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/mkimage"
)

type reportInput struct {
	img          mkimage.Image
	arm          mkimage.Image // zero without ARM64
	runs         int
	cpus         int
	nodes        int // machines powered on at once per boot
	accels       []string
	kvm          bool
	kvmWhy       string
	results      map[combo][]result
	load0, load1 string
	took         time.Duration
}

// median returns the median of the successful runs' durations picked by
// f, and how many runs succeeded.
func median(rs []result, f func(result) time.Duration) (time.Duration, int) {
	var ds []time.Duration
	for _, r := range rs {
		if d := f(r); r.err == nil && d != unknown {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2], n
	}
	return (ds[n/2-1] + ds[n/2]) / 2, n
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// report prints the markdown section.
func report(w io.Writer, in reportInput) {
	if in.nodes > 1 {
		reportMany(w, in)
		return
	}
	fmt.Fprintln(w, "## Network boot: power-on to registered (QEMU nodes)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Command: `scripts/bench.sh 60-boot` (internal/bench/boot). One QEMU node (%d vCPU, 512 MiB, virtio-net)\n", in.cpus)
	fmt.Fprintln(w, "on a tap in a fresh network namespace per boot, booting the prod microkernel from the network;")
	fmt.Fprintln(w, "BIOS is SeaBIOS with QEMU's iPXE NIC ROM, UEFI is OVMF's own PXE (no NIC ROM) chaining iPXE")
	fmt.Fprintln(w, "(`--uefi-loader ipxe`), UEFI-SB is OVMF's Secure Boot build with Microsoft's keys enrolled and")
	fmt.Fprintln(w, "Secure Boot enforced, booting shim → Debian's signed GRUB → the signed kernel, all over TFTP")
	fmt.Fprintln(w, "(razor-netboot's default `uefi_loader: auto`; dnsmasq with the same shim and GRUB and a static")
	fmt.Fprintln(w, "`grub.cfg`). ARM64 is QEMU's virt machine (`qemu-system-aarch64`, AAVMF, virtio-net) booting the arm64")
	fmt.Fprintln(w, "microkernel the same way through `shimaa64.efi` and Debian's signed arm64 GRUB, emulated")
	fmt.Fprintln(w, "instruction by instruction under TCG on this x86-64 host. GRUB prints nothing when the kernel")
	fmt.Fprintln(w, "starts, so UEFI-SB and ARM64 have no *kernel* time.")
	fmt.Fprintln(w, "**razor-netboot**: its full DHCP (option 60 `PXEClient` fast path, router advertisements), TFTP")
	fmt.Fprintln(w, "for `snponly.efi`, HTTP for the script, kernel and initrd. **dnsmasq DHCP+TFTP**: the usual")
	fmt.Fprintln(w, "set-up, dnsmasq alone hands out `undionly.kpxe`/`ipxe.efi` and a static `boot.ipxe` that loads")
	fmt.Fprintln(w, "the same kernel and initrd over TFTP, with `razor.server=` pointing at a razor-netboot")
	fmt.Fprintln(w, "(`--dhcp off --tftp off`) that takes the checkins. *Kernel*: power-on to iPXE's line for the")
	fmt.Fprintln(w, "loaded initrd (the kernel starts next), from the serial console; *registered*: power-on to")
	fmt.Fprintln(w, "razor-netboot's `node registered` log line. The server runs with `--checkin-skew 0`, which it")
	fmt.Fprintln(w, "passes on as `razor.checkin_skew=0`: no random first-checkin delay (the default, 5, adds 0–5 s,")
	fmt.Fprintf(w, "2.5 s on average, to both set-ups). Median of %d boots each, rounds interleaved; every run listed.\n", in.runs)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Image: %s (%s, kernel %s, initrd %.1f MB). Load average (1 min) %s at the start, %s at the end; %s in all.\n",
		in.img.Name, in.img.Manifest.Variant, in.img.Manifest.KernelVersion, float64(in.img.Manifest.Initrd.Size)/1e6,
		in.load0, in.load1, in.took.Round(time.Second))
	if in.arm.Manifest != nil {
		fmt.Fprintf(w, "ARM64 image: %s (kernel %s, kernel file %.1f MB, initrd %.1f MB).\n", in.arm.Name, in.arm.Manifest.KernelVersion,
			float64(in.arm.Manifest.Kernel.Size)/1e6, float64(in.arm.Manifest.Initrd.Size)/1e6)
	}
	if !in.kvm {
		fmt.Fprintf(w, "KVM: not measured here (%s); TCG only.\n", in.kvmWhy)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| accel | firmware | set-up | power-on → kernel | power-on → registered | registered, each run | ratio (dnsmasq / razor-netboot) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, accel := range in.accels {
		for _, fw := range []string{fwBIOS, fwUEFI, fwUEFISB, fwARM64} {
			if len(in.results[combo{accel, fw, setupRazor}])+len(in.results[combo{accel, fw, setupDnsmasq}]) == 0 {
				continue
			}
			rz, rzN := median(in.results[combo{accel, fw, setupRazor}], func(r result) time.Duration { return r.registered })
			for _, setup := range []string{setupRazor, setupDnsmasq} {
				rs := in.results[combo{accel, fw, setup}]
				if len(rs) == 0 {
					continue // a set-up left out with -setups
				}
				k, kn := median(rs, func(r result) time.Duration { return r.kernel })
				reg, n := median(rs, func(r result) time.Duration { return r.registered })
				var each []string
				for _, r := range rs {
					if r.err != nil {
						each = append(each, "failed")
					} else {
						each = append(each, fmt.Sprintf("%.1f", r.registered.Seconds()))
					}
				}
				kernel, regd := "—", "—"
				if n > 0 {
					regd = secs(reg)
				}
				if kn > 0 {
					kernel = secs(k)
				}
				ratio := ""
				if setup == setupDnsmasq {
					kz, _ := median(in.results[combo{accel, fw, setupRazor}], func(r result) time.Duration { return r.kernel })
					var parts []string
					if kn > 0 && kz > 0 {
						parts = append(parts, fmt.Sprintf("%.2fx to kernel", k.Seconds()/kz.Seconds()))
					}
					if n > 0 && rzN > 0 && rz > 0 {
						parts = append(parts, fmt.Sprintf("%.2fx to registered", reg.Seconds()/rz.Seconds()))
					}
					ratio = strings.Join(parts, ", ")
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", strings.ToUpper(accel), fw, setup, kernel, regd, strings.Join(each, ", "), ratio)
			}
		}
	}
	fmt.Fprintln(w)
	var failed []string
	for c, rs := range in.results {
		for i, r := range rs {
			if r.err != nil {
				msg := r.err.Error()
				if i := strings.IndexByte(msg, '\n'); i >= 0 {
					msg = msg[:i]
				}
				failed = append(failed, fmt.Sprintf("%s %s %s run %d: %s", c.accel, c.firmware, c.setup, i+1, msg))
			}
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		fmt.Fprintln(w, "Failed runs (left out of the medians):")
		fmt.Fprintln(w)
		for _, f := range failed {
			fmt.Fprintln(w, "- "+f)
		}
		fmt.Fprintln(w)
	}
}

// reportMany prints the section for several nodes powered on at once:
// per set-up, when the last node registered (median over the runs), and
// every node's time in every run.
func reportMany(w io.Writer, in reportInput) {
	fmt.Fprintf(w, "## Network boot: %d QEMU nodes powered on at once\n\n", in.nodes)
	fmt.Fprintf(w, "Command: `scripts/bench.sh 62-boot-4` (internal/bench/boot `-nodes %d`). %d QEMU nodes (%d vCPU, 512 MiB,\n", in.nodes, in.nodes, in.cpus)
	fmt.Fprintln(w, "virtio-net, each on its own tap of one bridge) power on together in a fresh network namespace and")
	fmt.Fprintln(w, "network-boot the prod microkernel from one server: razor-netboot at its defaults (full DHCP, TFTP,")
	fmt.Fprintln(w, "HTTP; `--checkin-skew 0`), or dnsmasq DHCP+TFTP with a static iPXE script loading over TFTP and")
	fmt.Fprintln(w, "razor-netboot taking the checkins, as in 60-boot. BIOS: SeaBIOS with QEMU's iPXE ROM; UEFI: OVMF's")
	fmt.Fprintf(w, "PXE then iPXE. *All registered*: power-on to the last node's `node registered`; median of %d runs.\n", in.runs)
	fmt.Fprintf(w, "Under TCG on this machine the %d nodes share its cores with the server: the figure is the real\n", in.nodes)
	fmt.Fprintln(w, "firmware path under contention, not a node's speed.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Load average (1 min) %s at the start, %s at the end; %s in all.\n\n", in.load0, in.load1, in.took.Round(time.Second))
	fmt.Fprintln(w, "| accel | firmware | set-up | all registered | each node, each run (s) | ratio (dnsmasq / razor-netboot) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, accel := range in.accels {
		for _, fw := range []string{fwBIOS, fwUEFI, fwUEFISB, fwARM64} {
			rz, rzN := median(in.results[combo{accel, fw, setupRazor}], func(r result) time.Duration { return r.registered })
			for _, setup := range []string{setupRazor, setupDnsmasq} {
				rs := in.results[combo{accel, fw, setup}]
				if len(rs) == 0 {
					continue
				}
				reg, n := median(rs, func(r result) time.Duration { return r.registered })
				var runs []string
				for _, r := range rs {
					if r.err != nil {
						runs = append(runs, "failed")
						continue
					}
					var each []string
					for _, d := range r.each {
						each = append(each, fmt.Sprintf("%.1f", d.Seconds()))
					}
					runs = append(runs, strings.Join(each, ", "))
				}
				all := "—"
				if n > 0 {
					all = secs(reg)
				}
				ratio := ""
				if setup == setupDnsmasq && n > 0 && rzN > 0 && rz > 0 {
					ratio = fmt.Sprintf("%.2fx", reg.Seconds()/rz.Seconds())
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", strings.ToUpper(accel), fw, setup, all, strings.Join(runs, "; "), ratio)
			}
		}
	}
	fmt.Fprintln(w)
}
