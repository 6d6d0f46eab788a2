package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A transfer blocked waiting for an ACK (its socket reads block in the
// kernel, not in the runtime's poller) ends promptly when the server's
// context ends, long before its own timeout.
func TestCancelWakesBlockedTransfer(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte("y"), 100000), 0o644)
	var got Transfer
	ended := make(chan struct{})
	s, err := New(Options{Root: root, Timeout: 60 * time.Second, OnTransfer: func(tr Transfer) {
		got = tr
		close(ended)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	c := dialUDP(t, "127.0.0.1")
	c.WriteTo(rawRQ(opRRQ, "big", "octet"), conn.LocalAddr())
	if r, _ := reply(t, c, 5*time.Second); r != "DATA 1 512" {
		t.Fatalf("first reply = %q, want DATA 1 512", r)
	}
	// No ACK: the transfer waits up to 60 s for one.
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still waiting for the transfer 5 s after cancel")
	}
	<-ended
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if got.Err == nil || got.Bytes >= 100000 {
		t.Errorf("cancelled transfer reported %+v, want an error", got)
	}
}

// Lock-step transfers over IPv6: the transfer socket is AF_INET6,
// bound to the address the request came to.
func TestIPv6Transfer(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 2000)
	os.WriteFile(filepath.Join(root, "f"), data, 0o644)
	s, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, conn)
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteTo(rawRQ(opRRQ, "f", "octet"), conn.LocalAddr())
	var out []byte
	buf := make([]byte, 1024)
	for block := uint16(1); ; block++ {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("block %d: %v", block, err)
		}
		if binary.BigEndian.Uint16(buf) != opDATA || binary.BigEndian.Uint16(buf[2:]) != block {
			t.Fatalf("block %d: got % x", block, buf[:4])
		}
		if fa := from.(*net.UDPAddr); !fa.IP.Equal(net.IPv6loopback) {
			t.Fatalf("block %d came from %v", block, from)
		}
		out = append(out, buf[4:n]...)
		ack := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opACK), block)
		c.WriteTo(ack, from)
		if n-4 < 512 {
			break
		}
	}
	if !bytes.Equal(out, data) {
		t.Errorf("got %d bytes, want the file's %d", len(out), len(data))
	}
}
