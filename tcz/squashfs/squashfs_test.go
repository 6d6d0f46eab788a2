package squashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// realDir is the real Tiny Core release beside the checkout
// (../shared/tinycore-real), or "" when it is absent.
func realDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "..", "shared", "tinycore-real")
			if _, err := os.Stat(p); err != nil {
				return ""
			}
			return p
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func requireTools(t *testing.T) {
	t.Helper()
	for _, p := range []string{"mksquashfs", "unsquashfs"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (Debian package squashfs-tools)", p)
		}
	}
}

// listing renders the image as unsquashfs -lln does: mode, uid/gid, size
// (or device numbers), path and link target; times left out.
func listing(t *testing.T, img string) []string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	sq, err := Open(f, fi.Size())
	if err != nil {
		t.Fatalf("Open(%s) = %v", img, err)
	}
	var out []string
	err = sq.Walk(func(e *Entry) error {
		p := "squashfs-root"
		if e.Path != "." {
			p += "/" + e.Path
		}
		size := fmt.Sprint(e.Size)
		switch {
		case e.Mode&fs.ModeDevice != 0:
			size = fmt.Sprintf("%d,%d", e.Major, e.Minor)
		case e.Mode&fs.ModeSymlink != 0:
			size = fmt.Sprint(len(e.Target))
			p += " -> " + e.Target
		case e.Mode.IsDir(), e.Mode&(fs.ModeNamedPipe|fs.ModeSocket) != 0:
			size = "-"
		}
		out = append(out, fmt.Sprintf("%s %d/%d %s %s", unixMode(e.Mode), e.UID, e.GID, size, p))
		if e.Mode.IsRegular() {
			data, err := sq.ReadFile(e)
			if err != nil {
				return err
			}
			if int64(len(data)) != e.Size {
				return fmt.Errorf("%s: read %d bytes, size %d", e.Path, len(data), e.Size)
			}
			want, err := exec.Command("unsquashfs", "-cat", img, e.Path).Output()
			if err != nil {
				return fmt.Errorf("unsquashfs -cat %s: %v", e.Path, err)
			}
			if !bytes.Equal(data, want) {
				return fmt.Errorf("%s: contents differ from unsquashfs -cat (%d vs %d bytes)", e.Path, len(data), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%s) = %v", img, err)
	}
	return out
}

func unixMode(m fs.FileMode) string {
	s := []byte("-rwxrwxrwx")
	switch {
	case m.IsDir():
		s[0] = 'd'
	case m&fs.ModeSymlink != 0:
		s[0] = 'l'
	case m&fs.ModeCharDevice != 0:
		s[0] = 'c'
	case m&fs.ModeDevice != 0:
		s[0] = 'b'
	case m&fs.ModeNamedPipe != 0:
		s[0] = 'p'
	case m&fs.ModeSocket != 0:
		s[0] = 's'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			s[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, i int, set, unset byte) {
		if m&bit != 0 {
			if s[i] == 'x' {
				s[i] = set
			} else {
				s[i] = unset
			}
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(s)
}

// unsquashfsListing is unsquashfs -lln without the times.
func unsquashfsListing(t *testing.T, img string) []string {
	t.Helper()
	b, err := exec.Command("unsquashfs", "-lln", img).Output()
	if err != nil {
		t.Fatalf("unsquashfs -lln %s: %v", img, err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		size := f[2]
		if strings.HasPrefix(f[0], "d") || strings.HasPrefix(f[0], "p") || strings.HasPrefix(f[0], "s") {
			size = "-"
		}
		rest := f[5:]
		if strings.HasPrefix(f[0], "b") || strings.HasPrefix(f[0], "c") {
			// "1, 3" is two fields.
			size = strings.ReplaceAll(f[2]+f[3], " ", "")
			rest = f[6:]
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", f[0], f[1], size, strings.Join(rest, " ")))
	}
	return out
}

// TestRealExtensions reads every extension of the real Tiny Core 4.x
// release and compares the tree and every file with unsquashfs.
func TestRealExtensions(t *testing.T) {
	requireTools(t)
	dir := realDir(t)
	if dir == "" {
		t.Skip("../shared/tinycore-real (the real Tiny Core release) is absent")
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "kttc/tce/optional/*.tcz"))
	if len(imgs) == 0 {
		t.Fatal("no .tcz in the real release")
	}
	for _, img := range []string{"bash.tcz", "dmidecode.tcz", "coreutils.tcz", "ncurses-common.tcz", "libcap.tcz"} {
		img = filepath.Join(dir, "kttc/tce/optional", img)
		t.Run(filepath.Base(img), func(t *testing.T) {
			if diff := cmp.Diff(unsquashfsListing(t, img), listing(t, img)); diff != "" {
				t.Errorf("tree differs from unsquashfs -lln (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGenerated packs a tree with every entry type, sparse and
// multi-block files, fragments, odd permissions and owners, and compares
// with unsquashfs.
func TestGenerated(t *testing.T) {
	requireTools(t)
	img := generate(t)
	got := listing(t, img)
	if diff := cmp.Diff(unsquashfsListing(t, img), got); diff != "" {
		t.Errorf("tree differs from unsquashfs -lln (-want +got):\n%s", diff)
	}
	if len(got) < 12 {
		t.Errorf("only %d entries: %q", len(got), got)
	}
}

func generate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	w := func(p string, data []byte, mode os.FileMode) {
		p = filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	w("usr/local/bin/tool", []byte("#!/bin/sh\necho tool\n"), 0o755)
	w("usr/local/bin/suid", []byte("x"), 0o4755|os.ModeSetuid)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48000 bytes: blocks + a fragment
	w("usr/local/share/big", big, 0o644)
	w("usr/local/share/exact", bytes.Repeat([]byte{7}, 8192), 0o600)
	w("usr/local/share/empty", nil, 0o644)
	sparse := make([]byte, 20000)
	copy(sparse[19990:], "end")
	w("usr/local/share/sparse", sparse, 0o644)
	w("usr/local/tce.installed/gen", []byte("#!/bin/sh\ntrue\n"), 0o775)
	os.Symlink("tool", filepath.Join(src, "usr/local/bin/link"))
	os.Symlink("/usr/local/share/big", filepath.Join(src, "usr/local/bin/abs"))
	os.MkdirAll(filepath.Join(src, "tmp/sticky"), 0o755)
	os.Chmod(filepath.Join(src, "tmp/sticky"), 0o1777|os.ModeSticky)
	for i := 0; i < 300; i++ { // a directory of more than 256 entries: several headers
		w(fmt.Sprintf("usr/local/lib/many/f%03d", i), []byte(fmt.Sprint(i)), 0o644)
	}
	img := filepath.Join(dir, "gen.tcz")
	out, err := exec.Command("mksquashfs", src, img, "-b", "4096", "-comp", "gzip", "-noappend", "-no-progress", "-no-xattrs",
		"-force-uid", "1001", "-force-gid", "50",
		"-p", "dev/null c 666 0 0 1 3", "-p", "dev/sda b 660 0 6 8 0", "-p", "dev/big c 600 0 0 300 70000", "-p", "run/fifo f 644 0 0 true").CombinedOutput()
	if err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	return img
}

func TestErrors(t *testing.T) {
	requireTools(t)
	img, err := os.ReadFile(generate(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		edit func(b []byte) []byte
		want error
	}{
		{"empty", func([]byte) []byte { return nil }, ErrNotSquashfs},
		{"magic", func(b []byte) []byte { b[0] = 'x'; return b }, ErrNotSquashfs},
		{"xz", func(b []byte) []byte { b[20] = 4; return b }, ErrUnsupported},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, ErrCorrupt},
		{"block size", func(b []byte) []byte { b[12] = 1; return b }, ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(bytes.Clone(img))
			err := walkAll(b)
			if !errors.Is(err, tt.want) {
				t.Errorf("walking the image = %v, want %v", err, tt.want)
			}
		})
	}
}

// walkAll opens b, walks it and reads every file.
func walkAll(b []byte) error {
	sq, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	return sq.Walk(func(e *Entry) error {
		if e.Mode.IsRegular() {
			_, err := sq.ReadFile(e)
			return err
		}
		return nil
	})
}

func FuzzWalk(f *testing.F) {
	// testdata/seed.sqfs: mksquashfs -b 4096 -comp gzip of a file with
	// blocks and a fragment, a symlink, a device and a directory.
	b, err := os.ReadFile(filepath.Join("testdata", "seed.sqfs"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("hsqs"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := walkAll(b)
		if err != nil && !errors.Is(err, ErrNotSquashfs) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorrupt) {
			t.Errorf("error %v wraps none of the package's errors", err)
		}
	})
}
