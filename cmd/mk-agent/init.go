package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/razor-mk/razor-mk/agent/initsys"
	"github.com/spf13/cobra"
)

// agentEnv is the environment of the supervised controller: the kernel
// gives init almost none.
var agentEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=linux"}

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Run as /init (PID 1) inside the microkernel",
		Long: `init is the microkernel's PID 1. It mounts /proc, /sys, /dev (with
/dev/pts and /dev/shm), /run and /tmp; loads the kernel modules the
hardware needs (modaliases matched against modules.alias, repeated until
no new device appears), plus /etc/modules and razor.modules=; brings
every Ethernet link up and runs DHCP on all of them (the first lease
gets the default route and /etc/resolv.conf); sets the hostname
mk<mac>; starts "mk-agent run" and restarts it when it dies; reaps
orphans; and reboots on SIGTERM or ctrl-alt-del, powers off on SIGUSR2
and halts on SIGUSR1.

Run as PID 1, or through a link named "init", mk-agent runs this
command when given no other. Anything the kernel passes as arguments is
ignored.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getpid() != 1 {
				return errors.New("init: must run as PID 1 (the microkernel's /init)")
			}
			// PID 1 never stops because a signal cancelled the context:
			// initsys turns signals into reboot, poweroff and halt.
			return initsys.Run(context.WithoutCancel(cmd.Context()), initsys.Options{
				PID1:     true,
				Agent:    agentCommand,
				Services: devServices,
			})
		},
	}
}

// agentCommand is `mk-agent run`, started from this very binary.
func agentCommand() *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	c := exec.Command(self, "run")
	c.Args[0] = "mk-agent"
	c.Env = agentEnv
	return c
}

// initArgs returns the arguments to execute for a process with pid and
// argv: PID 1 always runs init (the kernel may pass stray boot words as
// arguments), and so does a binary invoked as "init" without a
// subcommand.
func initArgs(pid int, argv []string) []string {
	args := argv[1:]
	switch {
	case pid == 1 && (len(args) == 0 || args[0] != "init"):
		return append([]string{"init"}, args...)
	case len(args) == 0 && len(argv) > 0 && filepath.Base(argv[0]) == "init":
		return []string{"init"}
	}
	return args
}
