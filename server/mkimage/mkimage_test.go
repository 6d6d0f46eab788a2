package mkimage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/manifest"
)

// writeImage makes dir/name with a kernel, an initrd and a manifest whose
// modification time is at.
func writeImage(t *testing.T, dir, name, kernel, initrd string, at time.Time) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Name: name, Cmdline: "console=ttyS0"}
	for _, f := range []struct {
		path, body string
		a          *manifest.Artefact
	}{{"vmlinuz", kernel, &m.Kernel}, {"initrd", initrd, &m.Initrd}} {
		p := filepath.Join(d, f.path)
		if err := os.WriteFile(p, []byte(f.body), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, size, err := manifest.HashFile(p)
		if err != nil {
			t.Fatal(err)
		}
		*f.a = manifest.Artefact{Path: f.path, Size: size, SHA256: sum}
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(d, manifest.FileName)
	if err := os.WriteFile(mp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(mp, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestCurrent(t *testing.T) {
	dir := t.TempDir()
	f := New(dir, nil)
	if _, err := f.Current(); !errors.Is(err, ErrNoImage) {
		t.Fatalf("Current(empty dir) = %v, want ErrNoImage", err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	writeImage(t, dir, "old", "kernel-old", "initrd-old", t0)
	writeImage(t, dir, "new", "kernel-new", "initrd-new", t0.Add(time.Hour))
	if err := os.MkdirAll(filepath.Join(dir, "no-manifest"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := f.Current()
	if err != nil || img.Name != "new" {
		t.Fatalf("Current() = %q, %v; want new", img.Name, err)
	}
	if got, want := img.KernelURL("http://10.0.0.1:8026"), "http://10.0.0.1:8026/images/new/vmlinuz"; got != want {
		t.Errorf("KernelURL = %q, want %q", got, want)
	}
	if got, want := img.InitrdURL("http://10.0.0.1:8026/"), "http://10.0.0.1:8026/images/new/initrd"; got != want {
		t.Errorf("InitrdURL = %q, want %q", got, want)
	}
	if img.Manifest.Cmdline != "console=ttyS0" {
		t.Errorf("Manifest.Cmdline = %q", img.Manifest.Cmdline)
	}

	// Same size, same modification time, different bytes: the remembered
	// verification stands (no rehash per request).
	initrd := filepath.Join(dir, "new", "initrd")
	st, _ := os.Stat(initrd)
	if err := os.WriteFile(initrd, []byte("initrd-NEW"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(initrd, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if img, err := f.Current(); err != nil || img.Name != "new" {
		t.Errorf("Current() with unchanged stat = %q, %v; want the cached new", img.Name, err)
	}
	// A new modification time makes it rehash: the corrupt image is
	// skipped and the older one is served.
	later := st.ModTime().Add(time.Minute)
	if err := os.Chtimes(initrd, later, later); err != nil {
		t.Fatal(err)
	}
	img, err = f.Current()
	if err != nil || img.Name != "old" {
		t.Errorf("Current() with corrupt newest = %q, %v; want old", img.Name, err)
	}
	// Fixing the file brings it back.
	if err := os.WriteFile(initrd, []byte("initrd-new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if img, err := f.Current(); err != nil || img.Name != "new" {
		t.Errorf("Current() after repair = %q, %v; want new", img.Name, err)
	}
	// Nothing verifies: the error names each image's problem.
	for _, n := range []string{"old", "new"} {
		if err := os.Remove(filepath.Join(dir, n, "vmlinuz")); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.Current()
	if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "old:") || !strings.Contains(err.Error(), "new:") {
		t.Errorf("Current() with no good image = %v, want ErrNoImage naming old and new", err)
	}
	if _, err := New(filepath.Join(dir, "missing"), nil).Current(); !errors.Is(err, ErrNoImage) {
		t.Errorf("Current(missing dir) = %v, want ErrNoImage", err)
	}
}

func TestBadArtefactPath(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "evil")
	os.MkdirAll(d, 0o755)
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Kernel: manifest.Artefact{Path: "../../etc/passwd"}, Initrd: manifest.Artefact{Path: "initrd"}}
	b, _ := m.Encode()
	os.WriteFile(filepath.Join(d, manifest.FileName), b, 0o644)
	if _, err := New(dir, nil).Current(); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "unusable artefact path") {
		t.Errorf("Current(escaping path) = %v, want ErrNoImage for the path", err)
	}
}

func TestBootable(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	writeImage(t, dir, "a", "k-a", "i-a", t0)
	writeImage(t, dir, "b", "k-b", "i-b", t0.Add(time.Hour))
	writeImage(t, dir, "broken", "k", "i", t0.Add(2*time.Hour))
	if err := os.WriteFile(filepath.Join(dir, "broken", "initrd"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := New(dir, nil).Bootable()
	var names []string
	for _, i := range imgs {
		names = append(names, i.Name)
	}
	if err != nil || strings.Join(names, ",") != "b,a" {
		t.Errorf("Bootable() = %v, %v; want b,a (newest first, the broken one left out)", names, err)
	}
	if _, err := New(t.TempDir(), nil).Bootable(); !errors.Is(err, ErrNoImage) {
		t.Errorf("Bootable(empty) = %v, want ErrNoImage", err)
	}
}

// setArch rewrites an image's manifest with arch, keeping its time.
func setArch(t *testing.T, dir, name, arch string, at time.Time) {
	t.Helper()
	d := filepath.Join(dir, name)
	m, err := manifest.Load(d)
	if err != nil {
		t.Fatal(err)
	}
	m.Arch = arch
	b, _ := m.Encode()
	mp := filepath.Join(d, manifest.FileName)
	if err := os.WriteFile(mp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(mp, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestCurrentFor: a mixed images directory gives each architecture its
// newest image; an architecture without one is an error naming what
// there is, never another architecture's kernel.
func TestCurrentFor(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeImage(t, dir, "x86-old", "k1", "i1", t0)
	setArch(t, dir, "x86-old", "amd64", t0)
	writeImage(t, dir, "legacy", "k0", "i0", t0.Add(-time.Hour)) // no arch: amd64
	writeImage(t, dir, "arm", "k2", "i2", t0.Add(time.Hour))
	setArch(t, dir, "arm", "arm64", t0.Add(time.Hour))
	writeImage(t, dir, "tc32", "k3", "i3", t0.Add(2*time.Hour))
	setArch(t, dir, "tc32", "i386", t0.Add(2*time.Hour))
	f := New(dir, nil)
	for arch, want := range map[string]string{
		"":        "tc32", // any: the newest
		"x86_64":  "x86-old",
		"i386":    "x86-old", // iPXE's BIOS build says i386 on 64-bit machines: amd64 first
		"amd64":   "x86-old",
		"arm64":   "arm",
		"aarch64": "arm",
	} {
		img, err := f.CurrentFor(arch)
		if err != nil || img.Name != want {
			t.Errorf("CurrentFor(%q) = %s, %v, want %s", arch, img.Name, err, want)
		}
	}
	if img, err := f.CurrentFor("riscv64"); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "riscv64") || !strings.Contains(err.Error(), "arm (arm64)") {
		t.Errorf("CurrentFor(riscv64) = %s, %v, want ErrNoImage naming the architecture and the images", img.Name, err)
	}
	// Without an arm64 image an arm64 node gets an error.
	if err := os.RemoveAll(filepath.Join(dir, "arm")); err != nil {
		t.Fatal(err)
	}
	if img, err := f.CurrentFor("arm64"); !errors.Is(err, ErrNoImage) {
		t.Errorf("CurrentFor(arm64) without an arm64 image = %s, %v", img.Name, err)
	}
}
