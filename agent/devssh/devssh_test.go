//go:build dev

package devssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer serves on a loopback port with one authorized key and
// returns the address and the server's host key path.
func startServer(t *testing.T, authorized ssh.Signer) (string, string) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	keys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keys, append([]byte("# the spec's keys\n"), ssh.MarshalAuthorizedKey(authorized.PublicKey())...), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{HostKey: filepath.Join(dir, "run", "host_key"), AuthorizedKeys: keys}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
	// Wait for the host key, written before accepting.
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(srv.HostKey); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ln.Addr().String(), srv.HostKey
}

func dial(t *testing.T, addr, hostKeyPath string, key ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	b, err := os.ReadFile(hostKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatalf("host key file: %v", err)
	}
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(host.PublicKey()),
		Timeout:         5 * time.Second,
	})
}

func TestExec(t *testing.T) {
	key := newKey(t)
	addr, hostKey := startServer(t, key)
	c, err := dial(t, addr, hostKey, key)
	if err != nil {
		t.Fatalf("Dial with the authorized key = %v", err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	sess.Stdin = strings.NewReader("from stdin\n")
	err = sess.Run("read line; echo \"got $line\"; echo oops >&2; exit 3")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("Run = %v, want exit status 3", err)
	}
	if got, want := stdout.String(), "got from stdin\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := stderr.String(), "oops\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}

	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo ok")
	if err != nil || string(out) != "ok\n" {
		t.Errorf("Output(echo ok) = %q, %v; want \"ok\\n\", nil", out, err)
	}
}

func TestShellWithPTY(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("needs /dev/ptmx")
	}
	key := newKey(t)
	addr, hostKey := startServer(t, key)
	c, err := dial(t, addr, hostKey, key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-test", 40, 100, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatalf("RequestPty = %v", err)
	}
	var out bytes.Buffer
	sess.Stdout = &out
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatalf("Shell = %v", err)
	}
	stdin.Write([]byte("echo term=$TERM; tty; stty size; exit 7\n"))
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("shell did not exit; output so far %q", out.String())
	}
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 {
		t.Errorf("Wait = %v, want exit status 7", err)
	}
	for _, want := range []string{"term=xterm-test", "/dev/pts/", "40 100"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("shell output %q lacks %q", out.String(), want)
		}
	}
}

func TestRefusesUnknownKey(t *testing.T) {
	addr, hostKey := startServer(t, newKey(t))
	c, err := dial(t, addr, hostKey, newKey(t))
	if err == nil {
		c.Close()
		t.Fatal("Dial with an unknown key succeeded, want refusal")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("Dial with an unknown key = %v, want an authentication failure", err)
	}
}

func TestHostKeyPersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	a, err := LoadOrCreateHostKey(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateHostKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.PublicKey().Marshal(), b.PublicKey().Marshal()) {
		t.Errorf("LoadOrCreateHostKey twice gave two keys, want the stored one")
	}
	if a.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key type = %s, want ed25519", a.PublicKey().Type())
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestParseAuthorizedKeys(t *testing.T) {
	k := newKey(t)
	good := ssh.MarshalAuthorizedKey(k.PublicKey())
	if keys, err := ParseAuthorizedKeys(append([]byte("\n# c\n"), good...)); err != nil || len(keys) != 1 {
		t.Errorf("ParseAuthorizedKeys(one key) = %d keys, %v", len(keys), err)
	}
	if _, err := ParseAuthorizedKeys([]byte("# nothing\n")); !errors.Is(err, ErrNoAuthorizedKeys) {
		t.Errorf("ParseAuthorizedKeys(no keys) = %v, want ErrNoAuthorizedKeys", err)
	}
	if _, err := ParseAuthorizedKeys(append(good, []byte("ssh-ed25519 garbage\n")...)); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseAuthorizedKeys(bad line 2) = %v, want an error naming line 2", err)
	}
}

func FuzzParseAuthorizedKeys(f *testing.F) {
	f.Add([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvRm2f0Tfh0ZcC6Sjk7ixJX0PjTbzUxzXfpGkKvtsqn a@b\n"))
	f.Add([]byte("# c\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseAuthorizedKeys(b)
		if err == nil && len(keys) == 0 {
			t.Errorf("ParseAuthorizedKeys gave no keys and no error")
		}
	})
}

func TestBackgroundJobDoesNotHoldSession(t *testing.T) {
	key := newKey(t)
	addr, hostKey := startServer(t, key)
	c, err := dial(t, addr, hostKey, key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	out, err := sess.Output("sleep 30 & echo started")
	if err != nil || string(out) != "started\n" {
		t.Errorf("Output = %q, %v; want \"started\\n\", nil", out, err)
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("session with a background job took %v, want it to end about 1s after the command", took)
	}
}

func TestStopWithSessionRunning(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	key := newKey(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "authorized_keys")
	os.WriteFile(keys, ssh.MarshalAuthorizedKey(key.PublicKey()), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{HostKey: filepath.Join(dir, "host_key"), AuthorizedKeys: keys}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(srv.HostKey); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := dial(t, ln.Addr().String(), srv.HostKey, key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("sleep 60"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of cancel with a session running")
	}
	t.Logf("stopped in %v", time.Since(t0))
}
