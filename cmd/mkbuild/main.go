// Command mkbuild builds the Razor microkernel: a kernel and a cpio initrd
// (dev and prod variants) from Debian's kernel and busybox or from a Tiny
// Core Linux release, with mk-agent inside, and a manifest.json. It also
// inspects initrds for operators (mkbuild initrd ls|cat|extract|diff).
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
