package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newInitCmd is replaced by the real command as the work lands.
func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Run as /init inside the microkernel",
		RunE:  func(*cobra.Command, []string) error { return errors.New("init: not built yet") },
	}
}
