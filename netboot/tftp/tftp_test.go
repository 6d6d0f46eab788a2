package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ptftp "github.com/pin/tftp/v3"
)

func TestCleanPath(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		bad      bool
	}{
		{in: "undionly.kpxe", want: "undionly.kpxe"},
		{in: "images/mk/vmlinuz", want: "images/mk/vmlinuz"},
		{in: `images\mk\initrd`, want: "images/mk/initrd"},
		{in: "./a//b/./c", want: "a/b/c"},
		{in: "", bad: true},
		{in: "/etc/passwd", want: "etc/passwd"},
		{in: `\etc\passwd`, want: "etc/passwd"},
		{in: "//grub/grub.cfg", want: "grub/grub.cfg"},
		{in: "/", bad: true},
		{in: "/../x", bad: true},
		{in: "../etc/passwd", bad: true},
		{in: "a/../../etc/passwd", bad: true},
		{in: "a/..", bad: true},
		{in: `..\x`, bad: true},
		{in: "a\x00b", bad: true},
		{in: ".", bad: true},
		{in: strings.Repeat("a", maxName+1), bad: true},
	} {
		got, err := CleanPath(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("CleanPath(%q) = %q, %v, want ErrBadPath", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "../x", "/x", `a\..\..\b`, "a/./b//c", "", "\x00", "a/b/../c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := CleanPath(name)
		if err != nil {
			return
		}
		// Whatever passes is a clean, downward path.
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.ContainsRune(p, 0) || strings.Contains(p, `\`) {
			t.Fatalf("CleanPath(%q) = %q, escapes or is unclean", name, p)
		}
		if q, err := CleanPath(p); err != nil || q != p {
			t.Fatalf("CleanPath(CleanPath(%q)) = %q, %v, want %q", name, q, err, p)
		}
	})
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serve starts a server on a loopback port with a root holding a 300 KiB
// file, a subdirectory file, and symlinks inside and outside the root.
func serve(t *testing.T) (addr string, data []byte, logs *syncBuf) {
	t.Helper()
	return serveWith(t, Options{})
}

// serveWith is serve with cfg (its Root is set here).
func serveWith(t *testing.T, cfg Options) (addr string, data []byte, logs *syncBuf) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "images", "mk"), 0o755)
	data = make([]byte, 300*1024+17)
	rand.Read(data)
	os.WriteFile(filepath.Join(root, "images", "mk", "initrd"), data, 0o644)
	os.WriteFile(filepath.Join(root, "undionly.kpxe"), []byte("ipxe"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o644)
	os.Symlink("../secret", filepath.Join(root, "escape"))
	os.Symlink("/etc/passwd", filepath.Join(root, "abs-escape"))
	os.Symlink("undionly.kpxe", filepath.Join(root, "inside-link"))

	logs = &syncBuf{}
	cfg.Root = root
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := New(cfg)
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
		s.Close()
	})
	return conn.LocalAddr().String(), data, logs
}

func TestPinClient(t *testing.T) {
	addr, data, logs := serve(t)
	for _, blksize := range []int{0, 1468, 8192} {
		c, err := ptftp.NewClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		if blksize > 0 {
			c.SetBlockSize(blksize)
		}
		c.RequestTSize(true)
		wt, err := c.Receive("images/mk/initrd", "octet")
		if err != nil {
			t.Fatalf("Receive(blksize %d) = %v", blksize, err)
		}
		if n, ok := wt.(ptftp.IncomingTransfer).Size(); !ok || n != int64(len(data)) {
			t.Errorf("tsize (blksize %d) = %d, %v, want %d", blksize, n, ok, len(data))
		}
		var got bytes.Buffer
		if _, err := wt.WriteTo(&got); err != nil {
			t.Fatalf("WriteTo(blksize %d) = %v", blksize, err)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Errorf("blksize %d: got %d bytes, want the %d of the file", blksize, got.Len(), len(data))
		}
	}
	// Inside symlinks are fine.
	c, _ := ptftp.NewClient(addr)
	wt, err := c.Receive("inside-link", "octet")
	if err != nil {
		t.Fatalf("Receive(inside-link) = %v", err)
	}
	var got bytes.Buffer
	wt.WriteTo(&got)
	if got.String() != "ipxe" {
		t.Errorf("inside-link = %q, want ipxe", got.String())
	}
	for _, name := range []string{"../secret", "/etc/passwd", "escape", "abs-escape", "images/../../secret", `..\secret`, "images", "missing"} {
		c, _ := ptftp.NewClient(addr)
		if wt, err := c.Receive(name, "octet"); err == nil {
			var b bytes.Buffer
			wt.WriteTo(&b)
			t.Errorf("Receive(%q) succeeded with %q, want a refusal", name, b.String())
		}
	}
	// Writes are refused.
	c, _ = ptftp.NewClient(addr)
	if rf, err := c.Send("upload", "octet"); err == nil {
		if _, err := rf.ReadFrom(strings.NewReader("x")); err == nil {
			t.Error("Send(upload) succeeded, want a refusal (read-only server)")
		}
	}
	// The transfer ends when the server reads the client's last ACK,
	// which may come after the client is done.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "event=tftp-sent") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{`file=../secret`, `file=/etc/passwd`, `file=escape`, `file=abs-escape`, "event=tftp-refused", "event=tftp-sent"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl (scripts/deps.sh installs it)")
	}
	addr, data, _ := serve(t)
	out := filepath.Join(t.TempDir(), "out")
	for _, blk := range []string{"512", "1468"} {
		cmd := exec.Command("curl", "-sS", "--max-time", "20", "--tftp-blksize", blk, "-o", out, "tftp://"+addr+"/images/mk/initrd")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("curl tftp (blksize %s): %v: %s", blk, err, b)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, data) {
			t.Errorf("curl tftp (blksize %s): %d bytes, want the %d of the file", blk, len(got), len(data))
		}
	}
	for _, name := range []string{"escape", "..%2fsecret", "abs-escape"} {
		cmd := exec.Command("curl", "-sS", "--max-time", "20", "-o", out, "tftp://"+addr+"/"+name)
		if b, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("curl tftp %s succeeded, want a refusal: %s", name, b)
		}
	}
}

// With Who, a transfer's log lines name the node and MAC behind the
// client's address.
func TestLogLinesNameTheNode(t *testing.T) {
	var asked netip.Addr
	addr, _, logs := serveWith(t, Options{Who: func(ip netip.Addr) (string, string) {
		asked = ip
		return "node7", "52:54:00:00:00:07"
	}})
	c, err := ptftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := c.Receive("undionly.kpxe", "octet")
	if err != nil {
		t.Fatal(err)
	}
	wt.WriteTo(io.Discard)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "tftp-sent") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "node=node7 mac=52:54:00:00:00:07") || asked != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("log (Who asked about %v):\n%s\nwant node=node7 mac=52:54:00:00:00:07 on the sent line", asked, l)
	}
}

// TestFilesHook: names the Files hook makes are served from it, with the
// client's address; fs.ErrNotExist falls through to the root; any other
// error refuses the request; a leading slash names the root.
func TestFilesHook(t *testing.T) {
	var mu sync.Mutex
	var peers []netip.Addr
	addr, _, logs := serveWith(t, Options{Files: func(ctx context.Context, name string, peer netip.Addr) (io.ReadCloser, int64, error) {
		mu.Lock()
		peers = append(peers, peer)
		mu.Unlock()
		switch name {
		case "grub/grub.cfg":
			body := "made for " + peer.String()
			return io.NopCloser(strings.NewReader(body)), int64(len(body)), nil
		case "denied":
			return nil, 0, errors.New("not for you")
		}
		return nil, 0, fs.ErrNotExist
	}})
	get := func(name string) (string, error) {
		c, err := ptftp.NewClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		wt, err := c.Receive(name, "octet")
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		_, err = wt.WriteTo(&b)
		return b.String(), err
	}
	if got, err := get("/grub/grub.cfg"); err != nil || got != "made for 127.0.0.1" {
		t.Errorf("/grub/grub.cfg = %q, %v, want the hook's file", got, err)
	}
	if got, err := get("/undionly.kpxe"); err != nil || got != "ipxe" {
		t.Errorf("/undionly.kpxe = %q, %v, want the root's file", got, err)
	}
	if got, err := get("denied"); err == nil {
		t.Errorf("denied = %q, want a refusal", got)
	}
	if !strings.Contains(logs.String(), "not for you") {
		t.Errorf("the hook's error is not logged:\n%s", logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(peers) != 3 || peers[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("hook saw peers %v, want three calls from 127.0.0.1", peers)
	}
}
