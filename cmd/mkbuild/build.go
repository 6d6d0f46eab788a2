package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newBuildCmd is replaced by the real command as the work lands.
func newBuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "build",
		Short: "Build a microkernel image from a spec",
		RunE:  func(*cobra.Command, []string) error { return errors.New("build: not built yet") },
	}
}
