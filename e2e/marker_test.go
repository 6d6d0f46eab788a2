package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/internal/testlab"
)

// markerPrefix starts the line e2e/internal/marker prints.
const markerPrefix = "RAZOR-MARKER"

var marker struct {
	mu     sync.Mutex
	initrd []byte
}

// markerInitrd returns a gzip-compressed initrd whose /init is
// e2e/internal/marker (static, built once per test process) with a
// /dev/console for its output.
func markerInitrd(t *testing.T) []byte {
	t.Helper()
	marker.mu.Lock()
	defer marker.mu.Unlock()
	if marker.initrd != nil {
		return marker.initrd
	}
	bin := filepath.Join(t.TempDir(), "marker")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./e2e/internal/marker")
	cmd.Dir = testlab.ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build marker: %v\n%s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	a := initramfs.New()
	a.AddDir("dev", 0o755)
	a.AddDevice("dev/console", initramfs.CharDevice, 5, 1, 0o600)
	a.AddDir("proc", 0o755)
	a.AddDir("sys", 0o755)
	a.AddFile("init", prog, 0o755)
	var b bytes.Buffer
	if err := a.Write(&b, initramfs.WriteOptions{Compression: initramfs.Gzip}); err != nil {
		t.Fatalf("marker initrd: %v", err)
	}
	marker.initrd = b.Bytes()
	return marker.initrd
}

// installMarker writes the marker boot target under dir (an images
// directory's subdirectory without a manifest, so that the server serves
// it under /images/ but never boots it as a microkernel): the kernel of
// the microkernel image mkDir, and the marker initrd.
func installMarker(t *testing.T, mkDir, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	linkOrCopy(t, filepath.Join(mkDir, "vmlinuz"), filepath.Join(dir, "vmlinuz"))
	if err := os.WriteFile(filepath.Join(dir, "initrd"), markerInitrd(t), 0o644); err != nil {
		t.Fatal(err)
	}
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMarkerInitrd checks the marker initrd's layout: an executable
// static /init and a console device, nothing it does not need.
func TestMarkerInitrd(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build the marker")
	}
	a, err := initramfs.Read(bytes.NewReader(markerInitrd(t)))
	if err != nil {
		t.Fatalf("initramfs.Read(marker initrd) = %v", err)
	}
	init, ok := a.Get("init")
	if !ok || init.Type != initramfs.TypeFile || init.Perm&0o111 == 0 {
		t.Fatalf("marker initrd /init = %+v, %v; want an executable file", init, ok)
	}
	if !bytes.HasPrefix(init.Data, []byte("\x7fELF")) {
		t.Errorf("marker /init starts %q, want an ELF binary", init.Data[:min(4, len(init.Data))])
	}
	con, ok := a.Get("dev/console")
	if !ok || con.Type != initramfs.TypeCharDevice || con.Major != 5 || con.Minor != 1 {
		t.Errorf("marker initrd dev/console = %+v, %v; want char device 5:1", con, ok)
	}
}
