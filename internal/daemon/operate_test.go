package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/internal/syncbuf"
	"github.com/razor-mk/razor-mk/manifest"
)

// writeImage puts a verifiable image named name into dir.
func writeImage(t *testing.T, dir, name string) {
	t.Helper()
	img := filepath.Join(dir, name)
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Name: name}
	for _, a := range []struct {
		name string
		dst  *manifest.Artefact
	}{{"vmlinuz", &m.Kernel}, {"initrd", &m.Initrd}} {
		p := filepath.Join(img, a.name)
		os.WriteFile(p, []byte(name+" "+a.name), 0o644)
		sum, size, err := manifest.HashFile(p)
		if err != nil {
			t.Fatal(err)
		}
		*a.dst = manifest.Artefact{Path: a.name, Size: size, SHA256: sum}
	}
	b, _ := m.Encode()
	if err := os.WriteFile(filepath.Join(img, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func getReadyz(t *testing.T, d *Daemon) (int, Readiness) {
	t.Helper()
	resp, err := http.Get("http://" + d.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r Readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, r
}

// /readyz answers 503 naming the missing image until one verifies, then
// 200 with the listeners and the bootable images; /healthz is 200
// throughout. The start-up summary names what an operator needs.
func TestReadyzAndSummary(t *testing.T) {
	cfg := testConfig(t)
	logs := &syncbuf.Buffer{}
	d, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if r := d.Readiness(); r.Ready || !strings.Contains(strings.Join(r.Missing, ";"), "listeners") {
		t.Errorf("Readiness before Run = %+v, want not ready: listeners", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitLog(t, logs, "razor-netboot started")

	code, r := getReadyz(t, d)
	if code != http.StatusServiceUnavailable || r.Ready || len(r.Missing) != 1 || !strings.Contains(r.Missing[0], "bootable image") {
		t.Errorf("/readyz without an image = %d %+v, want 503 naming the bootable image", code, r)
	}
	resp, err := http.Get("http://" + d.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz = %v, %v; want 200 (liveness only)", resp, err)
	}
	resp.Body.Close()

	writeImage(t, cfg.ImagesDir, "mk")
	code, r = getReadyz(t, d)
	want := Readiness{Ready: true, Listeners: []Listener{{"http", d.Addr().String()}}, Images: []string{"mk"}}
	if code != 200 || !cmp.Equal(r, want) {
		t.Errorf("/readyz with an image = %d, diff -want +got:\n%s", code, cmp.Diff(want, r))
	}

	summary := logs.String()
	for _, s := range []string{"version=", "dhcp=off", "listeners=\"http=" + d.Addr().String(), "store=sqlite:", "admin_token=" + filepath.Join(cfg.DataDir, TokenFile), "bootable_images=\"none"} {
		if !strings.Contains(summary, s) {
			t.Errorf("start-up summary lacks %q:\n%s", s, summary)
		}
	}
}

func waitLog(t *testing.T, logs *syncbuf.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", s, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run sends READY=1 to $NOTIFY_SOCKET once every listener is up, and
// STOPPING=1 on the way down.
func TestNotifyReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	d, err := Open(context.Background(), testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	read := func() string {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if msg := read(); !strings.HasPrefix(msg, "READY=1\nSTATUS=serving http="+d.Addr().String()) {
		t.Errorf("first notification = %q, want READY=1 with the listeners", msg)
	}
	// Ready means serving: the HTTP listener answers now.
	if resp, err := http.Get("http://" + d.Addr().String() + "/healthz"); err != nil {
		t.Errorf("/healthz after READY=1: %v", err)
	} else {
		resp.Body.Close()
	}
	cancel()
	<-done
	if msg := read(); msg != "STOPPING=1" {
		t.Errorf("notification at shutdown = %q, want STOPPING=1", msg)
	}
}

// A second daemon on the same data directory, or on the same SQLite file
// from another data directory, is refused naming the first.
func TestSecondDaemonRefused(t *testing.T) {
	cfg := testConfig(t)
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = Open(context.Background(), cfg, nil)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "razor-netboot serve, pid ") || !strings.Contains(err.Error(), LockFile) {
		t.Errorf("second Open(same data dir) = %v, want ErrInUse naming the running server", err)
	}
	other := cfg
	other.DataDir = filepath.Join(t.TempDir(), "other")
	other.ImagesDir = filepath.Join(other.DataDir, "images")
	_, err = Open(context.Background(), other, nil)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "razor.db.lock") {
		t.Errorf("second Open(same SQLite file) = %v, want ErrInUse naming the store's lock", err)
	}
	d.Close()
	d2, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open after the first closed = %v", err)
	}
	d2.Close()
}

// A configured images directory that does not exist is refused and not
// created; the default one inside the data directory is created.
func TestImagesDirNotCreated(t *testing.T) {
	cfg := testConfig(t)
	cfg.ImagesDir = filepath.Join(t.TempDir(), "typo")
	_, err := Open(context.Background(), cfg, nil)
	if !errors.Is(err, ErrNoImagesDir) || !strings.Contains(err.Error(), cfg.ImagesDir) || !strings.Contains(err.Error(), "mkbuild build") {
		t.Errorf("Open(missing images_dir) = %v, want ErrNoImagesDir naming it and the fix", err)
	}
	if _, err := os.Stat(cfg.ImagesDir); !os.IsNotExist(err) {
		t.Errorf("the missing images_dir was created (stat: %v)", err)
	}
	cfg = testConfig(t)
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if st, err := os.Stat(cfg.ImagesDir); err != nil || !st.IsDir() {
		t.Errorf("default images dir not created: %v", err)
	}
}

// A data directory that cannot be written is refused in words.
func TestDataDirNotWritable(t *testing.T) {
	cfg := testConfig(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	cfg.DataDir = filepath.Join(file, "data")
	cfg.Store = "sqlite:" + filepath.Join(cfg.DataDir, "razor.db")
	cfg.ImagesDir = filepath.Join(cfg.DataDir, "images")
	_, err := Open(context.Background(), cfg, nil)
	if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), "data_dir "+cfg.DataDir+" cannot be created as") {
		t.Errorf("Open(data dir under a file) = %v, want ErrNotWritable in words", err)
	}
	if os.Geteuid() == 0 {
		// Root writes anywhere; the unwritable case as another user is
		// tested in cmd/razor-netboot (TestServeRefusals).
		return
	}
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o500)
	cfg = testConfig(t)
	cfg.DataDir = ro
	_, err = Open(context.Background(), cfg, nil)
	if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), "is not writable by") {
		t.Errorf("Open(read-only data dir) = %v", err)
	}
}
