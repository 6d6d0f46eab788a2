package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/razor-mk/razor-mk/internal/daemon"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run DHCP, TFTP, HTTP and the checkin server",
		Long: `serve runs the provisioning services: the Razor checkin server (node API,
/boot.ipxe, admin API under /api/v1, /metrics, /healthz) and the HTTP image
service on --http-addr, plus DHCP and TFTP unless they are off.

Configuration comes from the flags, RAZOR_* environment variables and an
optional YAML file (--config); flags win over the environment, which wins
over the file. See examples/razor-netboot.yaml for every key and default.`,
		Args: cobra.NoArgs,
	}
	flags := daemon.AddFlags(cmd.Flags())
	// A debugging hook rather than configuration: no RAZOR_ variable,
	// no file key.
	cpuprofile := cmd.Flags().String("cpuprofile", "", "write a CPU profile of the server to this file until it stops (for go tool pprof)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := daemon.LoadConfig(flags, nil)
		if err != nil {
			return err
		}
		if *cpuprofile != "" {
			stop, err := startCPUProfile(*cpuprofile)
			if err != nil {
				return err
			}
			defer stop()
		}
		log := newLogger(cmd.ErrOrStderr(), cfg)
		return daemon.Serve(cmd.Context(), cfg, log)
	}
	return cmd
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("serve: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("serve: --cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// newLogger makes the server's slog logger.
func newLogger(w io.Writer, cfg daemon.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
