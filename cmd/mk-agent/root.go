package main

import (
	"github.com/razor-mk/razor-mk/internal/cli"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mk-agent",
		Short: "The Razor Microkernel Controller",
		Long: `mk-agent runs inside the Razor microkernel on every discovered node.

  mk-agent init    as /init (PID 1): mounts, loads the kernel modules the
                   hardware needs, brings the network up with DHCP, sets the
                   hostname mk<MAC>, starts and supervises "mk-agent run",
                   and performs reboot and poweroff.
  mk-agent run     the controller: finds the Razor server, checks in every
                   mk_checkin_interval seconds, registers its facts, obeys
                   acknowledge/register/reboot/poweroff, and serves the local
                   config endpoint (127.0.0.1:2156) and TCE mirror (:2157).
  mk-agent facts   prints the facts this machine (or a captured /proc+/sys
                   tree) would report.`,
	}
	root.AddCommand(newInitCmd(), newRunCmd(), newFactsCmd(), cli.VersionCmd("mk-agent"))
	root.AddCommand(devCommands()...)
	return root
}
