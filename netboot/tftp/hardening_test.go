package tftp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawRQ builds a request packet: opcode, then NUL-terminated fields.
func rawRQ(op uint16, fields ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	return b
}

// reply is a decoded answer: "ERROR <code>", "OACK name=value …" or
// "DATA <block> <len>".
func reply(t *testing.T, c net.PacketConn, wait time.Duration) (string, net.Addr) {
	t.Helper()
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		return "none", nil
	}
	b := buf[:n]
	switch binary.BigEndian.Uint16(b) {
	case opERROR:
		return fmt.Sprintf("ERROR %d", binary.BigEndian.Uint16(b[2:])), from
	case opOACK:
		f := strings.Split(strings.TrimSuffix(string(b[2:]), "\x00"), "\x00")
		var kv []string
		for i := 0; i+1 < len(f); i += 2 {
			kv = append(kv, f[i]+"="+f[i+1])
		}
		return "OACK " + strings.Join(kv, " "), from
	case opDATA:
		return fmt.Sprintf("DATA %d %d", binary.BigEndian.Uint16(b[2:]), n-4), from
	}
	return fmt.Sprintf("op %d", binary.BigEndian.Uint16(b)), from
}

func dialUDP(t *testing.T, from string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", from+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Requests answered at the protocol level: option names in any case
// (RFC 2347), write requests refused with error 2, refused paths with
// error 2 and missing files with error 1, strays unanswered.
func TestRequestHandling(t *testing.T) {
	addr, data, _ := serve(t)
	srv, _ := net.ResolveUDPAddr("udp4", addr)
	tests := []struct {
		name string
		pkt  []byte
		want string
	}{
		{"upper-case options", rawRQ(opRRQ, "images/mk/initrd", "OCTET", "BLKSIZE", "1024", "TSize", "0"), fmt.Sprintf("OACK blksize=1024 tsize=%d", len(data))},
		{"unknown option ignored", rawRQ(opRRQ, "images/mk/initrd", "octet", "Frobnicate", "1", "timeout", "3"), "OACK timeout=3"},
		{"bad blksize ignored", rawRQ(opRRQ, "undionly.kpxe", "octet", "blksize", "7"), "DATA 1 4"},
		{"no options", rawRQ(opRRQ, "undionly.kpxe", "octet"), "DATA 1 4"},
		{"write request", rawRQ(opWRQ, "upload", "octet"), "ERROR 2"},
		{"traversal", rawRQ(opRRQ, "../secret", "octet"), "ERROR 2"},
		{"escaping symlink", rawRQ(opRRQ, "escape", "octet"), "ERROR 2"},
		{"directory", rawRQ(opRRQ, "images", "octet"), "ERROR 2"},
		{"missing", rawRQ(opRRQ, "missing", "octet"), "ERROR 1"},
		{"mail mode", rawRQ(opRRQ, "undionly.kpxe", "mail"), "ERROR 4"},
		{"truncated request", []byte{0, 1, 'a'}, "ERROR 4"},
		{"stray ACK", []byte{0, 4, 0, 1}, "none"},
		{"stray DATA", []byte{0, 3, 0, 1, 'x'}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialUDP(t, "127.0.0.1")
			c.WriteTo(tt.pkt, srv)
			wait := 3 * time.Second
			if tt.want == "none" {
				wait = 500 * time.Millisecond
			}
			got, _ := reply(t, c, wait)
			if got != tt.want {
				t.Errorf("reply = %q, want %q", got, tt.want)
			}
		})
	}
}

// Transfers are capped per client address and in all; a refusal is
// error 0 at once. A slot is given back when its transfer ends.
func TestTransferCaps(t *testing.T) {
	var mu sync.Mutex
	var refused []string
	addr, _, _ := serveWith(t, Options{MaxTransfers: 3, MaxPerAddr: 2, Timeout: 300 * time.Millisecond, Retries: 1,
		OnRefuse: func(r string) { mu.Lock(); refused = append(refused, r); mu.Unlock() }})
	srv, _ := net.ResolveUDPAddr("udp4", addr)
	var got []string
	// Requests that are never acknowledged hold their transfer.
	for _, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c := dialUDP(t, from)
		c.WriteTo(rawRQ(opRRQ, "undionly.kpxe", "octet"), srv)
		r, _ := reply(t, c, 3*time.Second)
		got = append(got, r)
	}
	want := []string{"DATA 1 4", "DATA 1 4", "ERROR 0", "DATA 1 4", "ERROR 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replies (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"per_addr", "total"}, refused); diff != "" {
		t.Errorf("OnRefuse (-want +got):\n%s", diff)
	}
	// The held transfers time out (2 × 300 ms); then the slots are free.
	time.Sleep(time.Second)
	c := dialUDP(t, "127.0.0.1")
	c.WriteTo(rawRQ(opRRQ, "undionly.kpxe", "octet"), srv)
	if r, _ := reply(t, c, 3*time.Second); r != "DATA 1 4" {
		t.Errorf("after the held transfers ended: %q, want DATA 1 4", r)
	}
}

