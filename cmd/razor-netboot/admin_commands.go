package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func newCommandsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "commands",
		Short: "Queue commands for nodes (reboot, poweroff, register) and list them",
	}
	f := addAdminFlags(cmd)
	send := &cobra.Command{
		Use:     "send NODE reboot|poweroff|register",
		Aliases: []string{"queue"},
		Short:   "Queue a command, delivered once on the node's next checkin",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			cm, err := c.QueueCommand(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), cm)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "queued %s for %s (command %d)\n", cm.Command, cm.Node, cm.ID)
			return err
		},
	}
	list := &cobra.Command{
		Use:   "list NODE",
		Short: "List a node's commands",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			cs, err := c.Commands(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), cs)
			}
			rows := make([][]string, len(cs))
			for i, cm := range cs {
				rows[i] = []string{strconv.FormatInt(cm.ID, 10), cm.Command, cm.Queued.Format("2006-01-02T15:04:05Z07:00"), ago(cm.Delivered)}
			}
			return table(cmd.OutOrStdout(), []string{"ID", "COMMAND", "QUEUED", "DELIVERED"}, rows)
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel NODE COMMAND-ID",
		Short: "Cancel a command that has not been delivered yet",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("command id %q: want a number (see commands list NODE)", args[1])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			cm, err := c.CancelCommand(cmd.Context(), args[0], id)
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), cm)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "cancelled %s for %s (command %d)\n", cm.Command, cm.Node, cm.ID)
			return err
		},
	}
	cmd.AddCommand(send, list, cancel)
	return cmd
}
