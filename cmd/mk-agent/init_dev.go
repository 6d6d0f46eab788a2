//go:build dev

package main

import (
	"context"
	"os/exec"
	"syscall"

	"github.com/razor-mk/razor-mk/agent/devssh"
	"github.com/razor-mk/razor-mk/agent/initsys"
)

// devServices are the dev variant's extras: the SSH server, and with
// razor.debug on the kernel command line a shell on the console.
func devServices(env initsys.Env) []initsys.Service {
	ssh := &devssh.Server{Log: env.Log}
	svcs := []initsys.Service{{Name: "ssh", Run: ssh.ListenAndServe}}
	if env.Options.Debug && env.Console != nil {
		sup := &initsys.Supervisor{Name: "console shell", Log: env.Log, StopSignal: syscall.SIGHUP, Command: func() *exec.Cmd {
			c := exec.Command(devssh.DefaultShell, "-l")
			c.Env = append([]string{"PS1=mk# "}, agentEnv...)
			c.Dir = "/"
			c.Stdin, c.Stdout, c.Stderr = env.Console, env.Console, env.Console
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			return c
		}}
		svcs = append(svcs, initsys.Service{Name: "console shell", Run: func(ctx context.Context) error { return sup.Run(ctx) }})
	}
	return svcs
}
