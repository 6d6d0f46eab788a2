package netlimit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLimiter(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	var refused []string
	l := New(3, 2)
	l.OnRefuse = func(r string) { refused = append(refused, r) }
	var got []error
	var rels []func()
	for _, addr := range []netip.Addr{a, a, a, b, b} {
		rel, err := l.Acquire(addr)
		got = append(got, err)
		if rel != nil {
			rels = append(rels, rel)
		}
	}
	want := []error{nil, nil, ErrPerAddr, nil, ErrTotal}
	for i := range want {
		if !errors.Is(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
			t.Errorf("Acquire #%d = %v, want %v", i, got[i], want[i])
		}
	}
	if diff := cmp.Diff([]string{"per_addr", "total"}, refused); diff != "" {
		t.Errorf("OnRefuse reasons (-want +got):\n%s", diff)
	}
	rels[0]()
	rels[0]() // twice is harmless
	if total, byA := l.InUse(a); total != 2 || byA != 1 {
		t.Errorf("InUse after one release = %d, %d; want 2, 1", total, byA)
	}
	// An IPv4-mapped IPv6 address counts as the IPv4 address.
	if _, err := l.Acquire(netip.MustParseAddr("::ffff:192.0.2.1")); err != nil {
		t.Errorf("Acquire(mapped) = %v", err)
	}
	if _, err := l.Acquire(a); !errors.Is(err, ErrTotal) {
		t.Errorf("Acquire over total = %v, want ErrTotal", err)
	}
	var none *Limiter
	if rel, err := none.Acquire(a); err != nil || rel == nil {
		t.Errorf("nil Limiter refused: %v", err)
	}
}

// dialRefused reports whether the server ended a fresh connection
// without a reply.
func dialRefused(t *testing.T, addr string, from string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil, true
	}
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return c, false // held open: accepted
	}
	c.Close()
	return nil, true
}

func TestListenerCaps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := New(3, 2)
	l := Listen(ln, lim, ListenerOptions{})
	defer l.Close()
	go func() {
		for {
			// Accepted connections are never answered, so clients wait.
			if _, err := l.Accept(); err != nil {
				return
			}
		}
	}()
	var got []bool
	var open []net.Conn
	for _, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c, refused := dialRefused(t, ln.Addr().String(), from)
		got = append(got, refused)
		if c != nil {
			open = append(open, c)
		}
	}
	if diff := cmp.Diff([]bool{false, false, true, false, true}, got); diff != "" {
		t.Errorf("refused per connection (-want +got):\n%s", diff)
	}
	for _, c := range open {
		c.Close()
	}
}

// A client that stops reading is cut after WriteIdle; one that reads
// slowly is not; a file goes through ReadFrom whole.
func TestListenerWriteIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(ln, nil, ListenerOptions{WriteIdle: 300 * time.Millisecond})
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		_, err = c.Write(make([]byte, 64<<20)) // far beyond the socket buffers
		errc <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-errc:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("write to a client that never reads = %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write to a client that never reads was not cut")
	}

	// ReadFrom a file under a LimitedReader: the right bytes.
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, data, 0o644)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		f, _ := os.Open(path)
		defer f.Close()
		f.Seek(10, io.SeekStart)
		lr := &io.LimitedReader{R: f, N: int64(len(data) - 20)}
		n, err := c.(io.ReaderFrom).ReadFrom(lr)
		if err == nil && (n != int64(len(data)-20) || lr.N != 0) {
			err = errors.New("short copy")
		}
		errc <- err
	}()
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got, err := io.ReadAll(c2)
	if err != nil || !bytes.Equal(got, data[10:len(data)-10]) {
		t.Errorf("ReadFrom(file) sent %d bytes, %v; want %d", len(got), err, len(data)-20)
	}
	if err := <-errc; err != nil {
		t.Errorf("ReadFrom: %v", err)
	}
}
