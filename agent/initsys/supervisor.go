package initsys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// Supervisor keeps one program running: it starts it, waits for it, and
// starts it again after a backoff that doubles from MinBackoff to
// MaxBackoff while the program keeps dying quickly, so that a broken
// program never restarts in a tight loop.
type Supervisor struct {
	// Name labels log lines.
	Name string
	// Command builds the command for each start (an exec.Cmd runs once).
	Command func() *exec.Cmd
	// MinBackoff and MaxBackoff bound the wait before a restart; 0 means
	// 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a run must last for the backoff to start
	// again from MinBackoff; 0 means 60s.
	StableAfter time.Duration
	// StopSignal asks the program to stop when ctx ends; 0 means SIGTERM
	// (an interactive shell wants SIGHUP).
	StopSignal syscall.Signal
	// StopGrace is how long the program gets between StopSignal and
	// SIGKILL; 0 means 5s.
	StopGrace time.Duration
	// Logger receives one line per start and exit; nil discards.
	Logger *slog.Logger
	// Started, if set, is called with each new process's pid.
	Started func(pid int)
}

// Run supervises until ctx ends, then stops the program (StopSignal to
// its process group, SIGKILL after StopGrace) and returns nil. It returns an
// error only if Command is nil.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.Command == nil {
		return errors.New("initsys: Supervisor.Command is nil")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("program", s.Name)
	minB := cmpOr(s.MinBackoff, time.Second)
	maxB := cmpOr(s.MaxBackoff, 30*time.Second)
	stable := cmpOr(s.StableAfter, 60*time.Second)
	backoff := minB
	for ctx.Err() == nil {
		started := time.Now()
		err := s.runOnce(ctx, log)
		if ctx.Err() != nil {
			return nil
		}
		ran := time.Since(started)
		wait := restartDelay(backoff, ran, minB, stable)
		log.Warn("program ended; restarting", "err", err, "ran", ran.Round(time.Millisecond), "restart_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*wait, maxB)
	}
	return nil
}

// restartDelay is the wait before restarting a program that ran for ran:
// the current backoff, or minB again after a run of at least stable.
func restartDelay(backoff, ran, minB, stable time.Duration) time.Duration {
	if ran >= stable {
		return minB
	}
	return backoff
}

// runOnce starts the program and waits for it, or stops it when ctx
// ends.
func (s *Supervisor) runOnce(ctx context.Context, log *slog.Logger) error {
	cmd := s.Command()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, so that stopping it stops its children too.
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid = true
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("initsys: starting %s: %w", s.Name, err)
	}
	pid := cmd.Process.Pid
	log.Info("program started", "pid", pid)
	if s.Started != nil {
		s.Started(pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	grace := cmpOr(s.StopGrace, 5*time.Second)
	syscall.Kill(-pid, cmpOr(s.StopSignal, syscall.SIGTERM))
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		log.Info("program stopped", "pid", pid, "status", err)
		return err
	case <-t.C:
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	err := <-done
	log.Warn("program killed after grace period", "pid", pid, "grace", grace)
	return err
}

// Service is a long-running part of the system that init starts after the
// network is up, such as the dev variant's SSH server.
type Service struct {
	Name string
	Run  func(ctx context.Context) error
}

// RunService runs svc until ctx ends, restarting it with a 1s to 30s
// backoff when it returns early.
func RunService(ctx context.Context, svc Service, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := svc.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		log.Warn("service ended; restarting", "service", svc.Name, "err", err, "restart_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
