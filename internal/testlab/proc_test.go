package testlab

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestProcLines(t *testing.T) {
	var seen []string
	p, err := StartProc("sh", exec.Command("sh", "-c", `printf 'one\r\n\033[1mtwo\033[0m\n'; echo three >&2; exec sleep 30`), func(l Line) {
		seen = append(seen, l.Text)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	l, i, err := p.WaitFor(t.Context(), 0, regexp.MustCompile(`^three$`), 10*time.Second)
	if err != nil {
		t.Fatalf("WaitFor(three) = %v", err)
	}
	if i != 2 || l.Time.Before(p.Started) {
		t.Errorf("WaitFor(three) = %+v at %d, want index 2 after the start", l, i)
	}
	if _, _, err := p.WaitFor(t.Context(), 0, regexp.MustCompile(`^two$`), time.Second); err != nil {
		t.Errorf("WaitFor(two) = %v; escapes not removed? lines %q", err, p.Lines())
	}
	if _, _, err := p.WaitFor(t.Context(), 3, regexp.MustCompile(`never`), 200*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitFor(never) = %v, want ErrTimeout", err)
	}
	p.Stop()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end the program")
	}
	if got := strings.Join(seen, "|"); got != "one|two|three" {
		t.Errorf("onLine saw %q, want one|two|three", got)
	}
}

func TestProcExit(t *testing.T) {
	p, err := StartProc("sh", exec.Command("sh", "-c", "echo bye; exit 3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.WaitFor(t.Context(), 0, regexp.MustCompile(`never`), 10*time.Second); !errors.Is(err, ErrExited) {
		t.Errorf("WaitFor on an exited program = %v, want ErrExited", err)
	}
	<-p.Done()
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", p.Err())
	}
	if ls := p.Lines(); len(ls) != 1 || ls[0].Text != "bye" {
		t.Errorf("Lines() = %+v, want [bye]", ls)
	}
}

func TestCheck(t *testing.T) {
	err := Check("no-such-program-razor")
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "no-such-program-razor (not on PATH)") {
		t.Errorf("Check(no-such-program-razor) = %v, want ErrMissing naming it", err)
	}
}

// TestNetns builds a bridge and a tap and talks HTTP to a server inside
// the namespace.
func TestOpenNetns(t *testing.T) {
	if err := Check("busybox"); err != nil {
		t.Skip(err)
	}
	ns, err := OpenNetns(fmt.Sprintf("testlab-test-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			ns.Close()
		}
	}()
	if err := ns.AddBridge("br0", "10.79.5.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddTap("tap0", "br0"); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddTap("tap0", "br0"); err == nil {
		t.Error("AddTap(tap0) twice succeeded, want an error")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/hello", []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := StartProc("httpd", ns.Command("busybox", "httpd", "-f", "-p", "10.79.5.1:8080", "-h", dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	var resp *http.Response
	for i := 0; i < 50; i++ {
		if resp, err = ns.HTTPClient().Get("http://10.79.5.1:8080/hello"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET from inside the namespace: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /hello = %d, want 200", resp.StatusCode)
	}
	if err := ns.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	closed = true
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Error("Close left the namespace's server running")
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), ns.Name) {
		t.Errorf("namespace %s still listed after Close", ns.Name)
	}
}
