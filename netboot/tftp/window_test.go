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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawClient is a hand-driven TFTP client for protocol tests.
type rawClient struct {
	t    *testing.T
	c    net.PacketConn
	peer net.Addr // the transfer's address, once it answered
}

// recv returns the next packet's reply() form, or "none" after wait.
func (r *rawClient) recv(wait time.Duration) string {
	r.t.Helper()
	got, from := reply(r.t, r.c, wait)
	if from != nil {
		r.peer = from
	}
	return got
}

func (r *rawClient) ack(block uint16) {
	r.c.WriteTo(binary.BigEndian.AppendUint16([]byte{0, opACK}, block), r.peer)
}

// recvN returns the next n packets.
func (r *rawClient) recvN(n int) []string {
	var got []string
	for range n {
		got = append(got, r.recv(2*time.Second))
	}
	return got
}

func data(from, to int, last, lastLen int) []string {
	var s []string
	for b := from; b <= to; b++ {
		n := 8
		if b == last {
			n = lastLen
		}
		s = append(s, fmt.Sprintf("DATA %d %d", b, n))
	}
	return s
}

// RFC 7440: a window of blocks goes out before any ACK; an ACK of a
// block inside the window moves it on from the next block; on timeout,
// and once on a repeated ACK, the window is sent again from its first
// unacknowledged block.
func TestWindowsize(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("abcdefgh"), 12)
	content = append(content, "tail"...) // 13 blocks of 8, the last of 4
	os.WriteFile(filepath.Join(dir, "f"), content, 0o644)
	s, err := New(Options{Root: dir, Timeout: 300 * time.Millisecond, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	go s.Serve(t.Context(), conn)
	r := &rawClient{t: t, c: dialUDP(t, "127.0.0.1")}
	r.c.WriteTo(rawRQ(opRRQ, "f", "octet", "blksize", "8", "windowsize", "4"), conn.LocalAddr())

	check := func(step string, got, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", step, diff)
		}
	}
	check("OACK", []string{r.recv(2 * time.Second)}, []string{"OACK blksize=8 windowsize=4"})
	r.ack(0)
	check("first window", r.recvN(4), data(1, 4, 13, 4))
	r.ack(2) // block 3 lost, say
	check("after ACK 2", r.recvN(4), data(3, 6, 13, 4))
	check("after a timeout", r.recvN(4), data(3, 6, 13, 4))
	r.ack(6)
	check("after ACK 6", r.recvN(4), data(7, 10, 13, 4))
	r.ack(6) // the client missed block 7
	check("after a repeated ACK 6", r.recvN(4), data(7, 10, 13, 4))
	r.ack(6) // once is enough: no answer until the timeout
	if got := r.recv(150 * time.Millisecond); got != "none" {
		t.Fatalf("after a second repeated ACK: %q, want nothing before the timeout", got)
	}
	r.ack(10)
	check("last window", r.recvN(3), data(11, 13, 13, 4))
	r.ack(13)
	if got := r.recv(500 * time.Millisecond); got != "none" {
		t.Fatalf("after the last ACK: %q, want nothing", got)
	}
}

func TestNegotiate(t *testing.T) {
	rq := func(fields ...string) request {
		r, err := parseRequest(rawRQ(opRRQ, append([]string{"f", "octet"}, fields...)...))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tt := range []struct {
		name    string
		req     request
		mtu     int
		blksize int
		window  int
		oack    string
	}{
		{"none", rq(), 0, 512, 1, ""},
		{"windowsize", rq("windowsize", "16"), 0, 512, 16, "windowsize=16"},
		{"windowsize capped", rq("WindowSize", "65535"), 0, 512, maxWindow, "windowsize=64"},
		{"windowsize 0 ignored", rq("windowsize", "0"), 0, 512, 1, ""},
		{"windowsize bytes capped", rq("windowsize", "64", "blksize", "65464"), 0, 65464, 16, "windowsize=16 blksize=65464"},
		{"blksize to the MTU", rq("blksize", "9000", "windowsize", "8"), 1472, 1468, 8, "blksize=1468 windowsize=8"},
		{"tsize and timeout", rq("tsize", "0", "timeout", "3"), 0, 512, 1, "tsize=1234 timeout=3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := negotiate(tt.req, 1234, tt.mtu)
			var kv []string
			for _, n := range o.names {
				kv = append(kv, n+"="+o.oack[n])
			}
			if o.blksize != tt.blksize || o.window != tt.window || strings.Join(kv, " ") != tt.oack {
				t.Errorf("negotiate = blksize %d window %d OACK %q, want %d %d %q", o.blksize, o.window, strings.Join(kv, " "), tt.blksize, tt.window, tt.oack)
			}
		})
	}
}

// FuzzNegotiate: whatever a request asks, the settings stay in bounds
// and the OACK carries only options the client asked for, never more
// than it asked.
func FuzzNegotiate(f *testing.F) {
	f.Add(rawRQ(opRRQ, "f", "octet", "blksize", "1468", "windowsize", "16"), 1500)
	f.Add(rawRQ(opRRQ, "f", "octet", "windowsize", "65535", "blksize", "65464"), 0)
	f.Add(rawRQ(opRRQ, "f", "netascii", "tsize", "0", "timeout", "0"), 9000)
	f.Fuzz(func(t *testing.T, b []byte, mtu int) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		o := negotiate(r, 42, mtu)
		if o.blksize < minBlksize || o.blksize > maxBlksize || o.window < 1 || o.window > maxWindow ||
			(o.window > 1 && o.window*o.blksize > maxWindowBytes) {
			t.Fatalf("negotiate(%q, mtu %d) = blksize %d window %d", b, mtu, o.blksize, o.window)
		}
		if len(o.names) != len(o.oack) {
			t.Fatalf("names %v vs OACK %v", o.names, o.oack)
		}
		for _, n := range o.names {
			asked, ok := r.opts[n]
			if !ok {
				t.Fatalf("OACK has %q, not asked", n)
			}
			if n == "blksize" || n == "windowsize" {
				a, _ := optInt(asked, 0, 1<<40)
				g, _ := optInt(o.oack[n], 0, 1<<40)
				if g > a {
					t.Fatalf("OACK %s=%d, more than the %d asked", n, g, a)
				}
			}
		}
	})
}

// atftp asks for a window (RFC 7440) and gets the file whole; curl and
// tftp-hpa, which do not, are tested in TestCurl and TestRealClients.
func TestAtftpWindowsize(t *testing.T) {
	if _, err := exec.LookPath("atftp"); err != nil {
		t.Skip("needs atftp (scripts/deps.sh installs it)")
	}
	addr, content, _ := serve(t)
	host, port, _ := net.SplitHostPort(addr)
	for _, opts := range [][]string{
		{"--option", "windowsize 16"},
		{"--option", "windowsize 8", "--option", "blksize 1468"},
		{"--option", "windowsize 64", "--option", "blksize 8192"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		args := append(append([]string{"--trace"}, opts...), "-g", "-r", "images/mk/initrd", "-l", out, host, port)
		cmd := exec.Command("atftp", args...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("atftp %v: %v: %.2000s", opts, err, b)
		}
		// The trace shows the OACK; a window means ACKs only every
		// so many blocks.
		if !strings.Contains(string(b), "windowsize") {
			t.Errorf("atftp %v: no windowsize in the trace:\n%.2000s", opts, b)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, content) {
			t.Errorf("atftp %v: %d bytes, want the %d of the file", opts, len(got), len(content))
		}
	}
}
