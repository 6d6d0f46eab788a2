package testlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrMissing is wrapped by Check's errors: something the lab needs is not
// on this machine.
var ErrMissing = errors.New("testlab: missing")

// Check reports what this machine lacks to run a lab: root, iproute2,
// /dev/net/tun and the named programs. The error lists every missing
// piece.
func Check(programs ...string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and tap devices need it)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = append(missing, "/dev/net/tun (the tun module, for tap devices)")
	}
	for _, p := range append([]string{"ip"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p+" (not on PATH)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, "; "))
	}
	return nil
}

// Netns is a network namespace created by OpenNetns.
type Netns struct {
	Name string
}

// OpenNetns creates a namespace with its loopback up and IPv6 duplicate
// address detection off (so that a bridge's link-local address, which
// router advertisements come from, is usable at once).
func OpenNetns(name string) (*Netns, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testlab: ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	n := &Netns{Name: name}
	if err := n.IP("link", "set", "lo", "up"); err != nil {
		n.Close()
		return nil, err
	}
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		if out, err := n.Command("sysctl", "-qw", k).CombinedOutput(); err != nil {
			n.Close()
			return nil, fmt.Errorf("testlab: sysctl %s in %s: %v: %s", k, name, err, bytes.TrimSpace(out))
		}
	}
	return n, nil
}

// Close kills every process left in the namespace and deletes it, which
// also removes its bridges and taps.
func (n *Netns) Close() error {
	for range 3 {
		out, _ := exec.Command("ip", "netns", "pids", n.Name).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("testlab: ip netns del %s: %v: %s", n.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// IP runs `ip -n <ns> args…`.
func (n *Netns) IP(args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testlab: ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// AddBridge creates a bridge with the address cidr (if not empty),
// forwarding as soon as a port is up, and brings it up.
func (n *Netns) AddBridge(name, cidr string) error {
	steps := [][]string{
		{"link", "add", name, "type", "bridge"},
		{"link", "set", name, "type", "bridge", "forward_delay", "0", "stp_state", "0"},
	}
	if cidr != "" {
		steps = append(steps, []string{"addr", "add", cidr, "dev", name})
	}
	steps = append(steps, []string{"link", "set", name, "up"})
	for _, s := range steps {
		if err := n.IP(s...); err != nil {
			return err
		}
	}
	return nil
}

// AddTap creates a tap device on bridge and brings it up.
func (n *Netns) AddTap(name, bridge string) error {
	for _, s := range [][]string{
		{"tuntap", "add", "dev", name, "mode", "tap"},
		{"link", "set", name, "master", bridge},
		{"link", "set", name, "up"},
	} {
		if err := n.IP(s...); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// DialContext connects from inside the namespace: the socket is made on
// an OS thread switched into the namespace with setns(2), and keeps
// belonging to it when the thread switches back.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := InNetns(n.Name, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// InNetns runs fn on an OS thread inside the named network namespace;
// sockets fn opens stay in it. The thread goes back to its own namespace
// before it is reused; if that fails, the goroutine ends locked and the
// runtime discards the thread rather than run others in the wrong
// namespace.
func InNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("testlab: open own namespace: %w", err)
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + name)
		if err != nil {
			errc <- fmt.Errorf("testlab: netns %s: %w", name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("testlab: enter netns %s: %w", name, err)
			return
		}
		err = fn()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// HTTPClient returns a client whose connections are made inside the
// namespace.
func (n *Netns) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: n.DialContext, DisableKeepAlives: true},
	}
}
