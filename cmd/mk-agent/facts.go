package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/agent/facts"
	"github.com/spf13/cobra"
)

// newFactsCmd is `mk-agent facts`: print the facts this machine (or a
// captured /proc+/sys tree) would register.
func newFactsCmd() *cobra.Command {
	var (
		root    string
		asJSON  bool
		capture string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "facts [--root DIR] [--json] [--capture DIR]",
		Short: "Print the facts this machine would report",
		Long: `Print the facts this machine would register with the Razor server, sorted,
one "name: value" a line (or as one JSON object with --json). Sources that
fail are named on stderr; the others still report.

--root reads a captured tree (a directory holding proc/ and sys/) instead of
the live system. --capture DIR also copies every file the facts were read
from into DIR, so that "mk-agent facts --root DIR" later shows the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			opts := facts.Options{
				Root:   root,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
			}
			var res facts.Result
			if capture != "" {
				var err error
				if res, err = facts.Capture(cmd.Context(), opts, capture); err != nil {
					return err
				}
			} else {
				res = facts.Gather(cmd.Context(), opts)
			}
			for _, e := range res.Errors {
				fmt.Fprintf(cmd.ErrOrStderr(), "mk-agent: %v\n", e)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res.Facts)
			}
			return writeFacts(cmd.OutOrStdout(), res.Facts)
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "read a captured tree holding proc/ and sys/ instead of the live system")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringVar(&capture, "capture", "", "copy every file the facts are read from into this (new or empty) directory")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log each failing source in detail")
	return cmd
}

// writeFacts prints facts sorted by name as "name: value" lines.
func writeFacts(w io.Writer, m map[string]string) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + ": " + m[k] + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
