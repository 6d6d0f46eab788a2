// Command mk-agent is the Microkernel Controller that runs inside the
// Razor microkernel on each discovered node: as /init it brings the node
// up; `run` gathers facts, checks in with the server, registers and obeys
// commands; `facts` prints what a node would report.
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
	err := run(ctx, initArgs(os.Getpid(), os.Args), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Execute(ctx, newRootCmd(), args, stdout, stderr)
}
