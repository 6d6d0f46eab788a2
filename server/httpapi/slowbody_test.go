package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Many clients send the headers of a POST and then trickle its body. On
// the paths answered without reading the body (401 on the admin API,
// 429 on a rate-limited node API) each must get its answer and see the
// connection closed at once, rather than the server waiting to drain
// the body; /healthz keeps answering fast meanwhile.
func TestSlowBodyEarlyRefusals(t *testing.T) {
	e := newEnv(t, envOpts{rateLimit: 0.001, rateBurst: 1})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	// Use up the node API's burst for 127.0.0.1.
	if resp, err := http.Get(srv.URL + "/razor/api/node/checkin?hw_id=525400000001"); err == nil {
		resp.Body.Close()
	}
	const perPath = 100
	type result struct {
		path string
		code int
		took time.Duration
		err  error
	}
	results := make(chan result, 2*perPath)
	var wg sync.WaitGroup
	for _, path := range []string{"/api/v1/tags", "/razor/api/node/register"} {
		for range perPath {
			wg.Go(func() {
				start := time.Now()
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					results <- result{path: path, err: err}
					return
				}
				defer conn.Close()
				// 100 kB announced (below net/http's 256 kB drain limit),
				// 1 byte sent.
				fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", path)
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					results <- result{path: path, err: fmt.Errorf("no answer: %w", err)}
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				// The server closes its side: a read ends (EOF), not
				// times out.
				if _, err := br.ReadByte(); err == nil || isTimeout(err) {
					results <- result{path: path, code: resp.StatusCode, err: fmt.Errorf("connection held open after the answer: %v", err)}
					return
				}
				results <- result{path: path, code: resp.StatusCode, took: time.Since(start)}
			})
		}
	}
	// /healthz answers within a second while the slow bodies are held.
	for range 5 {
		start := time.Now()
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get(srv.URL + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET /healthz during slow bodies = %v, %v", resp, err)
		} else {
			resp.Body.Close()
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("GET /healthz took %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(results)
	want := map[string]int{"/api/v1/tags": 401, "/razor/api/node/register": 429}
	bad := 0
	for r := range results {
		if r.err != nil || r.code != want[r.path] || r.took > 3*time.Second {
			if bad++; bad <= 5 {
				t.Errorf("POST %s with a stalled body = %d after %v, %v; want %d and the connection closed", r.path, r.code, r.took, r.err, want[r.path])
			}
		}
	}
	if bad > 5 {
		t.Errorf("… %d failures in all", bad)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
