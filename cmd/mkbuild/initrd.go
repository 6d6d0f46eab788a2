package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newInitrdCmd is replaced by the real command as the work lands.
func newInitrdCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "initrd",
		Short: "Inspect initrds: ls, cat, extract, diff",
		RunE:  func(*cobra.Command, []string) error { return errors.New("initrd: not built yet") },
	}
}
