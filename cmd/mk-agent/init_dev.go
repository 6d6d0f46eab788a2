//go:build dev

package main

import (
	"context"
	"log/slog"
	"os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/razor-mk/razor-mk/agent/devssh"
	"github.com/razor-mk/razor-mk/agent/initsys"
)

// devServices are the dev variant's extras: the SSH server, and with
// razor.debug on the kernel command line a shell on the console.
func devServices(env initsys.Env) []initsys.Service {
	ssh := &devssh.Server{Logger: env.Logger}
	svcs := []initsys.Service{{Name: "ssh", Run: ssh.ListenAndServe}}
	if env.Options.Debug && env.Console != nil {
		sup := &initsys.Supervisor{Name: "console shell", Logger: env.Logger, StopSignal: syscall.SIGHUP, Command: func() *exec.Cmd {
			c := exec.Command(devssh.DefaultShell, "-l")
			c.Env = append([]string{"PS1=mk# "}, agentEnv...)
			c.Dir = "/"
			c.Stdin, c.Stdout, c.Stderr = env.Console, env.Console, env.Console
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			return c
		}}
		svcs = append(svcs, initsys.Service{Name: "console shell", Run: func(ctx context.Context) error { return sup.Run(ctx) }})
	}
	return svcs
}

// devCommands adds "mk-agent devssh" to dev builds: the dev SSH server on
// its own, for images whose init is not mk-agent (a Tiny Core release
// without an SSH extension starts it from its boot script).
func devCommands() []*cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "devssh",
		Short: "Serve the dev variant's SSH server (keys in " + devssh.DefaultAuthorizedKeys + ")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).With("prog", "mk-agent", "component", "devssh")
			s := &devssh.Server{Addr: addr, Logger: log}
			log.Info("dev SSH server starting", "addr", cmpOr(addr, devssh.DefaultAddr))
			return s.ListenAndServe(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default "+devssh.DefaultAddr+")")
	return []*cobra.Command{cmd}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
