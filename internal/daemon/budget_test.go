package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// One client address cannot hold more than http_max_conns_per_ip
// connections; another address is still served, and the refusals are
// counted in /metrics.
func TestHTTPPerAddressBudget(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTPMaxConnsPerIP = 3
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	addr := d.Addr().String()
	dial := func(from string) (net.Conn, error) {
		dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		return dl.Dial("tcp", addr)
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 {
		c, err := dial("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	c, err := dial("127.0.0.1")
	if err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		var n int
		n, err = c.Read(make([]byte, 100))
		if err == nil || n > 0 {
			t.Errorf("a 4th connection from one address was served, want it closed")
		}
		c.Close()
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a 4th connection from one address was held open, want it closed")
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("4th connection: %v", err)
	}
	// Another address is served.
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial("127.0.0.2") }}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics from another address: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `razor_refused_total{reason="per_addr",svc="http"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
