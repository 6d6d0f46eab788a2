package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialContext opens a connection from inside the namespace: the socket is
// created on an OS thread switched into the namespace with setns(2), and
// stays there when the thread switches back.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	target, err := os.Open("/var/run/netns/" + n.Name)
	if err != nil {
		return nil, fmt.Errorf("harness: netns %s: %w", n.Name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("harness: setns %s: %w", n.Name, err)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine instead of
		// serving others from the wrong namespace.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("harness: setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

// HTTPClient returns a client whose connections are made inside the
// namespace.
func (n *Netns) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: n.DialContext, DisableKeepAlives: true},
	}
}
