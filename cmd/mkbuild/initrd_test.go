package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/initramfs"
)

// runCLI runs mkbuild with args and returns stdout and the error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SilenceUsage = true
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// writeInitrd writes a to a file in a temporary directory.
func writeInitrd(t *testing.T, a *initramfs.Archive, c initramfs.Compression) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "initrd")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(f, initramfs.WriteOptions{Compression: c}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func tinyCore() *initramfs.Archive {
	a := initramfs.New()
	a.AddDir(".", 0o755)
	a.AddFile("bin/busybox", []byte("BUSYBOX"), 0o4755)
	a.AddRecord(initramfs.Record{Name: "bin/ash", Type: initramfs.TypeHardlink, Target: "bin/busybox"})
	a.AddSymlink("bin/sh", "busybox")
	a.AddSymlink("sbin", "bin")
	a.AddSymlink("etc/issue", "/usr/share/issue")
	a.AddFile("usr/share/issue", []byte("Tiny Core\n"), 0o644)
	a.AddSymlink("loop1", "loop2")
	a.AddSymlink("loop2", "loop1")
	a.AddDevice("dev/console", initramfs.CharDevice, 5, 1, 0o600)
	a.AddRecord(initramfs.Record{Name: "home/tc", Type: initramfs.TypeDir, Perm: 0o755, UID: 1001, GID: 50})
	return a
}

func TestInitrdLs(t *testing.T) {
	p := writeInitrd(t, tinyCore(), initramfs.Gzip)
	got, err := runCLI(t, "initrd", "ls", p)
	if err != nil {
		t.Fatalf("initrd ls = %v", err)
	}
	want := `drwxr-xr-x 0:0       0 .
drwxr-xr-x 0:0       0 bin
-rwsr-xr-x 0:0       7 bin/ash
-rwsr-xr-x 0:0       7 bin/busybox link to bin/ash
lrwxrwxrwx 0:0       7 bin/sh -> busybox
drwxr-xr-x 0:0       0 dev
crw------- 0:0     5,1 dev/console
drwxr-xr-x 0:0       0 etc
lrwxrwxrwx 0:0      16 etc/issue -> /usr/share/issue
drwxr-xr-x 0:0       0 home
drwxr-xr-x 1001:50   0 home/tc
lrwxrwxrwx 0:0       5 loop1 -> loop2
lrwxrwxrwx 0:0       5 loop2 -> loop1
lrwxrwxrwx 0:0       3 sbin -> bin
drwxr-xr-x 0:0       0 usr
drwxr-xr-x 0:0       0 usr/share
-rw-r--r-- 0:0      10 usr/share/issue
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initrd ls (-want +got):\n%s", diff)
	}
	names, err := runCLI(t, "initrd", "ls", "-1", p)
	if err != nil || !strings.HasPrefix(names, ".\nbin\nbin/ash\n") {
		t.Errorf("initrd ls -1 = %q, %v", names, err)
	}
	if _, err := runCLI(t, "initrd", "ls", filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("initrd ls missing = %v, want not exist", err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("not an initrd at all"), 0o644)
	if _, err := runCLI(t, "initrd", "ls", bad); !errors.Is(err, initramfs.ErrBadMagic) {
		t.Errorf("initrd ls garbage = %v, want ErrBadMagic", err)
	}
}

func TestInitrdCat(t *testing.T) {
	p := writeInitrd(t, tinyCore(), initramfs.Zstd)
	tests := []struct {
		path, want, wantErr string
	}{
		{"usr/share/issue", "Tiny Core\n", ""},
		{"/etc/issue", "Tiny Core\n", ""}, // absolute symlink
		{"bin/sh", "BUSYBOX", ""},         // relative symlink, then hardlink
		{"sbin/ash", "BUSYBOX", ""},       // symlinked directory
		{"bin", "", "is a dir"},
		{"dev/console", "", "is a char device"},
		{"nope", "", "no such entry"},
		{"loop1", "", "too many levels"},
		{"bin/busybox/x", "", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := runCLI(t, "initrd", "cat", p, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("initrd cat %s = %v, want error with %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("initrd cat %s = %q, %v; want %q", tt.path, got, err, tt.want)
			}
		})
	}
}

func TestInitrdExtract(t *testing.T) {
	a := tinyCore()
	a.Remove("dev") // a device node needs root; TestExtract in initramfs covers it
	p := writeInitrd(t, a, initramfs.Xz)
	dir := filepath.Join(t.TempDir(), "root")
	got, err := runCLI(t, "initrd", "extract", p, dir)
	if err != nil {
		t.Fatalf("initrd extract = %v", err)
	}
	if want := "extracted 15 entries to " + dir + "\n"; got != want {
		t.Errorf("initrd extract output = %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sbin/ash")); err != nil || string(b) != "BUSYBOX" {
		t.Errorf("extracted sbin/ash = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("extracted bin/busybox mode = %v, %v; want setuid", fi.Mode(), err)
	}
}

func TestInitrdDiff(t *testing.T) {
	old := writeInitrd(t, tinyCore(), initramfs.Gzip)
	b := tinyCore()
	b.AddFile("usr/share/issue", []byte("Razor MK\n"), 0o644)
	b.AddRecord(initramfs.Record{Name: "home/tc", Type: initramfs.TypeDir, Perm: 0o750, UID: 1001, GID: 50})
	b.Remove("loop1")
	b.AddFile("etc/hostname", []byte("mk\n"), 0o644)
	new := writeInitrd(t, b, initramfs.None)
	got, err := runCLI(t, "initrd", "diff", old, new)
	if err != nil {
		t.Fatalf("initrd diff = %v", err)
	}
	want := `+ etc/hostname
~ home/tc: mode drwxr-xr-x -> drwxr-x---
- loop1
~ usr/share/issue: size 10 -> 9, content
1 added, 1 removed, 2 changed
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initrd diff (-want +got):\n%s", diff)
	}
	if _, err := runCLI(t, "initrd", "diff", "--exit-code", old, new); !errors.Is(err, errDiffer) {
		t.Errorf("initrd diff --exit-code = %v, want errDiffer", err)
	}
	same, err := runCLI(t, "initrd", "diff", "--exit-code", old, old)
	if err != nil || same != "0 added, 0 removed, 0 changed\n" {
		t.Errorf("initrd diff --exit-code same = %q, %v", same, err)
	}
}

