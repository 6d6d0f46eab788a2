package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Dynamic shell completion (razor-netboot completion bash|zsh|fish): node
// ids, tags and policies are asked of the server the command would talk
// to; fixed values (commands, states, output formats) are listed.

// what completes the first argument of each command, by command path
// below the root.
var argCompletion = map[string]string{
	"nodes show": "node", "nodes delete": "node", "nodes unbind": "node", "nodes events": "node", "nodes bind": "node",
	"nodes power-on": "node", "nodes power-off": "node", "nodes power-cycle": "node", "nodes power-status": "node",
	"commands send": "node", "commands list": "node", "commands cancel": "node",
	"tags show": "tag", "tags delete": "tag", "tags update": "tag",
	"policies show": "policy", "policies delete": "policy", "policies update": "policy", "policies preview": "policy",
}

// addCompletions installs the completion functions on root's commands.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		path := strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
		if kind, ok := argCompletion[path]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				if path == "commands send" && len(args) == 1 {
					return []string{"reboot", "poweroff", "register"}, cobra.ShellCompDirectiveNoFileComp
				}
				if path == "nodes bind" && len(args) == 1 {
					return serverNames(cmd, "policy"), cobra.ShellCompDirectiveNoFileComp
				}
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return serverNames(cmd, kind), cobra.ShellCompDirectiveNoFileComp
			}
		}
		fixed := map[string][]string{
			"output": {"table", "wide", "json", "yaml"},
			"state":  {"active", "inactive", "bound", "booted", "failed"},
			"type":   {"dhcp", "tftp.send", "http.send", "boot.script", "node", "command", "power", "refused"},
		}
		for name, vals := range fixed {
			if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
				c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		for name, kind := range map[string]string{"tag": "tag", "policy": "policy", "node": "node"} {
			if c.Flags().Lookup(name) != nil {
				c.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
					return serverNames(cmd, kind), cobra.ShellCompDirectiveNoFileComp
				})
			}
		}
	}
	walk(root)
}

// serverNames lists node ids, tag names or policy names from the server
// the command's flags name; nothing when it does not answer in 3 s.
func serverNames(cmd *cobra.Command, kind string) []string {
	f := &adminFlags{output: "table"}
	if fl := cmd.Flag("server"); fl != nil {
		f.server = fl.Value.String()
	}
	if fl := cmd.Flag("token"); fl != nil {
		f.token = fl.Value.String()
	}
	c, err := f.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out []string
	switch kind {
	case "node":
		ns, _ := c.Nodes(ctx)
		for _, n := range ns {
			out = append(out, n.ID)
		}
	case "tag":
		ts, _ := c.Tags(ctx)
		for _, t := range ts {
			out = append(out, t.Name)
		}
	case "policy":
		ps, _ := c.Policies(ctx)
		for _, p := range ps {
			out = append(out, p.Name)
		}
	}
	return out
}
