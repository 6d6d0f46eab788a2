package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/spf13/cobra"
)

func newNodesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List, show, delete, bind and unbind discovered nodes; power them through their BMCs",
	}
	f := addAdminFlags(cmd)
	var nq adminapi.NodeQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "List the nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ns, err := c.FindNodes(cmd.Context(), nq)
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), ns)
			}
			return nodeTable(cmd.OutOrStdout(), ns, f.output == "wide")
		},
	}
	lf := list.Flags()
	lf.StringSliceVar(&nq.Tags, "tag", nil, "only nodes with every one of these tags")
	lf.StringVar(&nq.State, "state", "", "only nodes in this state: active, inactive, bound, booted or failed")
	lf.StringVar(&nq.Policy, "policy", "", "only nodes bound to this policy")
	lf.StringVar(&nq.MAC, "mac", "", "only the node holding this MAC (any spelling)")
	lf.StringArrayVar(&nq.Facts, "fact", nil, "only nodes whose fact KEY=VALUE (repeatable)")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a node with its facts, tags and commands",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			n, err := c.Node(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), n)
			}
			rows := [][]string{
				{"id", n.ID}, {"state", n.State}, {"uuid", dash(n.UUID)}, {"macs", joinOrDash(n.MACs)},
				{"tags", joinOrDash(n.Tags)}, {"policy", dash(n.Policy)}, {"boot_state", dash(n.BootState)},
				{"created", n.Created.Format("2006-01-02T15:04:05Z07:00")}, {"registered", n.Registered.Format("2006-01-02T15:04:05Z07:00")},
				{"last_checkin", ago(n.LastCheckin)}, {"pending_commands", strconv.Itoa(n.PendingCommands)},
			}
			for _, k := range slices.Sorted(maps.Keys(n.Facts)) {
				rows = append(rows, []string{"fact " + k, n.Facts[k]})
			}
			for _, cm := range n.Commands {
				state := "pending"
				if cm.Delivered != nil {
					state = "delivered " + cm.Delivered.Format("2006-01-02T15:04:05Z07:00")
				}
				rows = append(rows, []string{fmt.Sprintf("command %d", cm.ID), cm.Command + " (" + state + ")"})
			}
			return table(cmd.OutOrStdout(), []string{"FIELD", "VALUE"}, rows)
		},
	}
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Forget a node (its next checkin registers it again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteNode(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return err
		},
	}
	unbind := &cobra.Command{
		Use:   "unbind ID",
		Short: "Release a node from its policy (after a failed target, or to provision it again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			n, err := c.UnbindNode(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), n)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "unbound %s (%s)\n", n.ID, n.State)
			return err
		},
	}
	cmd.AddCommand(list, show, del, newBindCmd(f), unbind, newNodeEventsCmd(f))
	cmd.AddCommand(newPowerCmds(f)...)
	return cmd
}

// nodeTable prints nodes as the nodes list table; wide adds the UUID and
// pending commands.
func nodeTable(w io.Writer, ns []adminapi.Node, wide bool) error {
	rows := make([][]string, len(ns))
	for i, n := range ns {
		rows[i] = []string{n.ID, n.State, dash(n.Policy), joinOrDash(n.MACs), dash(n.IP), dash(n.Serial), dash(n.Product), joinOrDash(n.Tags), ago(n.LastCheckin)}
		if wide {
			rows[i] = append(rows[i], dash(n.UUID), strconv.Itoa(n.PendingCommands))
		}
	}
	header := []string{"ID", "STATE", "POLICY", "MACS", "IP", "SERIAL", "PRODUCT", "TAGS", "LAST CHECKIN"}
	if wide {
		header = append(header, "UUID", "PENDING")
	}
	return table(w, header, rows)
}
