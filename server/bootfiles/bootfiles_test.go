package bootfiles

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/metrics"
	"github.com/razor-mk/razor-mk/server/mkimage"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
)

// image writes a verified image directory; loaders adds shim and GRUB.
func image(t *testing.T, dir, name string, loaders bool) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	art := func(path string) manifest.Artefact {
		p := filepath.Join(d, path)
		if err := os.WriteFile(p, []byte(name+" "+path), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, size, err := manifest.HashFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return manifest.Artefact{Path: path, Size: size, SHA256: sum}
	}
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Name: name, Kernel: art("vmlinuz"), Initrd: art("initrd")}
	if loaders {
		m.Loaders = []manifest.Loader{{Role: manifest.LoaderShim, Artefact: art("shimx64.efi")}, {Role: manifest.LoaderGRUB, Artefact: art("grubx64.efi")}}
	}
	b, _ := m.Encode()
	if err := os.WriteFile(filepath.Join(d, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newFiles(t *testing.T, images string) *Files {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "razor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var c *core.Core
	m, err := metrics.New(prometheus.NewRegistry(), func() map[string]int { return c.NodeStates() })
	if err != nil {
		t.Fatal(err)
	}
	finder := mkimage.New(images, nil)
	c, err = core.New(ctx, st, core.Options{Metrics: m, ServerURL: "http://10.0.0.1:8026", Images: finder})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Core: c, Images: finder, Retry: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func read(t *testing.T, f *Files, name string) (string, error) {
	t.Helper()
	rc, size, err := f.Open(context.Background(), name, netip.MustParseAddr("10.0.0.50"))
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != size {
		t.Errorf("%s: size %d, read %d bytes", name, size, len(b))
	}
	return string(b), nil
}

func TestOpen(t *testing.T) {
	images := t.TempDir()
	image(t, images, "mk", true)
	f := newFiles(t, images)
	for name, want := range map[string]string{
		"shimx64.efi":       "mk shimx64.efi",
		"grubx64.efi":       "mk grubx64.efi",
		"images/mk/vmlinuz": "mk vmlinuz",
	} {
		if got, err := read(t, f, name); err != nil || got != want {
			t.Errorf("Open(%s) = %q, %v, want %q", name, got, err, want)
		}
	}
	if got, err := read(t, f, GRUBConfigPath); err != nil || !strings.Contains(got, `source "/grub/node.cfg?mac=$net_default_mac`) {
		t.Errorf("Open(%s) = %q, %v, want the chain configuration", GRUBConfigPath, got, err)
	}
	got, err := read(t, f, "grub/node.cfg?mac=52:54:00:00:00:01&uuid=&arch=x86_64&platform=efi&serial=A%B")
	if err != nil || !strings.Contains(got, "if linux '/images/mk/vmlinuz'") || !strings.Contains(got, "razor.token=") {
		t.Errorf("Open(node.cfg) = %q, %v, want the microkernel under GRUB", got, err)
	}
	// Names it does not make fall through (to the iPXE directory); a path
	// out of the images directory is not served.
	for _, name := range []string{"snponly.efi", "grub/x86_64-efi/command.lst", "images/mk", "images/../etc/passwd", "images/missing/vmlinuz"} {
		if _, err := read(t, f, name); err == nil {
			t.Errorf("Open(%s) succeeded", name)
		} else if name != "images/../etc/passwd" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s) = %v, want fs.ErrNotExist", name, err)
		}
	}
}

// TestNoLoaders: an image without the signed chain serves no loader.
func TestNoLoaders(t *testing.T) {
	images := t.TempDir()
	image(t, images, "tc", false)
	f := newFiles(t, images)
	if _, err := read(t, f, "shimx64.efi"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(shimx64.efi) without loaders = %v, want fs.ErrNotExist", err)
	}
}
