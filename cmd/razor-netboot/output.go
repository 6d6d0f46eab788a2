package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// print writes v as JSON, or as YAML with -o yaml (the JSON field names:
// v goes through JSON first).
func (f *adminFlags) print(w io.Writer, v any) error {
	if f.output == "yaml" {
		return printYAML(w, v)
	}
	return printJSON(w, v)
}

// printYAML writes v as YAML with its JSON field names.
func printYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return err
	}
	return enc.Close()
}

// strictGroups makes every command that only groups subcommands fail on
// an unknown subcommand (cobra prints help and exits 0 otherwise), with
// cobra's suggestions.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + s[0]
		}
		return fmt.Errorf("%s\nRun '%s --help' for usage", msg, cmd.CommandPath())
	}
}

// structured reports whether -o asks for JSON or YAML rather than a table
// (table and wide).
func (f *adminFlags) structured() bool { return f.output == "json" || f.output == "yaml" }
