// Command netboot runs one of razor-netboot's delivery services on its
// own for the benchmarks under scripts/bench (20-dhcp, 21-tftp, 22-http),
// which start it inside a network namespace next to the peer tools:
//
//	netboot dhcp -iface IF -from IP -to IP -subnet CIDR -server IP -store FILE
//	netboot tftp -root DIR -addr IP:PORT
//	netboot http -dir DIR -addr IP:PORT
//
// It logs warnings and errors only (the per-MAC timeline at info level
// would measure the log writer) and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases/leasetest"
	"github.com/razor-mk/razor-mk/netboot/httpimg"
	"github.com/razor-mk/razor-mk/netboot/tftp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "netboot:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: netboot dhcp|tftp|http [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "dhcp":
		iface := fs.String("iface", "", "interface")
		from := fs.String("from", "", "range start")
		to := fs.String("to", "", "range end")
		subnet := fs.String("subnet", "", "subnet CIDR")
		server := fs.String("server", "", "server address")
		store := fs.String("store", "", "lease journal file (durable); empty = in memory")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var st leases.Store = &leases.Memory{}
		if *store != "" {
			f, err := leasetest.OpenFile(*store, log)
			if err != nil {
				return err
			}
			defer f.Close()
			st = f
		}
		cfg := dhcp.Options{Mode: dhcp.Full, Interface: *iface, LeaseTime: time.Hour}
		var err error
		if cfg.RangeFrom, err = netip.ParseAddr(*from); err != nil {
			return err
		}
		if cfg.RangeTo, err = netip.ParseAddr(*to); err != nil {
			return err
		}
		if cfg.Subnet, err = netip.ParsePrefix(*subnet); err != nil {
			return err
		}
		if cfg.ServerIP, err = netip.ParseAddr(*server); err != nil {
			return err
		}
		cfg.Logger = log
		s, err := dhcp.New(cfg, st)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "netboot: dhcp ready")
		return s.Serve(ctx)
	case "tftp":
		root := fs.String("root", "", "directory")
		addr := fs.String("addr", ":69", "address")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		s, err := tftp.New(tftp.Options{Root: *root, Logger: log})
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Fprintln(os.Stderr, "netboot: tftp ready")
		return s.ListenAndServe(ctx, *addr)
	case "http":
		dir := fs.String("dir", "", "directory")
		addr := fs.String("addr", ":8026", "address")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/images/", http.StripPrefix("/images/", httpimg.Handler(*dir, log)))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { <-ctx.Done(); srv.Close() }()
		fmt.Fprintln(os.Stderr, "netboot: http ready")
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return fmt.Errorf("unknown service %q", args[0])
}
