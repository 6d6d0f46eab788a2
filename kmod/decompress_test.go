package kmod

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func TestDecompress(t *testing.T) {
	image := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte("module body "), 1000)...)
	var gz, x, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(image)
	gw.Close()
	xw, err := xz.NewWriter(&x)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(image)
	xw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(image)
	zw.Close()
	for _, tt := range []struct {
		name string
		in   []byte
		want Compression
	}{
		{"none", image, None},
		{"gzip", gz.Bytes(), Gzip},
		{"xz", x.Bytes(), XZ},
		{"zstd", zs.Bytes(), Zstd},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.in); got != tt.want {
				t.Errorf("Detect(%s) = %v, want %v", tt.name, got, tt.want)
			}
			got, err := Decompress(bytes.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Decompress(%s) = %v", tt.name, err)
			}
			if !bytes.Equal(got, image) {
				t.Errorf("Decompress(%s) = %d bytes, want the %d-byte image", tt.name, len(got), len(image))
			}
		})
	}
	if _, err := Decompress(bytes.NewReader(x.Bytes()[:x.Len()/2])); err == nil {
		t.Errorf("Decompress(truncated xz) = nil, want an error")
	}
}

func FuzzDecompress(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decompress(bytes.NewReader(in))
		if err == nil && Detect(in) == None && !bytes.Equal(got, in) {
			t.Errorf("Decompress(uncompressed) changed the data")
		}
	})
}
