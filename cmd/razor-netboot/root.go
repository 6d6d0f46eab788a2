package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "razor-netboot",
		Short: "Discover bare-metal servers: DHCP, TFTP, HTTP, iPXE and the Razor checkin server",
		Long: `razor-netboot serve runs everything a provisioning network needs to discover
bare-metal servers with the Razor microkernel: DHCP (proxy beside your DHCP
server, or full with its own address pool), TFTP for the iPXE binaries, the
HTTP image service, per-node iPXE scripts (/boot.ipxe), and the checkin
server that registers nodes, tags them from their facts and binds them to
policies. Its store is an embedded SQLite file by default, or PostgreSQL
for several replicas.

The other subcommands are the admin CLI, talking to a running server's
admin API (/api/v1) with a bearer token.`,
	}
	root.AddCommand(newServeCmd(), newVersionCmd())
	root.AddCommand(newAdminCmds()...)
	root.AddCommand(newMigrateCmd())
	strictGroups(root)
	addCompletions(root)
	return root
}
