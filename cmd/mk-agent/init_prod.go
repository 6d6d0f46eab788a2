//go:build !dev

package main

import (
	"github.com/razor-mk/razor-mk/agent/initsys"
	"github.com/spf13/cobra"
)

// devServices is empty in prod builds: no SSH server, no console shell.
func devServices(initsys.Env) []initsys.Service { return nil }

// devCommands is empty in prod builds: no "mk-agent devssh".
func devCommands() []*cobra.Command { return nil }
