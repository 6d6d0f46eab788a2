package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/razor-mk/razor-mk/internal/version"
)

// newVersionCmd prints this program's version and, when a server answers
// (--server, RAZOR_SERVER), the server's (GET /api/v1/version).
func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, and the server's when one answers",
		Args:  cobra.NoArgs,
	}
	f := addAdminFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		w := cmd.OutOrStdout()
		if _, err := fmt.Fprintln(w, "client: "+version.String("razor-netboot")); err != nil {
			return err
		}
		c, err := f.client()
		if err != nil {
			_, err = fmt.Fprintf(w, "server: unknown (%v)\n", err)
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
		defer cancel()
		v, err := c.ServerVersion(ctx)
		if err != nil {
			_, err = fmt.Fprintf(w, "server: unknown (%v)\n", err)
			return err
		}
		_, err = fmt.Fprintf(w, "server: %s %s (commit %s, %s)\n", c.Server, v.Version, v.Commit, v.Go)
		return err
	}
	return cmd
}
