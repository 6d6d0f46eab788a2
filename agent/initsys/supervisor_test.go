package initsys

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv selects what the test binary does when run as a fake child
// program by these tests.
const childEnv = "INITSYS_FAKE_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "crash":
		os.Exit(3)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Minute)
		os.Exit(0)
	case "agent":
		// Leave a mark, then run until told to stop.
		os.WriteFile(os.Getenv("INITSYS_MARK"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		os.Exit(0)
	}
	os.Exit(2)
}

func fakeChild(t *testing.T, mode string, env ...string) func() *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func() *exec.Cmd {
		c := exec.Command(self)
		c.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
		return c
	}
}

func TestSupervisorBackoff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var starts []time.Time
	s := &Supervisor{
		Name: "crasher", Command: fakeChild(t, "crash"),
		MinBackoff: 40 * time.Millisecond, MaxBackoff: 160 * time.Millisecond, StableAfter: time.Minute,
		Started: func(int) {
			mu.Lock()
			defer mu.Unlock()
			if starts = append(starts, time.Now()); len(starts) == 6 {
				cancel()
			}
		},
	}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 6 {
		t.Fatalf("crashing child started %d times in 30s, want it restarted 5 times", len(starts))
	}
	// The backoff doubles from 40ms and stops at 160ms: never a tight loop.
	want := []time.Duration{40, 80, 160, 160, 160}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < want[i-1]*time.Millisecond {
			t.Errorf("restart %d came %v after the previous start, want >= %vms backoff", i, gap, want[i-1])
		}
	}
}

func TestRestartDelay(t *testing.T) {
	const minB, stable = time.Second, time.Minute
	tests := []struct {
		backoff, ran, want time.Duration
	}{
		{time.Second, 0, time.Second},
		{8 * time.Second, 2 * time.Second, 8 * time.Second},    // crashing fast: keep backing off
		{30 * time.Second, time.Minute, time.Second},           // a stable run resets the backoff
		{30 * time.Second, 59 * time.Second, 30 * time.Second}, // not quite stable
	}
	for _, tt := range tests {
		if got := restartDelay(tt.backoff, tt.ran, minB, stable); got != tt.want {
			t.Errorf("restartDelay(%v, ran %v) = %v, want %v", tt.backoff, tt.ran, got, tt.want)
		}
	}
}

func TestSupervisorStop(t *testing.T) {
	const grace = 3 * time.Second
	for _, tt := range []struct {
		mode     string
		min, max time.Duration
	}{
		{"agent", 0, grace - 500*time.Millisecond},    // exits on SIGTERM
		{"ignore-term", grace, grace + 3*time.Second}, // SIGKILL after the grace period
	} {
		t.Run(tt.mode, func(t *testing.T) {
			mark := t.TempDir() + "/mark"
			var pid int
			started := make(chan struct{})
			s := &Supervisor{Name: tt.mode, Command: fakeChild(t, tt.mode, "INITSYS_MARK="+mark),
				StopGrace: grace, Started: func(p int) { pid = p; close(started) }}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			<-started
			time.Sleep(300 * time.Millisecond) // let the child set up its signals
			t0 := time.Now()
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
			if took := time.Since(t0); took < tt.min || took > tt.max {
				t.Errorf("stopping took %v, want %v..%v", took, tt.min, tt.max)
			}
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("child %d still exists after Run returned", pid)
			}
		})
	}
}

func TestReaper(t *testing.T) {
	if err := SetSubreaper(); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	// An owned child: started by this process, to be waited for by it.
	owned := exec.Command("sleep", "0.2")
	if err := owned.Start(); err != nil {
		t.Skipf("needs sleep(1): %v", err)
	}
	// An orphan: sh starts sleep in the background and exits; the sleep is
	// re-parented to this process (the subreaper) and becomes a zombie.
	out, err := exec.Command("sh", "-c", "sleep 0.1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	// Wait until both have exited and are zombies.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		zs := ZombieChildren("/proc", os.Getpid())
		if contains(zs, orphan) && contains(zs, owned.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ZombieChildren = %v, want the orphan %d and the owned child %d", zs, orphan, owned.Process.Pid)
		}
	}
	r := &Reaper{}
	got := r.Reap()
	if !contains(got, orphan) {
		t.Errorf("Reap() = %v, want the orphan %d reaped", got, orphan)
	}
	if contains(got, owned.Process.Pid) {
		t.Errorf("Reap() = %v reaped the owned child %d, whose owner waits for it", got, owned.Process.Pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); err == nil {
		t.Errorf("orphan %d still in /proc after Reap", orphan)
	}
	if err := owned.Wait(); err != nil {
		t.Errorf("owned child's Wait = %v, want its real exit status 0", err)
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
