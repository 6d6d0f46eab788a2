// Command storm is the boot-storm benchmark of scripts/bench/61-storm.sh:
// N simulated nodes (200 by default) power on within one second against
// one razor-netboot serve, and each does what a PXE ROM, iPXE and the
// microkernel's agent do, in order:
//
//  1. DHCP DORA as a PXE ROM (option 60 PXEClient, option 93 BIOS), then
//     the boot file over TFTP (blksize 1468, as iPXE's ROM asks);
//  2. DHCP DORA as iPXE (option 77 "iPXE"), the script URL it was given,
//     the chain script's per-node URL, then the kernel and initrd over
//     HTTP, as the microkernel script says;
//  3. DHCP DORA as the booted kernel's client, then the agent's first
//     checkin (first_checkin=true, with the razor.token= of the kernel
//     command line), which must answer register, and the registration.
//
// Each node has its own MAC and transaction IDs; all share one UDP socket
// on port 68 of the client interface (replies are broadcast: the nodes
// set the broadcast flag), and each leased address is added to that
// interface so that the node's TFTP and HTTP traffic comes from it, as
// from a real node (the server's per-address limits then apply per node).
// A DHCP exchange is retried after 1, 2, 4, 8 and 8 s, as firmware backs
// off. The checkin server is the kernel line's razor.server=, else the
// host of the script URL. -no-tftp skips the ROM's TFTP download. It
// reports power-on → registered (p50, p99, max), per-phase medians
// and errors, as a markdown table row on stdout and progress on stderr.
//
//	storm run -iface IF -n 200 -spread 1s -label NAME [-no-tftp] [-v]
//	storm image -dir DIR [-kernel-mb 8] [-initrd-mb 32]
//	storm header   (the markdown table header of run's row)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: storm run|image|header [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "image":
		dir := fs.String("dir", "", "image directory to write (vmlinuz, initrd, manifest.json)")
		kmb := fs.Int("kernel-mb", 8, "kernel size in MiB")
		imb := fs.Int("initrd-mb", 32, "initrd size in MiB")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return writeImage(*dir, *kmb<<20, *imb<<20)
	case "header":
		fmt.Fprintln(stdout, Header())
		return nil
	case "run":
		var o Options
		fs.StringVar(&o.Interface, "iface", "", "client interface (in the client namespace)")
		fs.IntVar(&o.Nodes, "n", 200, "nodes")
		fs.DurationVar(&o.Spread, "spread", 1e9, "power-on times spread evenly over this")
		fs.DurationVar(&o.Timeout, "timeout", 180e9, "a node not registered by then counts as failed")
		fs.BoolVar(&o.NoTFTP, "no-tftp", false, "skip the ROM's TFTP download")
		verbose := fs.Bool("v", false, "log each node's failure")
		label := fs.String("label", "razor-netboot serve", "first column of the result row")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		o.Progress = stderr
		level := slog.LevelWarn
		if *verbose {
			level = slog.LevelDebug
		}
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		res, err := Run(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res.Row(*label))
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}
