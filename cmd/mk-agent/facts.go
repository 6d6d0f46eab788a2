package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newFactsCmd is replaced by the real command as the work lands.
func newFactsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "facts",
		Short: "Print the facts this machine would report",
		RunE:  func(*cobra.Command, []string) error { return errors.New("facts: not built yet") },
	}
}
