package initramfs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seeds returns valid and broken images of every supported kind.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	a := sample()
	var plain bytes.Buffer
	if err := a.Write(&plain, WriteOptions{SourceDateEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	out = append(out, plain.Bytes())
	for _, c := range []Compression{Gzip, Zstd, Xz} {
		var b bytes.Buffer
		if err := a.Write(&b, WriteOptions{Compression: c, Level: 1}); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	good := rawEntry("bin/sh", modeReg|0o755, []byte("#!"), nil)
	link := func(name string, data []byte) []byte {
		return rawEntry(name, modeReg|0o755, data, func(h *header) { h.ino, h.nlink = 7, 2 })
	}
	out = append(out,
		cat(plain.Bytes(), make([]byte, 16), plain.Bytes()),
		cat(good, trailer),
		cat(link("a", nil), link("b", []byte("data")), trailer),
		cat(rawEntry("l", modeSymlink|0o777, []byte("target"), nil), trailer),
		cat(rawEntry("dev/console", modeChar|0o600, nil, func(h *header) { h.rdevMajor, h.rdevMinor = 5, 1 }), trailer),
		cat(rawEntry("../x", modeReg, nil, nil), trailer),
		cat(rawEntry("big", modeReg, []byte("x"), func(h *header) { h.filesize = 0xffffffff }), trailer),
		cat(rawEntry("x", modeReg, nil, func(h *header) { h.namesize = 0xffffffff }), trailer),
		[]byte("070707"),
		nil,
	)
	return out
}

// FuzzRead feeds arbitrary bytes to Read. It must never panic, and what it
// accepts must survive a write and a second read unchanged.
func FuzzRead(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	// Compressed seeds exercise the member readers.
	f.Add(gzSeed(f))
	small := cat(rawEntry("etc/motd", modeReg|0o644, []byte("hello"), nil), trailer)
	f.Add(lz4c(f, small, false))
	f.Add(cat(small, lz4c(f, small, true)))
	f.Add(cat(lzmac(f, small), small))
	f.Add(cat(xzc(f, small), make([]byte, 4), zst(f, small)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<20 {
			return
		}
		a, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := a.Write(&out, WriteOptions{}); err != nil {
			if errors.Is(err, ErrInvalidRecord) || errors.Is(err, ErrNameTooLong) {
				return // e.g. a file below a file: readable, not writable
			}
			t.Fatalf("Write(Read(in)) = %v", err)
		}
		b, err := Read(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("Read(Write(Read(in))) = %v", err)
		}
		want := New()
		want.Merge(a)
		for _, r := range b.Records() {
			if _, ok := a.Get(r.Name); !ok && r.Type == TypeDir {
				want.AddDir(r.Name, 0o755) // an implicit parent
			}
		}
		if diff := cmp.Diff(flatten(t, want), flatten(t, b)); diff != "" {
			t.Fatalf("Read(Write(Read(in))) (-want +got):\n%s", diff)
		}
	})
}

func gzSeed(f *testing.F) []byte {
	var b bytes.Buffer
	a := New()
	a.AddFile("etc/motd", []byte("hello"), 0o644)
	if err := a.Write(&b, WriteOptions{Compression: Gzip, Level: 1}); err != nil {
		f.Fatal(err)
	}
	return cat(b.Bytes(), b.Bytes())
}

// TestSeedsRead makes sure the seed corpus itself behaves: the valid seeds
// read, the broken ones fail.
func TestSeedsRead(t *testing.T) {
	s := seeds(t)
	valid := 9
	for i, in := range s {
		_, err := Read(bytes.NewReader(in))
		if (err == nil) != (i < valid) {
			t.Errorf("Read(seed %d) = %v; want error %v", i, err, i >= valid)
		}
	}
}
