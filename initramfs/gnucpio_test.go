package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// These tests hold our reader and writer against GNU cpio, the tool the
// kernel's own scripts and Tiny Core's remaster instructions use.

func needCpio(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed (Debian package cpio)")
	}
	if os.Geteuid() != 0 {
		t.Skip("round trips with device nodes and owners need root")
	}
}

func TestGNUCpioReadsOurs(t *testing.T) {
	needCpio(t)
	a := sample()
	for _, c := range []Compression{None, Gzip} {
		t.Run(string(c), func(t *testing.T) {
			img := write(t, a, WriteOptions{Compression: c, SourceDateEpoch: 1700000000})
			if c == Gzip {
				cmd := exec.Command("gzip", "-dc")
				cmd.Stdin = bytes.NewReader(img)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("gzip -dc: %v", err)
				}
				img = out
			}
			// Listing.
			cmd := exec.Command("cpio", "-t", "--quiet")
			cmd.Stdin = bytes.NewReader(img)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("cpio -t: %v", err)
			}
			var want []string
			for _, f := range withParents(t, a, "dev", "etc", "home") {
				want = append(want, f.Name)
			}
			if diff := cmp.Diff(want, strings.Fields(string(out))); diff != "" {
				t.Errorf("cpio -t (-want +got):\n%s", diff)
			}
			// Extraction, compared with what our own Extract makes.
			dir := t.TempDir()
			cmd = exec.Command("cpio", "-i", "--quiet", "--make-directories", "--preserve-modification-time", "--no-absolute-filenames")
			cmd.Dir = dir
			cmd.Stdin = bytes.NewReader(img)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cpio -i: %v\n%s", err, out)
			}
			ours := t.TempDir()
			if err := a.Extract(ours); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(scan(t, ours), scan(t, dir), cmp.Comparer(func(x, y uint64) bool { return (x == 0) == (y == 0) })); diff != "" {
				t.Errorf("cpio -i tree (-ours +cpio):\n%s", diff)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(dir, "init"), &st); err != nil || st.Mtim.Sec != 1700000000 {
				t.Errorf("cpio -i: init mtime = %d, %v; want SOURCE_DATE_EPOCH 1700000000", st.Mtim.Sec, err)
			}
		})
	}
}

func TestWeReadGNUCpio(t *testing.T) {
	needCpio(t)
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	must(os.MkdirAll(p("bin"), 0o755))
	must(os.MkdirAll(p("dev"), 0o755))
	must(os.MkdirAll(p("home/tc"), 0o750))
	must(os.WriteFile(p("bin/busybox"), []byte("busybox binary\x00\x01"), 0o755))
	must(os.Chmod(p("bin/busybox"), 0o755|os.ModeSetuid))
	must(os.Link(p("bin/busybox"), p("bin/ash")))
	must(os.Link(p("bin/busybox"), p("bin/hush")))
	must(os.Symlink("busybox", p("bin/sh")))
	must(os.Symlink("/does/not/exist", p("dangling")))
	must(syscall.Mknod(p("dev/console"), syscall.S_IFCHR|0o600, int(mkdev(5, 1))))
	must(syscall.Mknod(p("dev/sda1"), syscall.S_IFBLK|0o660, int(mkdev(8, 1))))
	must(syscall.Mknod(p("dev/initctl"), syscall.S_IFIFO|0o600, 0))
	must(os.Chmod(p("dev/sda1"), 0o660)) // mknod applies the umask
	must(os.WriteFile(p("home/tc/.ashrc"), bytes.Repeat([]byte("alias ll='ls -l'\n"), 1000), 0o644))
	must(os.Lchown(p("home/tc"), 1001, 50))
	must(os.Lchown(p("home/tc/.ashrc"), 1001, 50))
	must(os.WriteFile(p("empty"), nil, 0o600))

	gnu := func(t *testing.T, compress string) []byte {
		sh := "find . | LC_ALL=C sort | cpio -o -H newc --quiet" + compress
		cmd := exec.Command("sh", "-c", sh)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", sh, err)
		}
		return out
	}
	// What the tree holds, as our own AddTree sees it plus the owners.
	want := New()
	if err := want.AddTree(dir, ""); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	must(err)
	want.AddDir(".", fi.Mode().Perm())
	for _, n := range []string{"home/tc", "home/tc/.ashrc"} {
		r, _ := want.Get(n)
		r.UID, r.GID = 1001, 50
		want.AddRecord(r)
	}
	for _, tt := range []struct{ name, compress string }{
		{"plain", ""},
		{"gzip -9", " | gzip -9"},
		{"zstd", " | zstd -q"},
		{"xz", " | xz --check=crc32"},
		{"lz4 -l", " | lz4 -l -q"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.compress != "" {
				if _, err := exec.LookPath(strings.Fields(tt.compress)[1]); err != nil {
					t.Skipf("%s not installed", strings.Fields(tt.compress)[1])
				}
			}
			got, err := Read(bytes.NewReader(gnu(t, tt.compress)))
			if err != nil {
				t.Fatalf("Read(cpio -o%s) = %v", tt.compress, err)
			}
			if diff := cmp.Diff(flatten(t, want), flatten(t, got)); diff != "" {
				t.Errorf("Read(cpio -o%s) (-want +got):\n%s", tt.compress, diff)
			}
		})
	}
	// GNU cpio lists an archive we rewrote from its own the same way.
	got, err := Read(bytes.NewReader(gnu(t, "")))
	must(err)
	cmd := exec.Command("cpio", "-tv", "--quiet", "--numeric-uid-gid")
	cmd.Stdin = bytes.NewReader(write(t, got, WriteOptions{}))
	out, err := cmd.Output()
	must(err)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		// mode, links, uid, gid, then size or device, date (3 fields), name…
		rest := f[8:]
		if l[0] == 'c' || l[0] == 'b' {
			rest = f[9:] // "major, minor" takes two fields
		}
		lines = append(lines, f[0]+" "+f[2]+":"+f[3]+" "+strings.Join(rest, " "))
	}
	for _, w := range []string{
		"-rwsr-xr-x 0:0 bin/ash",
		"lrwxrwxrwx 0:0 bin/sh -> busybox",
		"crw------- 0:0 dev/console",
		"brw-rw---- 0:0 dev/sda1",
		"prw------- 0:0 dev/initctl",
		"-rw-r--r-- 1001:50 home/tc/.ashrc",
		"lrwxrwxrwx 0:0 dangling -> /does/not/exist",
	} {
		if !slices.Contains(lines, w) {
			t.Errorf("cpio -tv of our rewrite lacks %q; got:\n%s", w, strings.Join(lines, "\n"))
		}
	}
}
