package harness

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/pxelab"
	"github.com/razor-mk/razor-mk/internal/syncbuf"
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

// Netns is a network namespace created for one test: pxelab's namespace
// (shared with the demo and the benchmarks) with failures that end the
// test instead of errors.
type Netns struct {
	*pxelab.Netns
	t testing.TB
}

// NewNetns creates a namespace with its loopback up; t.Cleanup kills every
// process left in it and deletes it.
func NewNetns(t testing.TB, prefix string) *Netns {
	t.Helper()
	RequireNetns(t)
	ns, err := pxelab.NewNetns(fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nsSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Log(err)
		}
	})
	return &Netns{Netns: ns, t: t}
}

// MustIP is IP that fails the test on error.
func (n *Netns) MustIP(args ...string) {
	n.t.Helper()
	if err := n.IP(args...); err != nil {
		n.t.Fatal(err)
	}
}

// AddBridge creates a bridge with the given address (CIDR) and brings it
// up, forwarding as soon as a port is up.
func (n *Netns) AddBridge(name, cidr string) {
	n.t.Helper()
	if err := n.Netns.AddBridge(name, cidr); err != nil {
		n.t.Fatal(err)
	}
}

// AddTap creates a tap device enslaved to bridge and brings it up.
func (n *Netns) AddTap(name, bridge string) {
	n.t.Helper()
	if bridge == "" {
		n.MustIP("tuntap", "add", "dev", name, "mode", "tap")
		n.MustIP("link", "set", name, "up")
		return
	}
	if err := n.Netns.AddTap(name, bridge); err != nil {
		n.t.Fatal(err)
	}
}

// Proc is a background process started by a test.
type Proc struct {
	Cmd  *exec.Cmd
	name string
	out  *syncbuf.Buffer
	done chan struct{}
}

// Start runs cmd in the background, capturing its output; t.Cleanup kills
// it (SIGTERM, then SIGKILL) and logs its output if the test failed.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, name: name, out: &syncbuf.Buffer{}, done: make(chan struct{})}
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
