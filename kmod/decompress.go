package kmod

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is how a module file is compressed.
type Compression int

// The compressions kmod tools produce.
const (
	None Compression = iota
	Gzip
	XZ
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case XZ:
		return "xz"
	case Zstd:
		return "zstd"
	}
	return "none"
}

// MaxModuleSize bounds a decompressed module, so that a hostile file
// cannot exhaust memory; the largest in-tree modules are a few tens of
// MiB.
const MaxModuleSize = 256 << 20

// MagicLen is how many leading bytes Detect needs to tell every
// compression apart.
const MagicLen = 6

var (
	magicXZ   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicGzip = []byte{0x1f, 0x8b}
)

// Detect tells the compression of a module from its first bytes (the
// file's magic number, not its name).
func Detect(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, magicXZ):
		return XZ
	case bytes.HasPrefix(head, magicZstd):
		return Zstd
	case bytes.HasPrefix(head, magicGzip):
		return Gzip
	}
	return None
}

// Decompress returns the module image r holds, decompressing xz, zstd or
// gzip as its magic number says (not its file name, which may lie); an
// uncompressed module is returned as is. The result is at most
// MaxModuleSize bytes, else ErrTooLarge.
func Decompress(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(magicXZ))
	var dec io.Reader
	switch c := Detect(head); c {
	case None:
		dec = br
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("kmod: gzip: %w", err)
		}
		defer zr.Close()
		dec = zr
	case XZ:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("kmod: xz: %w", err)
		}
		dec = xr
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxModuleSize))
		if err != nil {
			return nil, fmt.Errorf("kmod: zstd: %w", err)
		}
		defer zr.Close()
		dec = zr
	}
	data, err := io.ReadAll(io.LimitReader(dec, MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("kmod: decompressing module: %w", err)
	}
	if len(data) > MaxModuleSize {
		return nil, ErrTooLarge
	}
	return data, nil
}
