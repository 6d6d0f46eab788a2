package runlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary hold a lock in a child process:
// RUNLOCK_HOLD=path makes it take the lock, say so and wait for stdin to
// close.
func TestMain(m *testing.M) {
	if p := os.Getenv("RUNLOCK_HOLD"); p != "" {
		l, err := Acquire(p, "child pid "+strings.TrimSpace(os.Getenv("RUNLOCK_WHO")))
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		b := make([]byte, 1)
		os.Stdin.Read(b)
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A lock held by another process refuses a second holder and names the
// first; once that process is killed (no clean-up), the lock is free.
func TestAcquireAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "razor.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RUNLOCK_HOLD="+path, "RUNLOCK_WHO=first")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("child: %q %v", buf, err)
	}
	_, err = Acquire(path, "second")
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "child pid first") {
		t.Fatalf("Acquire while held = %v, want ErrHeld naming the holder", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := Acquire(path, "second")
		if err == nil {
			data, _ := os.ReadFile(path)
			if got := string(data); got != "second\n" {
				t.Errorf("lock file = %q, want the new holder", got)
			}
			l.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Acquire after the holder died = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Within one process a second Acquire on another descriptor is refused
// too (flock locks belong to the open file, not the process).
func TestAcquireTwiceInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path, "one")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(path, "two"); !errors.Is(err, ErrHeld) {
		t.Errorf("second Acquire = %v, want ErrHeld", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path, "two")
	if err != nil {
		t.Fatalf("Acquire after Release = %v", err)
	}
	l2.Release()
}
