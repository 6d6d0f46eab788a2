// Package cli holds the small pieces the three programs' cobra wiring
// shares: the version command and the run entry point.
package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/razor-mk/razor-mk/internal/version"
	"github.com/spf13/cobra"
)

// VersionCmd returns the `version` subcommand of program.
func VersionCmd(program string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String(program))
			return err
		},
	}
}

// Execute runs root with args and the given streams. Errors are printed
// once, by cobra, to stderr.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) error {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceUsage = true
	root.Version = version.Version
	return root.ExecuteContext(ctx)
}
