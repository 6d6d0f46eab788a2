// Command boot is the network-boot benchmark of scripts/bench/60-boot.sh:
// it times QEMU nodes from power-on to the kernel's start and to their
// registration with razor-netboot, for BIOS (SeaBIOS with QEMU's iPXE NIC
// ROM), UEFI (OVMF's PXE, then iPXE) and UEFI with Secure Boot enforced
// (OVMF's Secure Boot build with Microsoft's keys: PXE, then shim and
// Debian's signed GRUB) nodes, each delivered two ways in the same run:
//
//   - razor-netboot: its own full DHCP (with the iPXE fast path and
//     router advertisements), TFTP for the iPXE binary, HTTP for the
//     script, kernel and initrd;
//   - dnsmasq: the usual set-up, dnsmasq's DHCP and TFTP alone handing
//     out undionly.kpxe or ipxe.efi, then a static iPXE script that loads
//     the same kernel and initrd over TFTP with razor.server= pointing at
//     razor-netboot (--dhcp off --tftp off), which takes the checkins; for
//     Secure Boot, shimx64.efi and the image's GRUB with a static grub.cfg
//     loading them over TFTP (the Debian netboot way).
//
// Each boot gets a fresh namespace, server and data directory; rounds go
// through every combination in turn so that a change of the machine's
// load touches them alike. It prints a markdown section on stdout and
// progress on stderr.
//
//	boot -images-dir DIR -razor-netboot PATH [-runs 3] [-timeout 4m]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/mkimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "boot:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	imagesDir := fs.String("images-dir", "", "images directory holding the microkernel (one subdirectory with manifest.json)")
	server := fs.String("razor-netboot", "bin/razor-netboot", "razor-netboot binary")
	runs := fs.Int("runs", 3, "boots per combination (the median is reported)")
	timeout := fs.Duration("timeout", 4*time.Minute, "most one boot may take to register")
	ipxeDir := fs.String("ipxe-dir", "/usr/lib/ipxe", "iPXE binaries for the dnsmasq set-up")
	accelFlag := fs.String("accel", "auto", "auto (TCG, plus KVM when it boots a guest here), tcg or kvm")
	fwFlag := fs.String("firmware", fwBIOS+","+fwUEFI+","+fwUEFISB+","+fwARM64, "firmwares to boot, comma-separated: BIOS, UEFI, UEFI-SB (Secure Boot), ARM64 (needs an arm64 image too)")
	cpus := fs.Int("cpus", 1, "vCPUs per node")
	nodes := fs.Int("nodes", 1, "nodes powered on at once per boot (registered = the last of them)")
	setupFlag := fs.String("setups", setupRazor+","+setupDnsmasq, "set-ups to compare, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *imagesDir == "" {
		return errors.New("-images-dir is required")
	}
	firmwares, err := subset(*fwFlag, fwBIOS, fwUEFI, fwUEFISB, fwARM64)
	if err != nil {
		return fmt.Errorf("-firmware: %w", err)
	}
	setups, err := subset(*setupFlag, setupRazor, setupDnsmasq)
	if err != nil {
		return fmt.Errorf("-setups: %w", err)
	}
	if *cpus < 1 || *cpus > 8 {
		return fmt.Errorf("-cpus %d: want 1 to 8", *cpus)
	}
	if *nodes < 1 || *nodes > 8 {
		return fmt.Errorf("-nodes %d: want 1 to 8", *nodes)
	}
	if *runs < 1 || *runs > 20 {
		return fmt.Errorf("-runs %d: want 1 to 20", *runs)
	}
	if err := testlab.Check("qemu-system-x86_64", "dnsmasq"); err != nil {
		return err
	}
	srv, err := filepath.Abs(*server)
	if err != nil {
		return err
	}
	finder := mkimage.New(*imagesDir, nil)
	img, err := finder.CurrentFor("amd64")
	if err != nil {
		return fmt.Errorf("microkernel image: %w", err)
	}
	var arm mkimage.Image
	if slices.Contains(firmwares, fwARM64) {
		if arm, err = finder.CurrentFor("arm64"); err != nil {
			return fmt.Errorf("-firmware %s: %w (build images/prod-arm64.yaml into the images directory)", fwARM64, err)
		}
	}
	if slices.Contains(firmwares, fwUEFISB) && !img.Manifest.SignedChain() {
		return fmt.Errorf("-firmware %s: image %s has no signed loaders (build it with debian.secure_boot on)", fwUEFISB, img.Name)
	}
	var accels []string
	kvm, why := testlab.ProbeKVM(filepath.Join(img.Dir, img.Kernel))
	switch *accelFlag {
	case "auto":
		accels = []string{"tcg"}
		if kvm == "kvm" {
			accels = append(accels, "kvm")
		}
	case "tcg", "kvm":
		accels = []string{*accelFlag}
	default:
		return fmt.Errorf("-accel %q: want auto, tcg or kvm", *accelFlag)
	}
	work, err := os.MkdirTemp("", "razor-bench-boot-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{
		img: img, arm: arm, server: srv, ipxeDir: *ipxeDir, work: work, timeout: *timeout, log: stderr, cpus: *cpus, nodes: *nodes,
	}
	load0 := loadavg()
	start := time.Now()
	results := map[combo][]result{}
	seq := 0
	for round := 1; round <= *runs; round++ {
		for _, accel := range accels {
			for _, fw := range firmwares {
				for _, setup := range setups {
					c := combo{accel, fw, setup}
					seq++
					r, err := b.boot(ctx, c, seq)
					if err != nil {
						fmt.Fprintf(stderr, "60-boot: %s %s %s run %d: %v\n", accel, fw, setup, round, err)
						r = result{err: err}
					} else {
						fmt.Fprintf(stderr, "60-boot: %s %s %s run %d: kernel %.1f s, registered %.1f s\n",
							accel, fw, setup, round, r.kernel.Seconds(), r.registered.Seconds())
					}
					results[c] = append(results[c], r)
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
			}
		}
	}
	report(stdout, reportInput{
		img: img, arm: arm, runs: *runs, cpus: *cpus, nodes: *nodes, accels: accels, kvmWhy: why, kvm: kvm == "kvm",
		results: results, load0: load0, load1: loadavg(), took: time.Since(start),
	})
	return nil
}

// loadavg returns the 1-minute load average, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	var one string
	fmt.Sscan(string(b), &one)
	return one
}

// subset parses a comma-separated list whose every element is one of
// allowed, keeping allowed's order.
func subset(list string, allowed ...string) ([]string, error) {
	want := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if !slices.Contains(allowed, v) {
			return nil, fmt.Errorf("%q: want some of %s", v, strings.Join(allowed, ", "))
		}
		want[v] = true
	}
	var out []string
	for _, v := range allowed {
		if want[v] {
			out = append(out, v)
		}
	}
	return out, nil
}
