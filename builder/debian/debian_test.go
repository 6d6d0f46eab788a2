package debian

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/deb/debtest"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/kmod/kmodtest"
)

func TestParsePrintURIs(t *testing.T) {
	out := `Reading package lists...
'http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1%3a1.35.0-4%2bdeb12u1%2bb1_amd64.deb' busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb 928188 SHA256:3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
'http://x/old.deb' old.deb 12 MD5Sum:0123456789abcdef0123456789abcdef
`
	got, err := parsePrintURIs([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]URI{
		"3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744": {
			URL:  "http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1%3a1.35.0-4%2bdeb12u1%2bb1_amd64.deb",
			File: "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb", Size: 928188,
			SHA256: "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsePrintURIs mismatch (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"'http://x/unterminated a 1 SHA256:x\n", "'http://x/a.deb' a.deb\n", "'http://x/a.deb' a.deb big SHA256:00\n"} {
		if _, err := parsePrintURIs([]byte(bad)); err == nil {
			t.Errorf("parsePrintURIs(%q) = nil error", bad)
		}
	}
}

func TestDependsOn(t *testing.T) {
	tests := []struct{ depends, want string }{
		{"linux-image-6.1.0-56-amd64 (= 6.1.192-2)", "linux-image-6.1.0-56-amd64"},
		{"kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool", ""},
		{"foo | linux-image-6.1.0-1-amd64:amd64", "linux-image-6.1.0-1-amd64"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := (Package{Depends: tt.depends}).DependsOn("linux-image-"); got != tt.want {
			t.Errorf("DependsOn(%q) = %q, want %q", tt.depends, got, tt.want)
		}
	}
}

// fakeApt writes apt-cache and apt-get stand-ins that answer from files
// under dir and count their calls in dir/calls.
type fakeApt struct {
	dir  string
	apt  *Apt
	debs map[string][]byte
}

func newFakeApt(t *testing.T) *fakeApt {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"show", "debs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cache := `#!/bin/sh
echo apt-cache >> ` + dir + `/calls
shift 2
found=0
for n in "$@"; do
  if [ -f "` + dir + `/show/$n" ]; then cat "` + dir + `/show/$n"; echo; found=1; fi
done
if [ $found = 0 ]; then echo "E: No packages found" >&2; exit 100; fi
`
	get := `#!/bin/sh
echo "apt-get $1 $2" >> ` + dir + `/calls
if [ "$2" = --print-uris ]; then
  shift 2
  for ref in "$@"; do
    n=${ref%%=*}
    f=` + dir + `/debs/$n.deb
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    [ -f ` + dir + `/debs/$n.claim ] && sum=$(cat ` + dir + `/debs/$n.claim)
    echo "'http://deb.example/pool/$n.deb' $n.deb $(stat -c %s "$f") SHA256:$sum"
  done
  exit 0
fi
ref=$3
n=${ref%%=*}
cp ` + dir + `/debs/$n.deb "./${n}_1_amd64.deb"
`
	for name, script := range map[string]string{"apt-cache": cache, "apt-get": get} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(dir, "lists")
	if err := os.WriteFile(state, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fakeApt{dir: dir, debs: map[string][]byte{},
		apt: &Apt{AptGet: filepath.Join(dir, "apt-get"), AptCache: filepath.Join(dir, "apt-cache"), StateGlobs: []string{state}}}
}

// add makes package name available with a stanza and, when data is not
// nil, a .deb.
func (f *fakeApt) add(t *testing.T, name, version, depends string, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	stanza := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nDepends: %s\nDescription: x\n multi\n .\n line\nSize: %d\nSHA256: %s\n",
		name, version, depends, len(data), hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(f.dir, "show", name), []byte(stanza), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "debs", name+".deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeApt) calls(t *testing.T) []string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "calls"))
	os.Remove(filepath.Join(f.dir, "calls"))
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

func busyboxDeb(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil || !bytes.HasPrefix(bb, []byte("\x7fELF")) {
		t.Skip("/bin/busybox (Debian busybox-static) not installed")
	}
	d, err := debtest.Deb("Package: busybox-static\nVersion: 1:1.35.0-4\nArchitecture: amd64\n", []debtest.Entry{{Name: "./bin/busybox", Mode: 0o755, Data: bb}}, "gz")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func kernelDeb(t *testing.T, kv string) []byte {
	t.Helper()
	d, err := debtest.Deb("Package: linux-image-"+kv+"\nVersion: 6.1.999-1\nArchitecture: amd64\n", []debtest.Entry{
		{Name: "./boot/vmlinuz-" + kv, Data: []byte("bzImage")},
		{Name: "./lib/modules/" + kv + "/kernel/drivers/net/x.ko", Data: kmodtest.ELF("name=x", "depends=")},
		{Name: "./usr/share/doc/linux-image/changelog.gz", Data: []byte("doc")},
	}, "xz")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenWithApt(t *testing.T) {
	f := newFakeApt(t)
	kv := "6.1.0-99-amd64"
	meta, _ := debtest.Deb("Package: linux-image-amd64\nVersion: 6.1.999-1\nArchitecture: amd64\n", nil, "gz")
	f.add(t, "linux-image-amd64", "6.1.999-1", "linux-image-"+kv+" (= 6.1.999-1)", meta)
	f.add(t, "linux-image-"+kv, "6.1.999-1", "kmod, linux-base (>= 4.3~)", kernelDeb(t, kv))
	f.add(t, "busybox-static", "1:1.35.0-4", "", busyboxDeb(t))
	src := &Source{
		Debian:         spec.Debian{Kernel: "linux-image-amd64", Busybox: "busybox-static", Firmware: []string{"firmware-bnx2"}},
		Arch:           "amd64",
		BusyboxExclude: []string{"telnetd"},
		Apt:            f.apt,
	}
	env := base.Env{CacheDir: t.TempDir(), Arch: "amd64", Logger: slog.New(slog.DiscardHandler), Progress: base.Discard}
	b, err := src.Open(context.Background(), env)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if b.KernelVersion != kv || filepath.Base(b.Kernel) != "vmlinuz-"+kv {
		t.Errorf("Open kernel = %s %s, want %s", b.KernelVersion, b.Kernel, kv)
	}
	if _, err := fs.Stat(b.Modules, "kernel/drivers/net/x.ko"); err != nil {
		t.Errorf("modules tree: %v", err)
	}
	var srcs []string
	for _, s := range b.Sources {
		srcs = append(srcs, s.Kind+" "+s.Name+" "+s.Version+" "+s.URL)
	}
	want := []string{
		"deb linux-image-" + kv + " 6.1.999-1 http://deb.example/pool/linux-image-" + kv + ".deb",
		"deb busybox-static 1:1.35.0-4 http://deb.example/pool/busybox-static.deb",
	}
	if diff := cmp.Diff(want, srcs); diff != "" {
		t.Errorf("Sources mismatch (-want +got):\n%s", diff)
	}
	if len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "firmware-bnx2: not available") {
		t.Errorf("Notes = %q, want firmware-bnx2 noted as unavailable", b.Notes)
	}
	if r, ok := b.Archive.Get("bin/sh"); !ok || r.Target != "/bin/busybox" {
		t.Errorf("archive bin/sh = %+v, want a busybox link", r)
	}
	if _, ok := b.Archive.Get("usr/sbin/telnetd"); ok {
		t.Errorf("excluded applet telnetd has a link")
	}
	if r, ok := b.Archive.Get("bin/busybox"); !ok || r.Type != initramfs.TypeFile {
		t.Errorf("archive has no bin/busybox file")
	}
	wantCalls := []string{"apt-cache", "apt-cache", "apt-get_download_--print-uris", "apt-get_download_-q", "apt-get_download_-q"}
	if diff := cmp.Diff(wantCalls, f.calls(t)); diff != "" {
		t.Errorf("apt calls (cold) mismatch (-want +got):\n%s", diff)
	}

	// Warm: the resolution and the .debs come from the cache.
	if _, err := src.Open(context.Background(), env); err != nil {
		t.Fatalf("Open (warm) = %v", err)
	}
	if got := f.calls(t); len(got) != 0 {
		t.Errorf("apt calls (warm) = %v, want none", got)
	}
	// apt-get update (the state changes): resolved again, not downloaded.
	if err := os.WriteFile(f.apt.StateGlobs[0], []byte("v2, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Open(context.Background(), env); err != nil {
		t.Fatalf("Open (after update) = %v", err)
	}
	if diff := cmp.Diff([]string{"apt-cache", "apt-cache", "apt-get_download_--print-uris"}, f.calls(t)); diff != "" {
		t.Errorf("apt calls (after update) mismatch (-want +got):\n%s", diff)
	}
}

func TestOpenErrors(t *testing.T) {
	kv := "6.1.0-99-amd64"
	env := func(t *testing.T) base.Env {
		return base.Env{CacheDir: t.TempDir(), Arch: "amd64", Logger: slog.New(slog.DiscardHandler), Progress: base.Discard}
	}
	t.Run("kernel unavailable", func(t *testing.T) {
		f := newFakeApt(t)
		f.add(t, "busybox-static", "1", "", busyboxDeb(t))
		src := &Source{Debian: spec.Debian{Kernel: "linux-image-amd64", Busybox: "busybox-static"}, Arch: "amd64", Apt: f.apt}
		_, err := src.Open(context.Background(), env(t))
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "linux-image-amd64") {
			t.Errorf("Open = %v, want ErrUnavailable naming linux-image-amd64", err)
		}
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		f := newFakeApt(t)
		f.add(t, "linux-image-"+kv, "1", "", kernelDeb(t, kv))
		f.add(t, "busybox-static", "1", "", busyboxDeb(t))
		// apt announces another checksum than the file it downloads.
		stanza, _ := os.ReadFile(filepath.Join(f.dir, "show", "busybox-static"))
		bad := strings.Repeat("ab", 32)
		stanza = []byte(strings.Replace(string(stanza), "SHA256: ", "SHA256: "+bad+"\nX-Old: ", 1))
		os.WriteFile(filepath.Join(f.dir, "show", "busybox-static"), stanza, 0o644)
		os.WriteFile(filepath.Join(f.dir, "debs", "busybox-static.claim"), []byte(bad), 0o644)
		src := &Source{Debian: spec.Debian{Kernel: "linux-image-" + kv, Busybox: "busybox-static"}, Arch: "amd64", Apt: f.apt}
		e := env(t)
		_, err := src.Open(context.Background(), e)
		if !errors.Is(err, ErrChecksum) {
			t.Errorf("Open = %v, want ErrChecksum", err)
		}
		if m, _ := filepath.Glob(filepath.Join(e.CacheDir, "debs", "sha256", "*")); len(m) != 1 {
			t.Errorf("cache holds %v after a mismatch, want only the kernel", m)
		}
	})
	t.Run("no kernel image", func(t *testing.T) {
		dir := t.TempDir()
		empty, _ := debtest.Deb("Package: linux-image-x\nVersion: 1\nArchitecture: amd64\n", []debtest.Entry{{Name: "./boot/System.map-x", Data: []byte("x")}}, "gz")
		os.WriteFile(filepath.Join(dir, "k.deb"), empty, 0o644)
		os.WriteFile(filepath.Join(dir, "b.deb"), busyboxDeb(t), 0o644)
		src := &Source{Debian: spec.Debian{KernelDeb: filepath.Join(dir, "k.deb"), BusyboxDeb: filepath.Join(dir, "b.deb")}, Arch: "amd64"}
		_, err := src.Open(context.Background(), env(t))
		if !errors.Is(err, ErrNoKernel) {
			t.Errorf("Open = %v, want ErrNoKernel", err)
		}
	})
	t.Run("wrong architecture", func(t *testing.T) {
		dir := t.TempDir()
		k, _ := debtest.Deb("Package: linux-image-x\nVersion: 1\nArchitecture: arm64\n", []debtest.Entry{{Name: "./boot/vmlinuz-x", Data: []byte("x")}}, "gz")
		os.WriteFile(filepath.Join(dir, "k.deb"), k, 0o644)
		src := &Source{Debian: spec.Debian{KernelDeb: filepath.Join(dir, "k.deb")}, Arch: "amd64"}
		_, err := src.Open(context.Background(), env(t))
		if err == nil || !strings.Contains(err.Error(), "is for arm64, the image is amd64") {
			t.Errorf("Open = %v, want an architecture mismatch", err)
		}
	})
}

func TestUnpackCache(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	data := kernelDeb(t, "k")
	p := filepath.Join(c.Dir, "k.deb")
	os.WriteFile(p, data, 0o644)
	sum, _, _ := HashFile(p)
	// A tree left half-made by an interrupted build is not trusted.
	half := filepath.Join(c.Dir, "debian", "unpacked", unpackVersion, sum)
	os.MkdirAll(filepath.Join(half, "boot"), 0o755)
	os.WriteFile(filepath.Join(half, "boot", "stale"), []byte("x"), 0o644)
	dir, ctl, err := c.Unpack(p, sum, keepFor("kernel"), base.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ctl.Package() != "linux-image-k" {
		t.Errorf("control Package = %q", ctl.Package())
	}
	if _, err := os.Stat(filepath.Join(dir, "boot", "stale")); err == nil {
		t.Errorf("the half-made tree was reused")
	}
	if _, err := os.Stat(filepath.Join(dir, "usr", "share", "doc")); err == nil {
		t.Errorf("the kernel filter kept usr/share/doc")
	}
	// Reuse: the same directory, without reading the .deb again.
	os.Remove(p)
	dir2, ctl2, err := c.Unpack(p, sum, keepFor("kernel"), base.Discard)
	if err != nil || dir2 != dir || ctl2.Version() != "6.1.999-1" {
		t.Errorf("Unpack (cached) = %s, %v, %v", dir2, ctl2, err)
	}
}

func TestDirFSConfined(t *testing.T) {
	dir := t.TempDir()
	os.Symlink("/etc/passwd", filepath.Join(dir, "escape"))
	os.WriteFile(filepath.Join(dir, "inside"), []byte("ok"), 0o644)
	fsys := base.DirFS(dir)
	if b, err := fs.ReadFile(fsys, "inside"); err != nil || string(b) != "ok" {
		t.Errorf("ReadFile(inside) = %q, %v", b, err)
	}
	if _, err := fs.ReadFile(fsys, "escape"); err == nil {
		t.Errorf("ReadFile(escape) followed a symlink out of the tree")
	}
}

func FuzzParseShow(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nSHA256: " + strings.Repeat("0", 64) + "\n"))
	f.Add([]byte("Package: a\n\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range splitStanzas(data) {
			p, err := parseShow(s)
			if err == nil && (p.Name == "" || len(p.SHA256) != 64) {
				t.Fatalf("parseShow(%q) = %+v without name or checksum", s, p)
			}
		}
		_, _ = parsePrintURIs(data)
	})
}

// loaderDeb is a package holding a stand-in signed EFI binary at file.
func loaderDeb(t *testing.T, pkg, version, file string, data []byte) []byte {
	t.Helper()
	d, err := debtest.Deb("Package: "+pkg+"\nVersion: "+version+"\nArchitecture: amd64\n", []debtest.Entry{
		{Name: "./" + file, Data: data},
		{Name: "./usr/lib/shim/mmx64.efi.signed", Data: []byte("MZ other")},
		{Name: "./usr/share/doc/" + pkg + "/copyright", Data: []byte("doc")},
	}, "xz")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenLoaders(t *testing.T) {
	kv := "6.1.0-99-amd64"
	chain, _ := spec.LoadersFor("amd64")
	on := true
	env := func(t *testing.T) base.Env {
		return base.Env{CacheDir: t.TempDir(), Arch: "amd64", Logger: slog.New(slog.DiscardHandler), Progress: base.Discard}
	}
	check := func(t *testing.T, b *base.Base, wantSources []string) {
		t.Helper()
		type got struct{ Role, Name, Package, Version, Content string }
		var gl []got
		for _, l := range b.Loaders {
			data, err := os.ReadFile(l.Path)
			if err != nil {
				t.Fatal(err)
			}
			gl = append(gl, got{l.Role, l.Name, l.Package, l.Version, string(data)})
		}
		want := []got{
			{"shim", "shimx64.efi", "shim-signed", "1.51~1+deb12u1+16.1-2~deb12u1", "MZ shim"},
			{"grub", "grubx64.efi", "grub-efi-amd64-signed", "1+2.06+13+deb12u2", "MZ netboot grub"},
		}
		if diff := cmp.Diff(want, gl); diff != "" {
			t.Errorf("Loaders mismatch (-want +got):\n%s", diff)
		}
		var srcs []string
		for _, s := range b.Sources {
			srcs = append(srcs, s.Name+" "+s.Version+" "+s.URL)
		}
		if diff := cmp.Diff(wantSources, srcs); diff != "" {
			t.Errorf("Sources mismatch (-want +got):\n%s", diff)
		}
	}
	shim := loaderDeb(t, "shim-signed", "1.51~1+deb12u1+16.1-2~deb12u1", chain.Shim.File, []byte("MZ shim"))
	grub := loaderDeb(t, "grub-efi-amd64-signed", "1+2.06+13+deb12u2", chain.GRUB.File, []byte("MZ netboot grub"))

	t.Run("apt", func(t *testing.T) {
		f := newFakeApt(t)
		f.add(t, "linux-image-"+kv, "6.1.999-1", "", kernelDeb(t, kv))
		f.add(t, "busybox-static", "1:1.35.0-4", "", busyboxDeb(t))
		f.add(t, "shim-signed", "1.51~1+deb12u1+16.1-2~deb12u1", "", shim)
		f.add(t, "grub-efi-amd64-signed", "1+2.06+13+deb12u2", "", grub)
		src := &Source{Debian: spec.Debian{Kernel: "linux-image-" + kv, Busybox: "busybox-static", SecureBoot: &on}, Arch: "amd64", Apt: f.apt}
		e := env(t)
		b, err := src.Open(context.Background(), e)
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		check(t, b, []string{
			"linux-image-" + kv + " 6.1.999-1 http://deb.example/pool/linux-image-" + kv + ".deb",
			"busybox-static 1:1.35.0-4 http://deb.example/pool/busybox-static.deb",
			"shim-signed 1.51~1+deb12u1+16.1-2~deb12u1 http://deb.example/pool/shim-signed.deb",
			"grub-efi-amd64-signed 1+2.06+13+deb12u2 http://deb.example/pool/grub-efi-amd64-signed.deb",
		})
		// Only the signed file was unpacked, not the rest of the package.
		if _, err := os.Stat(filepath.Join(filepath.Dir(b.Loaders[0].Path), "mmx64.efi.signed")); err == nil {
			t.Errorf("the shim package was unpacked whole")
		}
		// Warm: no apt call, the same loaders from the cache.
		f.calls(t)
		b, err = src.Open(context.Background(), e)
		if err != nil {
			t.Fatalf("Open (warm) = %v", err)
		}
		if got := f.calls(t); len(got) != 0 {
			t.Errorf("apt calls (warm) = %v, want none", got)
		}
		if len(b.Loaders) != 2 {
			t.Errorf("Open (warm) loaders = %+v", b.Loaders)
		}
	})
	t.Run("local debs", func(t *testing.T) {
		dir := t.TempDir()
		for name, data := range map[string][]byte{"k.deb": kernelDeb(t, kv), "b.deb": busyboxDeb(t), "shim.deb": shim, "grub.deb": grub} {
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		src := &Source{Arch: "amd64", Apt: &Apt{AptGet: "/nonexistent", AptCache: "/nonexistent"}, Debian: spec.Debian{
			KernelDeb: filepath.Join(dir, "k.deb"), BusyboxDeb: filepath.Join(dir, "b.deb"),
			SecureBoot: &on, ShimDeb: filepath.Join(dir, "shim.deb"), GRUBDeb: filepath.Join(dir, "grub.deb"),
		}}
		b, err := src.Open(context.Background(), env(t))
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		check(t, b, []string{"linux-image-" + kv + " 6.1.999-1 ", "busybox-static 1:1.35.0-4 ", "shim-signed 1.51~1+deb12u1+16.1-2~deb12u1 ", "grub-efi-amd64-signed 1+2.06+13+deb12u2 "})
	})
	t.Run("errors", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "k.deb"), kernelDeb(t, kv), 0o644)
		os.WriteFile(filepath.Join(dir, "shim.deb"), shim, 0o644)
		// This GRUB package has grubx64.efi.signed, not the netboot GRUB.
		wrong := loaderDeb(t, "grub-efi-amd64-signed", "1", "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", []byte("MZ"))
		os.WriteFile(filepath.Join(dir, "wrong.deb"), wrong, 0o644)
		notPE := loaderDeb(t, "grub-efi-amd64-signed", "2", chain.GRUB.File, []byte("#!/bin/sh"))
		os.WriteFile(filepath.Join(dir, "notpe.deb"), notPE, 0o644)
		for name, want := range map[string]string{"wrong.deb": "no regular file /usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "notpe.deb": "is not an EFI (PE) image"} {
			src := &Source{Arch: "amd64", Debian: spec.Debian{KernelDeb: filepath.Join(dir, "k.deb"),
				SecureBoot: &on, ShimDeb: filepath.Join(dir, "shim.deb"), GRUBDeb: filepath.Join(dir, name)}}
			_, err := src.Open(context.Background(), env(t))
			if !errors.Is(err, ErrNoLoader) || !strings.Contains(err.Error(), want) {
				t.Errorf("Open with %s = %v, want ErrNoLoader: %s", name, err, want)
			}
		}
		// A loader package apt does not have is an error, not a note.
		f := newFakeApt(t)
		f.add(t, "shim-signed", "1", "", shim)
		src := &Source{Arch: "amd64", Apt: f.apt, Debian: spec.Debian{KernelDeb: filepath.Join(dir, "k.deb"), SecureBoot: &on}}
		_, err := src.Open(context.Background(), env(t))
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "grub-efi-amd64-signed") {
			t.Errorf("Open without grub from apt = %v, want ErrUnavailable naming it", err)
		}
	})
}

// elfHeader returns a 64-bit little-endian ELF header for machine, all
// debug/elf needs to tell a binary's architecture.
func elfHeader(machine elf.Machine) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(machine))
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint16(h[52:], 64)
	binary.LittleEndian.PutUint16(h[54:], 56)
	binary.LittleEndian.PutUint16(h[58:], 64)
	return h
}

// foreignMachine is a machine the host cannot run natively.
func foreignMachine() elf.Machine {
	if hostMachine == elf.EM_AARCH64 {
		return elf.EM_X86_64
	}
	return elf.EM_AARCH64
}

func TestBusyboxCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	native := write("native", elfHeader(hostMachine))
	foreign := write("foreign", elfHeader(foreignMachine()))
	arm32 := write("arm32", elfHeader(elf.EM_ARM))
	text := write("text", []byte("#!/bin/sh\n"))
	emu := Emulators[foreignMachine()]
	found := func(file string) (string, error) { return "/usr/bin/" + file, nil }
	missing := func(file string) (string, error) { return "", &exec.Error{Name: file, Err: exec.ErrNotFound} }
	for _, tc := range []struct {
		name     string
		bin      string
		lookPath func(string) (string, error)
		want     []string
		errHas   []string
	}{
		{name: "native", bin: native, lookPath: missing, want: []string{native}},
		{name: "foreign, emulated", bin: foreign, lookPath: found, want: []string{"/usr/bin/" + emu, foreign}},
		{name: "foreign, no emulator", bin: foreign, lookPath: missing, errHas: []string{emu, "Debian package qemu-user-static", foreignMachine().String()}},
		{name: "no emulator known", bin: arm32, lookPath: found, errHas: []string{"EM_ARM", "neither run nor emulate"}},
		{name: "not ELF", bin: text, lookPath: found, errHas: []string{text}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := busyboxCommand(tc.bin, tc.lookPath)
			if tc.errHas != nil {
				if !errors.Is(err, ErrNoBusybox) {
					t.Fatalf("busyboxCommand(%s) = %v, %v; want ErrNoBusybox", tc.name, got, err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("busyboxCommand(%s) error %q lacks %q", tc.name, err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("busyboxCommand(%s) = %v", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("busyboxCommand(%s) mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// TestBusyboxEmulated lists a foreign busybox's applets through an
// emulator: a script standing in for qemu-user-static that checks it is
// given the binary and --list-full, as qemu-aarch64-static is.
func TestBusyboxEmulated(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin", "busybox")
	if err := os.WriteFile(bin, elfHeader(foreignMachine()), 0o755); err != nil {
		t.Fatal(err)
	}
	emu := filepath.Join(t.TempDir(), "qemu-static")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = %q ] && [ \"$2\" = --list-full ] || exit 3\nprintf 'bin/sh\\nusr/sbin/telnetd\\nsbin/ip\\nlinuxrc\\n'\n", bin)
	if err := os.WriteFile(emu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var asked string
	src := &Source{BusyboxExclude: []string{"telnetd"}, LookPath: func(file string) (string, error) {
		asked = file
		return emu, nil
	}}
	a := initramfs.New()
	if err := src.addBusybox(context.Background(), a, dir); err != nil {
		t.Fatalf("addBusybox = %v", err)
	}
	if asked != Emulators[foreignMachine()] {
		t.Errorf("LookPath asked for %q, want %q", asked, Emulators[foreignMachine()])
	}
	var got []string
	for _, r := range a.Records() {
		got = append(got, r.Name+" "+r.Target)
	}
	want := []string{"bin/busybox ", "bin/sh /bin/busybox", "sbin/ip /bin/busybox"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive mismatch (-want +got):\n%s", diff)
	}

	// An emulator that fails is reported with the command it ran.
	if err := os.WriteFile(emu, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := src.addBusybox(context.Background(), initramfs.New(), dir)
	if !errors.Is(err, ErrNoBusybox) || !strings.Contains(err.Error(), emu+" "+bin+" --list-full") {
		t.Errorf("addBusybox with a failing emulator = %v, want ErrNoBusybox naming the command", err)
	}
}
