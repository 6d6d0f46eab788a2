package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRunCmd is replaced by the real command as the work lands.
func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the Microkernel Controller",
		RunE:  func(*cobra.Command, []string) error { return errors.New("run: not built yet") },
	}
}
