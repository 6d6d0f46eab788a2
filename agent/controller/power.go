package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/razor-mk/razor-mk/wire"
)

// ErrUnknownPowerCommand is returned for a command that is neither reboot
// nor poweroff.
var ErrUnknownPowerCommand = errors.New("controller: not a power command")

// Signals that ask an init for reboot and poweroff. Our `mk-agent init`
// follows busybox init: SIGTERM reboots, SIGUSR2 powers off (SIGUSR1
// would halt).
const (
	SignalReboot   = syscall.SIGTERM
	SignalPoweroff = syscall.SIGUSR2
)

// SystemPower reboots or powers off the machine it runs on. When PID 1 is
// our own `mk-agent init`, it signals it (the init syncs, unmounts and
// calls reboot(2)); otherwise it runs /sbin/reboot or /sbin/poweroff,
// which do the same with busybox or systemd. With DryRun it only logs,
// for tests and for running the agent on a workstation.
type SystemPower struct {
	DryRun bool
	// Logger receives what is done; nil discards.
	Logger *slog.Logger
	// ProcRoot is where /proc is mounted; "" means /proc.
	ProcRoot string
	// RebootCmd and PoweroffCmd are the programs run when PID 1 is not
	// ours; "" means /sbin/reboot and /sbin/poweroff.
	RebootCmd, PoweroffCmd string
	// Kill and Run replace syscall.Kill and running a program, for tests.
	Kill func(pid int, sig syscall.Signal) error
	Run  func(ctx context.Context, prog string) error
}

// Do performs cmd (wire.Reboot or wire.Poweroff). It satisfies PowerFunc.
func (p *SystemPower) Do(ctx context.Context, cmd wire.Command) error {
	log := p.Logger
	if log == nil {
		log = discard
	}
	var sig syscall.Signal
	var prog string
	switch cmd {
	case wire.Reboot:
		sig, prog = SignalReboot, p.RebootCmd
		if prog == "" {
			prog = "/sbin/reboot"
		}
	case wire.Poweroff:
		sig, prog = SignalPoweroff, p.PoweroffCmd
		if prog == "" {
			prog = "/sbin/poweroff"
		}
	default:
		return fmt.Errorf("%w: %q", ErrUnknownPowerCommand, cmd)
	}
	ours := p.initIsOurs()
	if p.DryRun {
		if ours {
			log.Warn("dry run: would signal PID 1", "command", string(cmd), "signal", sig.String())
		} else {
			log.Warn("dry run: would run", "command", string(cmd), "program", prog)
		}
		return nil
	}
	if ours {
		log.Warn("asking init to "+string(cmd), "signal", sig.String())
		kill := p.Kill
		if kill == nil {
			kill = syscall.Kill
		}
		if err := kill(1, sig); err != nil {
			return fmt.Errorf("controller: %s: signal PID 1: %w", cmd, err)
		}
		return nil
	}
	log.Warn("running "+prog, "command", string(cmd))
	run := p.Run
	if run == nil {
		run = runProgram
	}
	if err := run(ctx, prog); err != nil {
		return fmt.Errorf("controller: %s: %w", cmd, err)
	}
	return nil
}

// initIsOurs reports whether PID 1 runs this same executable (our
// `mk-agent init`), comparing /proc/1/exe with /proc/self/exe; when
// /proc/1/exe cannot be read it falls back to PID 1's command line being
// "mk-agent init".
func (p *SystemPower) initIsOurs() bool {
	proc := p.ProcRoot
	if proc == "" {
		proc = "/proc"
	}
	one, err1 := os.Stat(filepath.Join(proc, "1", "exe"))
	self, err2 := os.Stat(filepath.Join(proc, "self", "exe"))
	if err1 == nil && err2 == nil {
		return os.SameFile(one, self)
	}
	data, err := os.ReadFile(filepath.Join(proc, "1", "cmdline"))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(data, "\x00"), []byte{0})
	return len(args) >= 2 && filepath.Base(string(args[0])) == "mk-agent" && string(args[1]) == "init"
}

func runProgram(ctx context.Context, prog string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	c := exec.CommandContext(ctx, prog)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))