func TestInitrdPack(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc/motd"), []byte("packed\n"), 0o644)
	os.WriteFile(filepath.Join(src, "init"), []byte("#!/bin/sh\n"), 0o755)
	out := t.TempDir()
	pack := func(name string, args ...string) []byte {
		t.Helper()
		p := filepath.Join(out, name)
		if _, err := runCLI(t, append(append([]string{"initrd", "pack"}, args...), src, p)...); err != nil {
			t.Fatalf("initrd pack %v = %v", args, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	one := pack("one.gz")
	two := pack("two.gz")
	if !bytes.Equal(one, two) {
		t.Errorf("initrd pack twice gives different bytes")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1")
	if three := pack("three.gz"); bytes.Equal(one, three) {
		t.Errorf("initrd pack ignores SOURCE_DATE_EPOCH")
	}
	a, err := initramfs.Read(bytes.NewReader(pack("z.zst", "-c", "zstd", "-l", "3")))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := a.Get("etc/motd"); !ok || string(r.Data) != "packed\n" {
		t.Errorf("pack -c zstd: etc/motd = %+v", r)
	}
	// --base keeps the base's owners and device nodes.
	base := writeInitrd(t, tinyCore(), initramfs.Gzip)
	a, err = initramfs.Read(bytes.NewReader(pack("over.gz", "--base", base)))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := a.Get("home/tc"); !ok || r.UID != 1001 {
		t.Errorf("pack --base: home/tc = %+v, want uid 1001 kept", r)
	}
	if r, ok := a.Get("dev/console"); !ok || r.Major != 5 {
		t.Errorf("pack --base: dev/console = %+v, want kept", r)
	}
	if _, ok := a.Get("init"); !ok {
		t.Errorf("pack --base: init from DIR missing")
	}

	for _, tt := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"-c", "lz4"}, "", "read but not written"},
		{[]string{"-c", "brotli"}, "", "--compression"},
		{nil, "yesterday", "SOURCE_DATE_EPOCH"},
		{[]string{"-l", "12"}, "", "level 12"},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tt.env)
		p := filepath.Join(out, "bad")
		_, err := runCLI(t, append(append([]string{"initrd", "pack"}, tt.args...), src, p)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("initrd pack %v (SOURCE_DATE_EPOCH=%q) = %v, want error with %q", tt.args, tt.env, err, tt.want)
		}
		if _, serr := os.Stat(p); serr == nil {
			t.Errorf("initrd pack %v left a file behind after failing", tt.args)
		}
	}
}
