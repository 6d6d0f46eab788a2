package tftp

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ptftp "github.com/pin/tftp/v3"
)

// OnTransfer reports each read request: sent whole, or refused.
func TestOnTransfer(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("x"), 3000)
	os.WriteFile(filepath.Join(root, "undionly.kpxe"), data, 0o644)
	var mu sync.Mutex
	var got []Transfer
	s, err := New(Options{Root: root, OnTransfer: func(tr Transfer) {
		mu.Lock()
		got = append(got, tr)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	c, _ := ptftp.NewClient(conn.LocalAddr().String())
	wt, err := c.Receive("undionly.kpxe", "octet")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Receive("../etc/passwd", "octet"); err == nil {
		t.Error("Receive(../etc/passwd) succeeded")
	}
	// The client is done when it has sent its last ACK; the server is
	// done when it has read it. Cancelling before then ends the transfer
	// with the context's error, which is not what this test is about.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
	}
	cancel()
	<-done // waits for running transfers
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("OnTransfer calls = %+v, want 2", got)
	}
	if got[0].File != "undionly.kpxe" { // the refusal may be reported first
		got[0], got[1] = got[1], got[0]
	}
	if g := got[0]; g.File != "undionly.kpxe" || g.Bytes != 3000 || g.Size != 3000 || g.Err != nil || g.Peer.String() != "127.0.0.1" {
		t.Errorf("sent transfer = %+v", g)
	}
	if g := got[1]; g.Err == nil || g.Bytes != 0 || g.File != "../etc/passwd" {
		t.Errorf("refused transfer = %+v", g)
	}
}
