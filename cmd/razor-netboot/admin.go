package main

import "github.com/spf13/cobra"

// newAdminCmds is replaced by the admin CLI as the work lands.
func newAdminCmds() []*cobra.Command { return nil }
