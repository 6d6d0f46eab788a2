// Command razor-netboot runs on the provisioning network: DHCP (full or
// proxy), TFTP, the HTTP image service, per-node iPXE scripts and the
// Razor checkin server with its store. It is also the admin CLI.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/razor-mk/razor-mk/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Execute(ctx, newRootCmd(), args, stdout, stderr)
}
