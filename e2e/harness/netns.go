package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RequireNetns skips t unless this process can create network namespaces
// and tap devices (root, iproute2, /dev/net/tun).
func RequireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and taps")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun for tap devices")
	}
}

var nsSeq atomic.Int32

// Netns is a network namespace created for one test.
type Netns struct {
	Name string
	t    testing.TB
}

// NewNetns creates a namespace with its loopback up; t.Cleanup kills every
// process left in it and deletes it.
func NewNetns(t testing.TB, prefix string) *Netns {
	t.Helper()
	RequireNetns(t)
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &Netns{Name: name, t: t}
	t.Cleanup(n.destroy)
	n.MustIP("link", "set", "lo", "up")
	return n
}

func (n *Netns) destroy() {
	// Kill what the test left running inside, then delete the namespace,
	// which also removes its bridges, taps and veth ends.
	for range 3 {
		out, _ := exec.Command("ip", "netns", "pids", n.Name).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			var pid int
			fmt.Sscan(p, &pid)
			if pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		n.t.Logf("ip netns del %s: %v: %s", n.Name, err, out)
	}
}

// IP runs `ip -n <ns> args…`.
func (n *Netns) IP(args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// MustIP is IP that fails the test on error.
func (n *Netns) MustIP(args ...string) {
	n.t.Helper()
	if err := n.IP(args...); err != nil {
		n.t.Fatal(err)
	}
}

// AddBridge creates a bridge with the given address (CIDR) and brings it up.
func (n *Netns) AddBridge(name, cidr string) {
	n.t.Helper()
	n.MustIP("link", "add", name, "type", "bridge")
	// No STP or forwarding delay: a port forwards as soon as it is up.
	n.MustIP("link", "set", name, "type", "bridge", "forward_delay", "0", "stp_state", "0")
	if cidr != "" {
		n.MustIP("addr", "add", cidr, "dev", name)
	}
	n.MustIP("link", "set", name, "up")
}

// AddTap creates a tap device enslaved to bridge and brings it up.
func (n *Netns) AddTap(name, bridge string) {
	n.t.Helper()
	n.MustIP("tuntap", "add", "dev", name, "mode", "tap")
	if bridge != "" {
		n.MustIP("link", "set", name, "master", bridge)
	}
	n.MustIP("link", "set", name, "up")
}

// Command returns a command that runs inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Proc is a background process started by a test.
type Proc struct {
	Cmd  *exec.Cmd
	name string
	out  *syncBuffer
	done chan struct{}
}

// Start runs cmd in the background, capturing its output; t.Cleanup kills
// it (SIGTERM, then SIGKILL) and logs its output if the test failed.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, name: name, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	return p
}

// Stop terminates the process and waits up to 5 s before killing it.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Output returns what the process has written so far.
func (p *Proc) Output() string { return p.out.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
