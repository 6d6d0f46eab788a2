package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	rs := []Result{{PerSec: 3}, {PerSec: 1}, {PerSec: 2}}
	if got := median(rs, func(r Result) float64 { return r.PerSec }); got != 2 {
		t.Errorf("median(3,1,2) = %v, want 2", got)
	}
	if got := median(rs[:2], func(r Result) float64 { return r.PerSec }); got != 2 {
		t.Errorf("median(3,1) = %v, want 2", got)
	}
}

// The load generator against the bare server: a short bounded run of
// each mode gives a result with no errors.
func TestLoadAgainstBare(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serveBare(ctx, addr)
	for i := 0; ; i++ {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			t.Fatal("bare server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, mode := range []string{"register", "checkin"} {
		var out bytes.Buffer
		if err := run(ctx, []string{"-url", "http://" + addr, "-mode", mode, "-nodes", "50", "-conc", "4", "-duration", "300ms"}, &out); err != nil {
			t.Fatalf("run(%s) = %v", mode, err)
		}
		var r Result
		if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Requests == 0 || r.Errors != 0 || r.PerSec <= 0 || r.P99ms < r.P50ms {
			t.Errorf("run(%s) = %s, %v", mode, out.String(), err)
		}
	}
	if err := run(ctx, []string{"-mode", "dance"}, &bytes.Buffer{}); err == nil {
		t.Errorf("run(-mode dance) = nil error")
	}
}
