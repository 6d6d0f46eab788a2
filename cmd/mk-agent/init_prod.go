//go:build !dev

package main

import "github.com/razor-mk/razor-mk/agent/initsys"

// devServices is empty in prod builds: no SSH server, no console shell.
func devServices(initsys.Env) []initsys.Service { return nil }
