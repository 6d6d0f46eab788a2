package main

import (
	"fmt"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/spf13/cobra"
)

func newTokensCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Manage admin API tokens (needs an admin token)",
		Long: `Admin API tokens have a name and a role:
  viewer    reads nodes, tags, policies and commands
  operator  also queues commands, unbinds nodes, edits tags and policies
  admin     everything, tokens included
The server keeps only each token's SHA-256: the token is printed once, by
create. A revoked token stops working at once and stays listed. The first
admin token, in <data-dir>/admin.token, is always valid with role admin.`,
	}
	f := addAdminFlags(cmd)
	var role string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token and print it (only this once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), args[0], role)
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), t)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), t.Secret)
			return err
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "viewer, operator or admin")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (names and roles, never the tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), ts)
			}
			return table(cmd.OutOrStdout(), []string{"NAME", "ROLE", "CREATED", "REVOKED"}, tokenRows(ts))
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), t)
			}
			return table(cmd.OutOrStdout(), []string{"NAME", "ROLE", "CREATED", "REVOKED"}, tokenRows([]adminapi.Token{t}))
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func tokenRows(ts []adminapi.Token) [][]string {
	rows := make([][]string, len(ts))
	for i, t := range ts {
		created := t.Created
		rows[i] = []string{t.Name, t.Role, ago(&created), ago(t.Revoked)}
	}
	return rows
}
