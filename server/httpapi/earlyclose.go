package httpapi

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// closeUnread marks a reply to a request whose body was not read to the
// end with "Connection: close" and ends the connection's reading. Without
// it net/http, before and after writing the reply, drains up to 256 kB of the unread body to keep the connection
// alive; a client trickling that body then holds the connection (and a
// descriptor) for as long as it likes on every path that answers without
// reading the body: a 401 on the admin API, a 429 from the rate limiter,
// a 404 or 405 from the mux. Requests without a body pass untouched, so
// image downloads keep their sendfile path.
//
// A body is also given bodyTimeout to arrive, whoever reads it.
func closeUnread(next http.Handler, bodyTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		b := &eofBody{ReadCloser: r.Body}
		r.Body = b
		next.ServeHTTP(&closeWriter{ResponseWriter: w, body: b}, r)
	})
}

// eofBody records whether the body was read to its end.
type eofBody struct {
	io.ReadCloser
	eof atomic.Bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// closeWriter adds "Connection: close" when the reply starts before the
// body was read to its end.
type closeWriter struct {
	http.ResponseWriter
	body    *eofBody
	started bool
}

func (c *closeWriter) start() {
	if !c.started {
		c.started = true
		if !c.body.eof.Load() {
			c.ResponseWriter.Header().Set("Connection", "close")
			// After the handler, net/http closes the body, which reads
			// up to 256 kB of it even when the connection is closing; an
			// expired read deadline makes that give up at once.
			_ = http.NewResponseController(c.ResponseWriter).SetReadDeadline(time.Now())
		}
	}
}

func (c *closeWriter) WriteHeader(code int) {
	c.start()
	c.ResponseWriter.WriteHeader(code)
}

func (c *closeWriter) Write(p []byte) (int, error) {
	c.start()
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (c *closeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
