package initsys

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ShutdownOps are the system calls a shutdown makes, injectable so that
// the sequence is tested without stopping the test machine.
type ShutdownOps struct {
	// Kill signals a pid (-1: every process but init).
	Kill func(pid int, sig syscall.Signal) error
	// Others counts the processes still alive besides init and kernel
	// threads.
	Others func() int
	// Mounts lists mount points, in mount order.
	Mounts func() ([]string, error)
	// Unmount unmounts a mount point.
	Unmount func(target string, flags int) error
	Sync    func()
	// Reboot calls reboot(2) with cmd; it does not return on success.
	Reboot func(cmd int) error
}

// SystemOps are the ShutdownOps of a real PID 1.
func SystemOps(proc string) ShutdownOps {
	return ShutdownOps{
		Kill:    syscall.Kill,
		Others:  func() int { return OtherProcesses(proc, os.Getpid()) },
		Mounts:  func() ([]string, error) { return MountPoints(proc + "/mounts") },
		Unmount: unix.Unmount,
		Sync:    unix.Sync,
		Reboot:  unix.Reboot,
	}
}

// Shutdown ends the system for action: SIGTERM to every process, up to
// grace for them to exit (the reaper collects them), SIGKILL to the rest,
// sync, unmount everything but the root in reverse mount order (lazily:
// a busy mount must not block a reboot), sync again, and reboot(2). It
// returns only if reboot(2) fails.
func Shutdown(action Action, ops ShutdownOps, grace time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("shutting down", "action", action.String())
	ops.Kill(-1, syscall.SIGTERM)
	if !waitGone(ops.Others, grace) {
		log.Warn("processes still running after SIGTERM; killing them", "count", ops.Others())
		ops.Kill(-1, syscall.SIGKILL)
		waitGone(ops.Others, time.Second)
	}
	ops.Sync()
	if mps, err := ops.Mounts(); err != nil {
		log.Warn("cannot list mounts", "err", err)
	} else {
		for _, mp := range slices.Backward(mps) {
			if mp == "/" {
				continue
			}
			if err := ops.Unmount(mp, unix.MNT_DETACH); err != nil {
				log.Debug("unmount failed", "target", mp, "err", err)
			}
		}
	}
	ops.Sync()
	log.Info("system " + action.String())
	if err := ops.Reboot(action.RebootCmd()); err != nil {
		return fmt.Errorf("initsys: reboot(%s): %w", action, err)
	}
	return nil
}

func waitGone(others func() int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if others() == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OtherProcesses counts the user processes other than self: kernel
// threads (kthreadd, pid 2, and its children) do not count.
func OtherProcesses(proc string, self int) int {
	n := 0
	for _, p := range processes(proc) {
		if p.pid != self && p.pid != 2 && p.ppid != 2 && p.state != 'Z' {
			n++
		}
	}
	return n
}

// MountPoints reads the mount points of a /proc/mounts file, in order.
// Octal escapes (\040 for a space) are decoded.
func MountPoints(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("initsys: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fl := strings.Fields(sc.Text()); len(fl) >= 2 {
			out = append(out, unescapeMount(fl[1]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("initsys: reading %s: %w", path, err)
	}
	return out, nil
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	v := 0
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}
