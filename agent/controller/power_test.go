package controller

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/wire"
)

// fakeProc builds a /proc with 1/exe and self/exe symlinks (the same or
// different targets) or only a 1/cmdline.
func fakeProc(t *testing.T, sameExe bool, cmdline string) string {
	t.Helper()
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	for _, d := range []string{"1", "self", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"mk-agent", "busybox"} {
		if err := os.WriteFile(filepath.Join(bin, f), []byte(f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cmdline != "" {
		if err := os.WriteFile(filepath.Join(root, "1", "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
		return root
	}
	one := filepath.Join(bin, "busybox")
	if sameExe {
		one = filepath.Join(bin, "mk-agent")
	}
	if err := os.Symlink(one, filepath.Join(root, "1", "exe")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(bin, "mk-agent"), filepath.Join(root, "self", "exe")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestSystemPower(t *testing.T) {
	type action struct {
		Signal  syscall.Signal
		Program string
	}
	tests := []struct {
		name    string
		proc    func(t *testing.T) string
		cmd     wire.Command
		dryRun  bool
		want    []action
		wantErr error
	}{
		{name: "our init reboot", proc: func(t *testing.T) string { return fakeProc(t, true, "") }, cmd: wire.Reboot, want: []action{{Signal: syscall.SIGTERM}}},
		{name: "our init poweroff", proc: func(t *testing.T) string { return fakeProc(t, true, "") }, cmd: wire.Poweroff, want: []action{{Signal: syscall.SIGUSR2}}},
		{name: "other init reboot", proc: func(t *testing.T) string { return fakeProc(t, false, "") }, cmd: wire.Reboot, want: []action{{Program: "/sbin/reboot"}}},
		{name: "other init poweroff", proc: func(t *testing.T) string { return fakeProc(t, false, "") }, cmd: wire.Poweroff, want: []action{{Program: "/sbin/poweroff"}}},
		{name: "cmdline fallback", proc: func(t *testing.T) string { return fakeProc(t, false, "/sbin/mk-agent\x00init\x00") }, cmd: wire.Reboot, want: []action{{Signal: syscall.SIGTERM}}},
		{name: "cmdline of busybox", proc: func(t *testing.T) string { return fakeProc(t, false, "/sbin/init\x00") }, cmd: wire.Poweroff, want: []action{{Program: "/sbin/poweroff"}}},
		{name: "dry run", proc: func(t *testing.T) string { return fakeProc(t, true, "") }, cmd: wire.Reboot, dryRun: true},
		{name: "not a power command", proc: func(t *testing.T) string { return fakeProc(t, true, "") }, cmd: wire.Register, wantErr: ErrUnknownPowerCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []action
			p := &SystemPower{
				DryRun:   tt.dryRun,
				ProcRoot: tt.proc(t),
				Kill: func(pid int, sig syscall.Signal) error {
					if pid != 1 {
						t.Errorf("signalled PID %d, want 1", pid)
					}
					got = append(got, action{Signal: sig})
					return nil
				},
				Run: func(_ context.Context, prog string) error {
					got = append(got, action{Program: prog})
					return nil
				},
			}
			err := p.Do(context.Background(), tt.cmd)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do(%s) = %v, want %v", tt.cmd, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Do(%s) actions mismatch (-want +got):\n%s", tt.cmd, diff)
			}
		})
	}
}

func TestSystemPowerRunsProgram(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	prog := filepath.Join(dir, "reboot")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho ok > "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &SystemPower{ProcRoot: fakeProc(t, false, ""), RebootCmd: prog}
	if err := p.Do(context.Background(), wire.Reboot); err != nil {
		t.Fatalf("Do(reboot) = %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("reboot program did not run: %v", err)
	}
	failing := &SystemPower{ProcRoot: fakeProc(t, false, ""), PoweroffCmd: filepath.Join(dir, "missing")}
	if err := failing.Do(context.Background(), wire.Poweroff); err == nil {
		t.Error("Do(poweroff) with a missing program = nil error")
	}
}
