// Command demo is the engine of `make demo` (scripts/demo.sh): it runs
// razor-netboot on a private provisioning network (a network namespace
// with a bridge), powers on one QEMU node that boots from the network,
// prints the node's boot timeline as it happens — DHCP, TFTP, HTTP,
// checkin and registration from the server's structured log, filtered by
// the node's MAC and address, and milestones from its serial console,
// each timed from power-on — and, once the node has registered, its facts
// and tags. Then it tears everything down (also on failure, timeout or
// Ctrl-C) and exits 0 if the node registered.
//
//	demo --images-dir DIR [--razor-netboot PATH] [--uefi] [--timeout 5m] [--console FILE] [--server-log FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	imagesDir string
	server    string
	netns     string
	uefi      bool
	timeout   time.Duration
	accel     string
	console   string
	serverLog string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.imagesDir, "images-dir", "", "images directory holding the microkernel (one subdirectory with manifest.json)")
	fs.StringVar(&o.server, "razor-netboot", "bin/razor-netboot", "razor-netboot binary")
	fs.StringVar(&o.netns, "netns", fmt.Sprintf("razor-demo-%d", os.Getpid()), "name of the network namespace to create")
	fs.BoolVar(&o.uefi, "uefi", false, "boot the node with UEFI (OVMF's PXE, then iPXE) instead of BIOS")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up if the node has not registered by then")
	fs.StringVar(&o.accel, "accel", "auto", "QEMU accelerator: auto (KVM if it boots a guest, else TCG), kvm or tcg")
	fs.StringVar(&o.console, "console", "", "also write the node's whole serial console to this file")
	fs.StringVar(&o.serverLog, "server-log", "", "also write razor-netboot's whole log to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.imagesDir == "" {
		return errors.New("--images-dir is required")
	}
	switch o.accel {
	case "auto", "kvm", "tcg":
	default:
		return fmt.Errorf("--accel %q: want auto, kvm or tcg", o.accel)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return demo(ctx, o, out)
}
