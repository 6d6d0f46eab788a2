package netlimit

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultWriteIdle is Listen's default: a write that makes no progress
// for this long fails and the connection ends.
const DefaultWriteIdle = 60 * time.Second

// ListenerOptions configure Listen.
type ListenerOptions struct {
	// WriteIdle bounds each write (default DefaultWriteIdle): the
	// deadline is set afresh before every write, so a long download that
	// keeps moving is never cut while a client that stops reading is.
	WriteIdle time.Duration
}

// Listen wraps ln: each accepted connection takes a slot of lim (nil: no
// limit) for its client address and gives it back when closed; a
// connection past a cap is closed at once and Accept goes on to the
// next, so a refused client costs a descriptor for microseconds only.
func Listen(ln net.Listener, lim *Limiter, o ListenerOptions) net.Listener {
	if o.WriteIdle <= 0 {
		o.WriteIdle = DefaultWriteIdle
	}
	return &listener{Listener: ln, lim: lim, o: o}
}

type listener struct {
	net.Listener
	lim *Limiter
	o   ListenerOptions
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, err := l.lim.Acquire(AddrOf(c.RemoteAddr()))
		if err != nil {
			// A reset rather than an orderly close: no TIME_WAIT kept
			// for a refused client.
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			continue
		}
		return &conn{Conn: c, release: release, idle: l.o.WriteIdle}, nil
	}
}

// conn releases its slot on Close and keeps a moving write deadline.
type conn struct {
	net.Conn
	release func()
	idle    time.Duration
	once    sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *conn) Write(p []byte) (int, error) {
	var n int
	for n < len(p) {
		// Each chunk gets its own deadline, so that a large buffer
		// written to a slow but live client is not cut.
		end := min(len(p), n+1<<20)
		c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
		m, err := c.Conn.Write(p[n:end])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readFromChunk is how much ReadFrom hands the kernel per deadline.
const readFromChunk = 4 << 20

// ReadFrom keeps net/http's sendfile(2) path for files (the TCP
// connection's ReadFrom), in chunks that each get a fresh write
// deadline.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{c}, r)
	}
	// An *os.File under at most one io.LimitedReader is what the kernel
	// path recognises; unwrap it so that our chunking does not hide it.
	src, limit := r, int64(-1)
	lr, _ := r.(*io.LimitedReader)
	if lr != nil {
		src, limit = lr.R, lr.N
	}
	if _, isFile := src.(*os.File); !isFile {
		return io.Copy(writerOnly{c}, r)
	}
	if lr != nil {
		defer func() { lr.N = limit }()
	}
	var total int64
	for limit != 0 {
		chunk := int64(readFromChunk)
		if limit > 0 {
			chunk = min(chunk, limit)
		}
		c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: chunk})
		total += n
		if limit > 0 {
			limit -= n
		}
		if err != nil {
			return total, err
		}
		if n < chunk {
			return total, nil // EOF
		}
	}
	return total, nil
}

// writerOnly hides ReadFrom so that io.Copy does not recurse.
type writerOnly struct{ io.Writer }

// CloseWrite half-closes the connection when the one below can (a TCP
// connection): net/http does so before closing a connection whose client
// may still be sending, so that the reply is not lost to a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap is the connection below, for code that needs the *net.TCPConn.
func (c *conn) Unwrap() net.Conn { return c.Conn }

var _ io.ReaderFrom = (*conn)(nil)
