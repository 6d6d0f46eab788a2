package initsys

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper collects the exit status of orphans: processes whose parent died
// are re-parented to PID 1 (or to a child subreaper), and stay zombies
// until it waits for them.
//
// It must not steal the exit status of children that this process's own
// code waits for (os/exec's Cmd.Wait, the Supervisor). Go holds a pidfd
// for every child it starts until Wait returns, so a zombie child that an
// open pidfd of this process refers to has an owner and is left alone;
// every other zombie child is reaped.
type Reaper struct {
	// Proc is where procfs is mounted; "" means /proc.
	Proc string
	// Interval is how often to look for zombies besides on SIGCHLD; 0
	// means 5s (signals can coalesce with a wait in progress elsewhere).
	Interval time.Duration
	Logger   *slog.Logger
}

// Run reaps orphans on every SIGCHLD until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	defer signal.Stop(ch)
	t := time.NewTicker(cmpOr(r.Interval, 5*time.Second))
	defer t.Stop()
	for {
		r.Reap()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-t.C:
		}
	}
}

// Reap waits for every unowned zombie child and returns their pids.
func (r *Reaper) Reap() []int {
	proc := r.Proc
	if proc == "" {
		proc = "/proc"
	}
	zombies := ZombieChildren(proc, os.Getpid())
	if len(zombies) == 0 {
		return nil
	}
	owned := pidfdTargets(proc)
	var reaped []int
	for _, pid := range zombies {
		if owned[pid] {
			continue
		}
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil || got != pid {
			continue
		}
		reaped = append(reaped, pid)
		if r.Logger != nil {
			r.Logger.Debug("reaped orphan", "pid", pid, "status", exitString(ws))
		}
	}
	return reaped
}

// ZombieChildren lists the zombie processes whose parent is ppid, from
// proc's <pid>/stat files.
func ZombieChildren(proc string, ppid int) []int {
	var out []int
	for _, p := range processes(proc) {
		if p.state == 'Z' && p.ppid == ppid {
			out = append(out, p.pid)
		}
	}
	return out
}

type procStat struct {
	pid, ppid int
	state     byte
}

// processes reads every process's stat line; processes that vanish while
// it reads are skipped.
func processes(proc string) []procStat {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if st, ok := parseStat(b); ok && st.pid == pid {
			out = append(out, st)
		}
	}
	return out
}

// parseStat reads "pid (comm) state ppid ..."; comm may hold spaces and
// parentheses, so the fields after it are found from the last ')'.
func parseStat(b []byte) (procStat, bool) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return procStat{}, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return procStat{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return procStat{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, state: f[0][0]}, true
}

// pidfdTargets returns the pids this process holds pidfds for, from the
// "Pid:" line the kernel shows in a pidfd's fdinfo.
func pidfdTargets(proc string) map[int]bool {
	dir := filepath.Join(proc, "self", "fdinfo")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[int]bool{}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pid:"); ok {
				if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && pid > 0 {
					out[pid] = true
				}
			}
		}
		f.Close()
	}
	return out
}

func exitString(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal " + ws.Signal().String()
	}
	return "status " + strconv.Itoa(int(ws))
}

// SetSubreaper makes this process the reaper of its orphaned descendants
// (PR_SET_CHILD_SUBREAPER), as PID 1 is for the whole system. Tests and a
// non-PID-1 init use it.
func SetSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return errors.Join(errors.New("initsys: PR_SET_CHILD_SUBREAPER"), err)
	}
	return nil
}
