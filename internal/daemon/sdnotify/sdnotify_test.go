package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyPathAndAbstract(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c := listen(t, path)
	if sent, err := NotifySocket(path, "READY=1\nSTATUS=serving"); !sent || err != nil {
		t.Fatalf("NotifySocket(%s) = %v, %v", path, sent, err)
	}
	if got := read(t, c); got != "READY=1\nSTATUS=serving" {
		t.Errorf("received %q", got)
	}

	abstract := "razor-sdnotify-test-" + filepath.Base(t.TempDir())
	ac := listen(t, "\x00"+abstract)
	if sent, err := NotifySocket("@"+abstract, "STOPPING=1"); !sent || err != nil {
		t.Fatalf("NotifySocket(@%s) = %v, %v", abstract, sent, err)
	}
	if got := read(t, ac); got != "STOPPING=1" {
		t.Errorf("received %q", got)
	}
}

func TestNotifyUnsetAndBad(t *testing.T) {
	t.Setenv(Env, "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Errorf("Notify without %s = %v, %v; want false, nil", Env, sent, err)
	}
	if _, err := NotifySocket("relative/path", "READY=1"); err == nil {
		t.Error("relative socket path accepted")
	}
	if _, err := NotifySocket(filepath.Join(t.TempDir(), "absent"), "READY=1"); err == nil {
		t.Error("absent socket accepted")
	}
}
