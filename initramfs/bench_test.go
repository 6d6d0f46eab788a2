package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchArchive holds 8 MiB in 256 files of mixed compressibility.
func benchArchive() (*Archive, int64) {
	a := New()
	var total int64
	x := uint32(7)
	for i := range 256 {
		b := make([]byte, 32<<10)
		for j := range b {
			x = x*1664525 + 1013904223
			if i%4 == 0 {
				b[j] = byte(x >> 24) // incompressible, like firmware
			} else {
				b[j] = "abcdefgh ijklmnop\n"[(x>>27)%18]
			}
		}
		a.AddFile(fmt.Sprintf("usr/lib/f%03d", i), b, 0o644)
		total += int64(len(b))
	}
	return a, total
}

func BenchmarkWrite(b *testing.B) {
	a, total := benchArchive()
	for _, c := range writable {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				if err := a.Write(io.Discard, WriteOptions{Compression: c}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	a, total := benchArchive()
	for _, c := range []Compression{None, Gzip, Zstd} {
		var buf bytes.Buffer
		if err := a.Write(&buf, WriteOptions{Compression: c}); err != nil {
			b.Fatal(err)
		}
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				if _, err := Read(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
