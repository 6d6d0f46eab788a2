package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/spf13/cobra"
)

func newTagsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tags",
		Short: "Manage tags: named rules over facts",
		Long: `A tag is a JSON rule over a node's facts, for example
  ["and", ["=", ["fact", "processorcount"], "2"], ["like", ["fact", "manufacturer"], "Dell.*"]]
with and or not = != like in > >= < <= num str fact tag. RULE is the JSON
itself, @FILE to read it from a file, or - for standard input.`,
	}
	f := addAdminFlags(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ts, err := c.Tags(cmd.Context())
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), ts)
			}
			rows := make([][]string, len(ts))
			for i, t := range ts {
				rows[i] = []string{t.Name, strconv.Itoa(t.Nodes), string(t.Rule)}
			}
			return table(cmd.OutOrStdout(), []string{"NAME", "NODES", "RULE"}, rows)
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a tag and the nodes that have it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.Tag(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ns, err := c.FindNodes(cmd.Context(), adminapi.NodeQuery{Tags: []string{t.Name}})
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), struct {
					adminapi.Tag
					Matching []adminapi.Node `json:"matching_nodes"`
				}{t, ns})
			}
			w := cmd.OutOrStdout()
			if err := table(w, []string{"NAME", "NODES", "RULE"}, [][]string{{t.Name, strconv.Itoa(t.Nodes), string(t.Rule)}}); err != nil {
				return err
			}
			fmt.Fprintln(w)
			return nodeTable(w, ns, f.output == "wide")
		},
	}
	put := func(create bool) *cobra.Command {
		use, short := "update NAME RULE", "Replace a tag's rule"
		if create {
			use, short = "create NAME RULE", "Create a tag"
		}
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := f.client()
				if err != nil {
					return err
				}
				rule, err := readArg(cmd, args[1])
				if err != nil {
					return err
				}
				if !json.Valid(rule) {
					return fmt.Errorf("rule: not valid JSON: %s", rule)
				}
				call := c.UpdateTag
				if create {
					call = c.CreateTag
				}
				t, err := call(cmd.Context(), args[0], rule)
				if err != nil {
					return err
				}
				if f.structured() {
					return f.print(cmd.OutOrStdout(), t)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "tag %s: %s (%d nodes)\n", t.Name, t.Rule, t.Nodes)
				return err
			},
		}
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a tag no policy or rule uses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteTag(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted tag %s\n", args[0])
			return err
		},
	}
	cmd.AddCommand(list, show, put(true), put(false), del)
	return cmd
}
