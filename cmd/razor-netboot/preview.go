package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newPolicyPreviewCmd is policies preview NAME.
func newPolicyPreviewCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "preview NAME",
		Short: "Say which nodes would bind to a policy now, and why the others would not (changes nothing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			p, err := c.PreviewPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), p)
			}
			rows := make([][]string, len(p.Nodes))
			n := 0
			for i, x := range p.Nodes {
				binds := "no"
				if x.Binds {
					binds, n = "yes", n+1
				}
				rows[i] = []string{x.Node, binds, x.Reason}
			}
			if err := table(cmd.OutOrStdout(), []string{"NODE", "BINDS", "WHY"}, rows); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d of %d nodes would bind to %s on their next checkin\n", n, len(p.Nodes), p.Policy)
			return err
		},
	}
}
