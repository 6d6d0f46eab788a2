package initramfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// flat is a record as the kernel would unpack it: hardlinks resolved to
// their file's content, mode and owner, and the set of names sharing an
// inode.
type flat struct {
	Name, Mode, Owner, Target, Device string
	Content                           string
	Links                             string
}

func flatten(t *testing.T, a *Archive) []flat {
	t.Helper()
	recs := a.Records()
	byName := make(map[string]Record)
	for _, r := range recs {
		byName[r.Name] = r
	}
	groups := make(map[string][]string)
	file := func(r Record) Record {
		for r.Type == TypeHardlink {
			r = byName[r.Target]
		}
		return r
	}
	for _, r := range recs {
		if r.Type == TypeFile || r.Type == TypeHardlink {
			f := file(r)
			groups[f.Name] = append(groups[f.Name], r.Name)
		}
	}
	var out []flat
	for _, r := range recs {
		f := file(r)
		c, err := f.Content()
		if err != nil {
			t.Fatal(err)
		}
		fl := flat{Name: r.Name, Mode: f.ModeString(), Owner: fmt.Sprintf("%d:%d", f.UID, f.GID), Content: string(c)}
		if r.Type == TypeSymlink {
			fl.Target = r.Target
		}
		if r.Type == TypeCharDevice || r.Type == TypeBlockDevice {
			fl.Device = fmt.Sprintf("%d,%d", r.Major, r.Minor)
		}
		if g := groups[f.Name]; len(g) > 1 {
			fl.Links = strings.Join(g, " ")
		}
		out = append(out, fl)
	}
	return out
}

// withParents returns a's flattened records plus the parent directories
// Write adds.
func withParents(t *testing.T, a *Archive, dirs ...string) []flat {
	b := New()
	b.Merge(a)
	for _, d := range dirs {
		b.AddDir(d, 0o755)
	}
	return flatten(t, b)
}

