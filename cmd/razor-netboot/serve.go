package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServeCmd is replaced by the real command as the work lands.
func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run DHCP, TFTP, HTTP and the checkin server",
		RunE:  func(*cobra.Command, []string) error { return errors.New("serve: not built yet") },
	}
}