// More than 65535 blocks: the block number wraps to 0, as clients
// expect (blksize 8 makes that 530 kB), in lock-step and in windows
// (RFC 7440), where the client acknowledges each window's last block.
func TestBlockNumberWraps(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 530_000/16)
	os.WriteFile(filepath.Join(dir, "big"), data, 0o644)
	s, err := New(Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	go s.Serve(t.Context(), conn)
	for _, window := range []int{1, 7} {
		t.Run(fmt.Sprintf("windowsize %d", window), func(t *testing.T) {
			// A raw client: pin's refuses block sizes under 512.
			c := dialUDP(t, "127.0.0.1")
			srv := conn.LocalAddr()
			c.WriteTo(rawRQ(opRRQ, "big", "octet", "blksize", "8", "windowsize", fmt.Sprint(window)), srv)
			buf := make([]byte, 100)
			var got []byte
			var want uint16 // block 0 is the OACK's ACK
			wrapped := false
			for i := 1; ; i++ {
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				op := binary.BigEndian.Uint16(buf)
				if op == opOACK {
					c.WriteTo([]byte{0, opACK, 0, 0}, from)
					i = 0
					continue
				}
				block := binary.BigEndian.Uint16(buf[2:])
				if op != opDATA || block != want+1 {
					t.Fatalf("after %d bytes: op %d block %d, want DATA %d", len(got), op, block, want+1)
				}
				if block == 0 {
					wrapped = true
				}
				want = block
				got = append(got, buf[4:n]...)
				if i%window == 0 || n-4 < 8 {
					c.WriteTo(binary.BigEndian.AppendUint16([]byte{0, opACK}, block), from)
				}
				if n-4 < 8 {
					break
				}
			}
			if !bytes.Equal(got, data) || !wrapped {
				t.Errorf("got %d bytes (block number wrapped: %v), want the %d of the file and a wrap", len(got), wrapped, len(data))
			}
		})
	}
}

// The Debian tftp-hpa and busybox clients fetch a file; tftp-hpa's
// "put" is refused.
func TestRealClients(t *testing.T) {
	addr, data, _ := serve(t)
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	if _, err := exec.LookPath("tftp"); err != nil {
		t.Log("tftp-hpa client not installed: skipping it (scripts/deps.sh installs tftp-hpa)")
	} else {
		out := filepath.Join(dir, "hpa")
		cmd := exec.Command("tftp", "-m", "binary", host, port, "-c", "get", "images/mk/initrd", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("tftp get: %v: %s", err, b)
		} else if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Errorf("tftp get: %d bytes, want %d", len(got), len(data))
		}
		os.WriteFile(filepath.Join(dir, "up"), []byte("x"), 0o644)
		cmd = exec.Command("tftp", host, port, "-c", "put", filepath.Join(dir, "up"), "up")
		b, _ := cmd.CombinedOutput()
		if !strings.Contains(strings.ToLower(string(b)), "access violation") {
			t.Errorf("tftp put = %q, want an access violation", b)
		}
	}
	if _, err := exec.LookPath("busybox"); err == nil {
		out := filepath.Join(dir, "bb")
		cmd := exec.Command("busybox", "tftp", "-g", "-b", "1468", "-r", "images/mk/initrd", "-l", out, host, port)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("busybox tftp -g: %v: %s", err, b)
		} else if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Errorf("busybox tftp: %d bytes, want %d", len(got), len(data))
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(rawRQ(opRRQ, "a", "octet", "blksize", "1024"))
	f.Add(rawRQ(opWRQ, "x", "netascii"))
	f.Add([]byte{0, 1, 0, 0})
	f.Add([]byte{0, 1})
	f.Add(rawRQ(opRRQ, "a", "octet", "windowsize", "16", "WINDOWSIZE", "8"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		for name := range r.opts {
			if name != strings.ToLower(name) {
				t.Fatalf("option name %q not lower-cased", name)
			}
		}
		if len(r.order) != len(r.opts) {
			t.Fatalf("order %v vs opts %v", r.order, r.opts)
		}
	})
}