func write(t *testing.T, a *Archive, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := a.Write(&buf, opts); err != nil {
		t.Fatalf("Write(%+v) = %v", opts, err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var writable = []Compression{None, Gzip, Zstd, Xz}

func TestRoundTrip(t *testing.T) {
	a := sample()
	want := withParents(t, a, "dev", "etc", "home")
	for _, c := range writable {
		t.Run(string(c), func(t *testing.T) {
			out := write(t, a, WriteOptions{Compression: c, SourceDateEpoch: 1700000000})
			if got, _ := detect(out[:6]); got != c {
				t.Errorf("detect(Write(%s)) = %s", c, got)
			}
			b, err := Read(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("Read(Write(%s)) = %v", c, err)
			}
			if diff := cmp.Diff(want, flatten(t, b)); diff != "" {
				t.Errorf("Read(Write(%s)) (-want +got):\n%s", c, diff)
			}
			// Reading and writing again gives the same bytes: the
			// output does not depend on which link holds the content.
			again := write(t, b, WriteOptions{Compression: c, SourceDateEpoch: 1700000000})
			if sum(again) != sum(out) {
				t.Errorf("Write(Read(Write(%s))) differs from Write(%s)", c, c)
			}
		})
	}
}

// TestWriteLayout checks the bytes of a small archive against the newc
// format field by field.
func TestWriteLayout(t *testing.T) {
	a := New()
	a.AddFile("a/f", []byte("hello"), 0o644)
	a.AddDevice("dev/console", CharDevice, 5, 1, 0o600)
	a.AddRecord(Record{Name: "l", Type: TypeSymlink, Target: "a/f", UID: 1001, GID: 50})
	out := string(write(t, a, WriteOptions{SourceDateEpoch: 0x10}))
	want := "070701" + "00000001" + "000041ED" + "00000000" + "00000000" + "00000002" + "00000010" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000" + "a\x00" +
		"070701" + "00000002" + "000081A4" + "00000000" + "00000000" + "00000001" + "00000010" +
		"00000005" + "00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000" + "a/f\x00\x00\x00" + "hello\x00\x00\x00" +
		"070701" + "00000003" + "000041ED" + "00000000" + "00000000" + "00000002" + "00000010" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000" + "dev\x00\x00\x00" +
		"070701" + "00000004" + "00002180" + "00000000" + "00000000" + "00000001" + "00000010" +
		"00000000" + "00000000" + "00000000" + "00000005" + "00000001" + "0000000C" + "00000000" + "dev/console\x00" + "\x00\x00" +
		"070701" + "00000005" + "0000A1FF" + "000003E9" + "00000032" + "00000001" + "00000010" +
		"00000003" + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000" + "l\x00" + "a/f\x00" +
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000" + "TRAILER!!!\x00" + "\x00\x00\x00"
	if out != want {
		t.Errorf("Write() =\n%q\nwant\n%q", out, want)
	}
}

func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	mustWrite := func(name, data string, perm os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), perm); err != nil {
			t.Fatal(err)
		}
	}
	// Enough data for several pgzip blocks and zstd jobs.
	big := strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing elit\n", 25000)
	mustWrite("usr/share/doc/big.txt", big, 0o644)
	mustWrite("bin/tool", "tool", 0o755)
	mustWrite("etc/conf", "x=1\n", 0o600)
	if err := os.Symlink("tool", filepath.Join(dir, "bin/alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "bin/tool"), filepath.Join(dir, "bin/tool2")); err != nil {
		t.Fatal(err)
	}
	build := func(t *testing.T, c Compression, conc int) []byte {
		a := New()
		if err := a.AddTree(dir, "/"); err != nil {
			t.Fatal(err)
		}
		a.AddDevice("dev/console", CharDevice, 5, 1, 0o600)
		return write(t, a, WriteOptions{Compression: c, SourceDateEpoch: 1234567890, Concurrency: conc})
	}
	for _, c := range writable {
		t.Run(string(c), func(t *testing.T) {
			first := build(t, c, 0)
			for _, conc := range []int{1, 2, 4} {
				if got := build(t, c, conc); sum(got) != sum(first) {
					t.Errorf("Write(%s, concurrency %d) sha256 = %s, want %s (the first build)", c, conc, sum(got), sum(first))
				}
			}
			b, err := Read(bytes.NewReader(first))
			if err != nil {
				t.Fatal(err)
			}
			r, ok := b.Get("usr/share/doc/big.txt")
			if !ok || string(r.Data) != big {
				t.Errorf("Read(Write(%s)): big.txt missing or wrong", c)
			}
		})
	}
	// A different SOURCE_DATE_EPOCH changes the output.
	a := New()
	a.AddFile("x", []byte("x"), 0o644)
	if sum(write(t, a, WriteOptions{SourceDateEpoch: 1})) == sum(write(t, a, WriteOptions{SourceDateEpoch: 2})) {
		t.Errorf("Write() ignores SourceDateEpoch")
	}
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(b, nil)
}

func xzc(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lz4c(t testing.TB, b []byte, legacy bool) []byte {
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(lz4.LegacyOption(legacy)); err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lzmac(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := lzma.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bz2(t *testing.T, b []byte) []byte {
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("bzip2 not installed: cannot make a bzip2 member")
	}
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cpioOf(t *testing.T, files map[string]string) []byte {
	a := New()
	for n, d := range files {
		a.AddFile(n, []byte(d), 0o644)
	}
	return write(t, a, WriteOptions{})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestReadConcatenated reads images made of several members, the way boot
// loaders and remasters make them.
func TestReadConcatenated(t *testing.T) {
	microcode := cpioOf(t, map[string]string{"kernel/x86/microcode/GenuineIntel.bin": "ucode"})
	rootfs := cpioOf(t, map[string]string{"etc/motd": "rootfs", "bin/sh": "sh"})
	modules := cpioOf(t, map[string]string{"lib/modules/6.1/kernel/e1000.ko": "ko", "etc/motd": "modules"})
	want := map[string]string{
		"kernel/x86/microcode/GenuineIntel.bin": "ucode", "etc/motd": "modules", "bin/sh": "sh",
		"lib/modules/6.1/kernel/e1000.ko": "ko",
	}
	wantNoUcode := map[string]string{"etc/motd": "modules", "bin/sh": "sh", "lib/modules/6.1/kernel/e1000.ko": "ko"}
	pad := make([]byte, 512)
	tests := []struct {
		name  string
		image func(t *testing.T) []byte
		want  map[string]string
	}{
		{"tiny core core.gz: gzip + gzip", func(t *testing.T) []byte { return cat(gz(t, rootfs), gz(t, modules)) }, wantNoUcode},
		{"microcode + gzip", func(t *testing.T) []byte { return cat(microcode, gz(t, cat(rootfs, modules))) }, want},
		{"microcode + padding + zstd", func(t *testing.T) []byte { return cat(microcode, pad, zst(t, cat(rootfs, modules))) }, want},
		{"microcode + xz + padding + gzip", func(t *testing.T) []byte { return cat(microcode, xzc(t, rootfs), pad[:4], gz(t, modules)) }, want},
		{"zstd + zstd + xz", func(t *testing.T) []byte { return cat(zst(t, microcode), zst(t, rootfs), xzc(t, modules)) }, want},
		{"lz4 frame + lz4 frame", func(t *testing.T) []byte { return cat(lz4c(t, rootfs, false), lz4c(t, modules, false)) }, wantNoUcode},
		{"microcode + lz4 legacy", func(t *testing.T) []byte { return cat(microcode, lz4c(t, cat(rootfs, modules), true)) }, want},
		{"gzip + plain", func(t *testing.T) []byte { return cat(gz(t, rootfs), modules) }, wantNoUcode},
		{"zstd + plain", func(t *testing.T) []byte { return cat(zst(t, rootfs), modules) }, wantNoUcode},
		{"xz + plain", func(t *testing.T) []byte { return cat(xzc(t, rootfs), modules) }, wantNoUcode},
		{"lzma + plain", func(t *testing.T) []byte { return cat(lzmac(t, rootfs), modules) }, wantNoUcode},
		{"lz4 legacy + size trailer (kernel build)", func(t *testing.T) []byte {
			all := cat(rootfs, modules)
			size := []byte{byte(len(all)), byte(len(all) >> 8), byte(len(all) >> 16), byte(len(all) >> 24)}
			return cat(microcode, lz4c(t, all, true), size)
		}, want},
		{"lz4 legacy + padding + gzip", func(t *testing.T) []byte {
			return cat(microcode, lz4c(t, rootfs, true), pad[:4], gz(t, modules))
		}, want},
		{"lz4 frame + plain", func(t *testing.T) []byte { return cat(lz4c(t, rootfs, false), modules) }, wantNoUcode},
		{"lzma + padding", func(t *testing.T) []byte { return cat(microcode, lzmac(t, cat(rootfs, modules)), pad) }, want},
		{"bzip2", func(t *testing.T) []byte { return cat(microcode, bz2(t, cat(rootfs, modules))) }, want},
		{"plain + plain, 512-padded", func(t *testing.T) []byte { return cat(microcode, pad, rootfs, pad[:8], modules, pad) }, want},
		{"two archives in one gzip member", func(t *testing.T) []byte { return gz(t, cat(rootfs, pad[:12], modules)) }, wantNoUcode},
		{"gzip split mid-archive", func(t *testing.T) []byte {
			all := cat(rootfs, modules)
			return cat(gz(t, all[:100]), gz(t, all[100:]))
		}, wantNoUcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Read(bytes.NewReader(tt.image(t)))
			if err != nil {
				t.Fatalf("Read() = %v", err)
			}
			got := make(map[string]string)
			for _, r := range a.Records() {
				if r.Type == TypeFile {
					got[r.Name] = string(r.Data)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read() files (-want +got):\n%s", diff)
			}
		})
	}
}

// entry builds one raw newc record for hand-made bad input.
func rawEntry(name string, mode uint32, data []byte, edit func(h *header)) []byte {
	h := header{ino: 1, mode: mode, nlink: 1, filesize: uint32(len(data)), namesize: uint32(len(name) + 1)}
	if edit != nil {
		edit(&h)
	}
	b := appendHeader(nil, &h, name)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

var trailer = rawEntry(trailerStr, 0, nil, nil)

func TestReadErrors(t *testing.T) {
	good := rawEntry("bin/sh", modeReg|0o755, []byte("#!"), nil)
	tests := []struct {
		name     string
		in       []byte
		want     error
		wantText string
	}{
		{"empty", nil, ErrTruncated, "empty input"},
		{"bad magic", []byte("hello world, not an archive"), ErrBadMagic, `"hello "`},
		{"odc", []byte("070707000000000000"), ErrUnsupported, "odc"},
		{"binary cpio", []byte{0xc7, 0x71, 0, 0, 0, 0}, ErrUnsupported, "binary"},
		{"lzo", []byte{0x89, 'L', 'Z', 'O', 0, 0}, ErrUnsupported, "lzo"},
		{"no trailer", good, ErrTruncated, "without TRAILER"},
		{"truncated header", cat(good, trailer[:50]), ErrTruncated, "entry 1"},
		{"truncated data", rawEntry("bin/sh", modeReg|0o755, []byte("#!/bin/busybox"), nil)[:120], ErrTruncated, `"bin/sh"`},
		{"absolute path", cat(rawEntry("/etc/passwd", modeReg|0o644, nil, nil), trailer), ErrUnsafePath, `entry 0 "/etc/passwd"`},
		{"dotdot", cat(good, rawEntry("lib/../../etc/shadow", modeReg|0o644, nil, nil), trailer), ErrUnsafePath, `entry 1 "lib/../../etc/shadow"`},
		{"empty name", cat(rawEntry("", modeReg, nil, nil), trailer), ErrUnsafePath, "empty name"},
		{"name too long", cat(rawEntry(strings.Repeat("a", 5000), modeReg, nil, nil), trailer), ErrNameTooLong, "namesize 5001"},
		{"absurd namesize", cat(rawEntry("x", modeReg, nil, func(h *header) { h.namesize = 0xffffffff }), trailer), ErrNameTooLong, "namesize 4294967295"},
		{"zero namesize", cat(rawEntry("x", modeReg, nil, func(h *header) { h.namesize = 0 }), trailer)[:110], ErrBadHeader, "namesize 0"},
		{"absurd filesize", cat(rawEntry("big", modeReg|0o644, []byte("tiny"), func(h *header) { h.filesize = 0xfffffff0 }), trailer), ErrTruncated, `"big"`},
		{"bad hex", cat([]byte(strings.Replace(string(good), "000081ED", "0000G1ED", 1)), trailer), ErrBadHeader, "field mode"},
		{"no file type", cat(rawEntry("x", 0o644, nil, nil), trailer), ErrBadHeader, "no file type"},
		{"unterminated name", cat([]byte(strings.Replace(string(rawEntry("abc", modeReg, nil, nil)), "abc\x00", "abcd", 1)), trailer), ErrBadHeader, "NUL"},
		{"symlink target too long", cat(rawEntry("l", modeSymlink|0o777, bytes.Repeat([]byte("t"), 5000), nil), trailer), ErrNameTooLong, `"l"`},
		{"empty symlink", cat(rawEntry("l", modeSymlink|0o777, nil, nil), trailer), ErrBadHeader, "empty target"},
		{"root not a dir", cat(rawEntry(".", modeReg|0o644, nil, nil), trailer), ErrBadHeader, `"."`},
		{"garbage after archive", cat(good, trailer, []byte("junk!!")), ErrBadMagic, "member 2"},
		{"truncated gzip", gz(t, cat(good, trailer))[:30], ErrTruncated, "gzip"},
		{"gzip of garbage", gz(t, []byte("not a cpio archive")), ErrBadMagic, "gzip"},
		{"gzip of nothing", gz(t, nil), ErrTruncated, "no cpio archive"},
		{"gzip bad crc", func() []byte {
			b := gz(t, cat(good, trailer))
			b[len(b)-6] ^= 0xff
			return b
		}(), nil, "gzip"},
		{"truncated zstd", zst(t, cat(good, trailer))[:20], ErrTruncated, "zstd"},
		{"truncated xz", xzc(t, cat(good, trailer))[:40], nil, "xz"},
		{"truncated lz4", lz4c(t, cat(good, trailer), false)[:30], nil, "lz4"},
		{"compressed inside compressed", gz(t, gz(t, cat(good, trailer))), ErrUnsupported, "inside a compressed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Read(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Read(%s) = %v records, nil error; want an error", tt.name, a.Len())
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Read(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Read(%s) = %q, want it to mention %q", tt.name, err, tt.wantText)
			}
		})
	}
}

// TestReadBoundedMemory feeds headers that claim 4 GiB and checks that
// the reader allocates what the input holds, not what it claims.
func TestReadBoundedMemory(t *testing.T) {
	in := cat(rawEntry("huge", modeReg|0o644, bytes.Repeat([]byte("x"), 3<<20), func(h *header) { h.filesize = 0xffffffff }))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Read(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("Read() = %v, want ErrTruncated", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
		t.Errorf("Read() allocated %d MiB for 3 MiB of input", got>>20)
	}
}

func TestReadHardlinks(t *testing.T) {
	// GNU cpio puts the data on the last link, u-root on the first; in
	// both, the names share one inode (same ino, nlink 3).
	link := func(name string, data []byte) []byte {
		return rawEntry(name, modeReg|0o755, data, func(h *header) { h.ino, h.nlink = 42, 3 })
	}
	other := rawEntry("other", modeReg|0o644, []byte("o"), func(h *header) { h.ino = 43 })
	tests := []struct {
		name string
		in   []byte
	}{
		{"data on last (GNU cpio)", cat(link("bin/b", nil), link("bin/a", nil), other, link("bin/c", []byte("busybox")), trailer)},
		{"data on first (u-root)", cat(link("bin/b", []byte("busybox")), link("bin/a", nil), other, link("bin/c", nil), trailer)},
	}
	want := []Record{
		{Name: "bin/a", Type: TypeFile, Perm: 0o755, Data: []byte("busybox")},
		{Name: "bin/b", Type: TypeHardlink, Target: "bin/a"},
		{Name: "bin/c", Type: TypeHardlink, Target: "bin/a"},
		{Name: "other", Type: TypeFile, Perm: 0o644, Data: []byte("o")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Read(bytes.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, a.Records()); diff != "" {
				t.Errorf("Read() (-want +got):\n%s", diff)
			}
		})
	}
	// Inode numbers are per archive: the same ino in two concatenated
	// archives is two files.
	two := cat(link("a", []byte("1")), trailer, link("b", []byte("2")), trailer)
	a, err := Read(bytes.NewReader(two))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Get("b"); r.Type != TypeFile || string(r.Data) != "2" {
		t.Errorf("Read(two archives, same ino): b = %+v, want a file holding 2", r)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		a    func() *Archive
		opts WriteOptions
		want error
	}{
		{"hardlink to nothing", func() *Archive {
			a := New()
			a.AddRecord(Record{Name: "l", Type: TypeHardlink, Target: "missing"})
			return a
		}, WriteOptions{}, ErrInvalidRecord},
		{"hardlink to dir", func() *Archive {
			a := New()
			a.AddDir("d", 0o755)
			a.AddRecord(Record{Name: "l", Type: TypeHardlink, Target: "d"})
			return a
		}, WriteOptions{}, ErrInvalidRecord},
		{"file under a file", func() *Archive {
			a := New()
			a.AddFile("f", nil, 0o644)
			a.AddFile("f/g", nil, 0o644)
			return a
		}, WriteOptions{}, ErrInvalidRecord},
		{"empty symlink", func() *Archive {
			a := New()
			a.AddSymlink("l", "")
			return a
		}, WriteOptions{}, ErrInvalidRecord},
		{"lz4 write", sample, WriteOptions{Compression: Lz4}, ErrUnsupported},
		{"unknown compression", sample, WriteOptions{Compression: "brotli"}, ErrUnsupported},
		{"missing source", func() *Archive {
			a := New()
			a.AddRecord(Record{Name: "f", Type: TypeFile, Source: "/nonexistent/file"})
			return a
		}, WriteOptions{}, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a().Write(io.Discard, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("Write() = %v, want %v", err, tt.want)
			}
		})
	}
	for _, epoch := range []int64{-1, 1 << 33} {
		if err := sample().Write(io.Discard, WriteOptions{SourceDateEpoch: epoch}); err == nil {
			t.Errorf("Write(SourceDateEpoch %d) = nil, want an error", epoch)
		}
	}
	for _, lvl := range []struct {
		c Compression
		l int
	}{{Gzip, 10}, {Zstd, 23}, {Gzip, -1}} {
		if err := sample().Write(io.Discard, WriteOptions{Compression: lvl.c, Level: lvl.l}); err == nil {
			t.Errorf("Write(%s level %d) = nil, want an error", lvl.c, lvl.l)
		}
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in      string
		want    Compression
		wantErr bool
	}{
		{"", None, false}, {"none", None, false}, {"gzip", Gzip, false}, {"GZ", Gzip, false},
		{"zstd", Zstd, false}, {"zst", Zstd, false}, {"xz", Xz, false},
		{"lz4", "", true}, {"brotli", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCompression(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseCompression(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAddTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub/deeper"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub/f"), []byte("content"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "sub/f"), 0o750|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "sub/f"), filepath.Join(dir, "sub/g")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside", filepath.Join(dir, "sub/link")); err != nil {
		t.Fatal(err)
	}
	a := New()
	if err := a.AddTree(dir, "opt/x"); err != nil {
		t.Fatal(err)
	}
	got := a.Records()
	for i := range got {
		got[i].Source = ""
	}
	dirMode := func(p string) Record {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return Record{Type: TypeDir, Perm: fi.Mode().Perm()}
	}
	root := dirMode(".")
	root.Name = "opt/x"
	sub := dirMode("sub")
	sub.Name = "opt/x/sub"
	want := []Record{
		root, sub,
		{Name: "opt/x/sub/deeper", Type: TypeDir, Perm: 0o750},
		{Name: "opt/x/sub/f", Type: TypeFile, Perm: 0o750 | os.ModeSetuid},
		{Name: "opt/x/sub/g", Type: TypeHardlink, Target: "opt/x/sub/f"},
		{Name: "opt/x/sub/link", Type: TypeSymlink, Perm: 0o777, Target: "../outside"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddTree() (-want +got):\n%s", diff)
	}
	if r, _ := a.Get("opt/x/sub/f"); r.Size() != 7 {
		t.Errorf("Size() of a Source file = %d, want 7", r.Size())
	}
	if err := a.AddTree(filepath.Join(dir, "sub/f"), ""); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("AddTree(file) = %v, want ErrInvalidRecord", err)
	}
	if err := a.AddFileFromDisk("x", dir, 0o644); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("AddFileFromDisk(dir) = %v, want ErrInvalidRecord", err)
	}

	// A source that changes size between planning and writing is caught.
	b := New()
	p := filepath.Join(dir, "sub/deeper/grow")
	if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.AddFileFromDisk("grow", p, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.Get("grow"); !slices.Contains([]string{p}, r.Source) {
		t.Errorf("AddFileFromDisk Source = %q, want %q", r.Source, p)
	}
}

// TestZstdJobsDeterministic writes enough data for several zstd jobs (the
// encoder splits streams into jobs of four windows) and checks that the
// output does not depend on how many run in parallel.
func TestZstdJobsDeterministic(t *testing.T) {
	data := make([]byte, 36<<20) // level 1: 4 MiB window, 16 MiB jobs
	x := uint32(1)
	for i := range data {
		x = x*1664525 + 1013904223
		data[i] = "initramfs newc zstd jobs "[x>>27%25]
	}
	a := New()
	a.AddFile("blob", data, 0o644)
	var first string
	for _, conc := range []int{1, 4} {
		got := sum(write(t, a, WriteOptions{Compression: Zstd, Level: 1, Concurrency: conc}))
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("Write(zstd, concurrency %d) sha256 = %s, want %s", conc, got, first)
		}
	}
}
