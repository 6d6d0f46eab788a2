// Package debtest writes Debian binary packages for tests: an ar archive
// with debian-binary, control.tar.<comp> and data.tar.<comp>.
package debtest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Entry is one entry of the data tarball.
type Entry struct {
	Name string // "./usr/bin/x", "./boot/"
	Type byte   // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink
	Mode int64  // default 0644 (0755 for directories)
	Data []byte
	Link string // symlink or hard link target
}

// Deb returns a .deb with the given control file and data entries, its
// tarballs compressed with comp: "xz", "zst", "gz" or "" (plain .tar).
func Deb(control string, entries []Entry, comp string) ([]byte, error) {
	ctl, err := tarball([]Entry{{Name: "./", Type: tar.TypeDir}, {Name: "./control", Data: []byte(control)}}, comp)
	if err != nil {
		return nil, err
	}
	data, err := tarball(entries, comp)
	if err != nil {
		return nil, err
	}
	ext := ".tar"
	if comp != "" {
		ext += "." + comp
	}
	return Ar([]Member{
		{"debian-binary", []byte("2.0\n")},
		{"control" + ext, ctl},
		{"data" + ext, data},
	}), nil
}

// Member is one ar member.
type Member struct {
	Name string
	Data []byte
}

// Ar returns an ar archive of the members, in order, in the common format
// dpkg writes (names padded to 16, even alignment).
func Ar(members []Member) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.Name, 0, 0, 0, 0o100644, len(m.Data))
		b.Write(m.Data)
		if len(m.Data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func tarball(entries []Entry, comp string) ([]byte, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Link, ModTime: time.Unix(1700000000, 0), Format: tar.FormatGNU}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	var w io.WriteCloser
	switch comp {
	case "":
		return raw.Bytes(), nil
	case "xz":
		zw, err := xz.WriterConfig{DictCap: 1 << 16}.NewWriter(&out)
		if err != nil {
			return nil, err
		}
		w = zw
	case "zst":
		zw, err := zstd.NewWriter(&out)
		if err != nil {
			return nil, err
		}
		w = zw
	case "gz":
		w = gzip.NewWriter(&out)
	default:
		return nil, fmt.Errorf("debtest: unknown compression %q", comp)
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
