package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// maxControlSize bounds the control file of a package.
const maxControlSize = 4 << 20

// Control is a package's control stanza: field → value. Continuation lines
// are joined with "\n"; field names keep the case of the file.
type Control map[string]string

// Package is the Package field.
func (c Control) Package() string { return c["Package"] }

// Version is the Version field.
func (c Control) Version() string { return c["Version"] }

// Architecture is the Architecture field.
func (c Control) Architecture() string { return c["Architecture"] }

// ParseControl parses one RFC 822-style stanza (debian/control, the
// output of apt-cache show); it stops at the first blank line.
func ParseControl(data []byte) (Control, error) {
	c := Control{}
	last := ""
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			if len(c) > 0 {
				break
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("%w: control line %d: continuation without a field", ErrFormat, n+1)
			}
			c[last] += "\n" + strings.TrimSpace(line)
			continue
		}
		if line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%w: control line %d: %q is not a field", ErrFormat, n+1, line)
		}
		last = k
		c[k] = strings.TrimSpace(v)
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("%w: empty control stanza", ErrFormat)
	}
	return c, nil
}

// Decompress returns a reader of the decompressed content of a member
// named like "data.tar.xz": xz, zst, gz, bz2, lzma or none (".tar").
func Decompress(name string, r io.Reader) (io.ReadCloser, error) {
	ext := path.Ext(name)
	switch ext {
	case ".tar":
		return io.NopCloser(r), nil
	case ".xz":
		zr, err := xz.NewReader(bufio.NewReaderSize(r, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		return io.NopCloser(zr), nil
	case ".zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		return zr.IOReadCloser(), nil
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		return zr, nil
	case ".bz2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case ".lzma":
		zr, err := lzma.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		return io.NopCloser(zr), nil
	}
	return nil, fmt.Errorf("%w: %s: unknown compression %q", ErrFormat, name, ext)
}

// EntryFunc is called for each entry of a package's data tarball, with the
// entry's cleaned relative name ("boot/vmlinuz-6.1.0-1-amd64", no "./")
// and, for regular files, a reader of its content. Returning an error stops
// the walk and Read returns it.
type EntryFunc func(name string, h *tar.Header, r io.Reader) error

// Read reads a .deb from r in one pass: it checks debian-binary, parses the
// control stanza and calls fn (if not nil) for every entry of the data
// tarball. It returns the control stanza.
func Read(r io.Reader, fn EntryFunc) (Control, error) {
	ar := NewArReader(r)
	var ctl Control
	sawBinary, sawData := false, false
	for {
		h, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case h.Name == "debian-binary":
			b, err := io.ReadAll(io.LimitReader(ar, 64))
			if err != nil {
				return nil, fmt.Errorf("deb: debian-binary: %w", err)
			}
			if !bytes.HasPrefix(b, []byte("2.")) {
				return nil, fmt.Errorf("%w: debian-binary %q, want 2.x", ErrFormat, bytes.TrimSpace(b))
			}
			sawBinary = true
		case strings.HasPrefix(h.Name, "control.tar"):
			if !sawBinary {
				return nil, fmt.Errorf("%w: %s before debian-binary", ErrFormat, h.Name)
			}
			ctl, err = readControlTar(h.Name, ar)
			if err != nil {
				return nil, err
			}
		case strings.HasPrefix(h.Name, "data.tar"):
			if ctl == nil {
				return nil, fmt.Errorf("%w: %s before control.tar", ErrFormat, h.Name)
			}
			if err := walkData(h.Name, ar, fn); err != nil {
				return nil, err
			}
			sawData = true
		}
	}
	switch {
	case !sawBinary:
		return nil, fmt.Errorf("%w: debian-binary", ErrNoMember)
	case ctl == nil:
		return nil, fmt.Errorf("%w: control.tar", ErrNoMember)
	case !sawData:
		return nil, fmt.Errorf("%w: data.tar", ErrNoMember)
	}
	return ctl, nil
}

func readControlTar(name string, r io.Reader) (Control, error) {
	zr, err := Decompress(name, r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: %s has no control file", ErrNoMember, name)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		if CleanName(h.Name) != "control" || h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxControlSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		if len(data) > maxControlSize {
			return nil, fmt.Errorf("%w: %s: control file over %d bytes", ErrFormat, name, maxControlSize)
		}
		return ParseControl(data)
	}
}

func walkData(name string, r io.Reader, fn EntryFunc) error {
	zr, err := Decompress(name, r)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// Drain what follows the tar end so the ar reader stays aligned.
			if _, err := io.Copy(io.Discard, zr); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		if fn == nil {
			continue
		}
		n := CleanName(h.Name)
		if n == "" {
			continue // the "./" root entry
		}
		if err := fn(n, h, tr); err != nil {
			return err
		}
	}
}

// CleanName turns a tar entry name ("./usr/bin/x", "usr/bin/x/") into a
// clean relative path ("usr/bin/x"); the root is "". A name that would
// escape the root ("../x") is returned rooted, without the "..".
func CleanName(name string) string {
	n := path.Clean("/" + name)
	return strings.TrimPrefix(n, "/")
}
