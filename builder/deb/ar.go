// Package deb reads Debian binary packages (.deb) without dpkg: the ar
// container, the control stanza and the data tarball, compressed with xz,
// zstd, gzip, bzip2 or not at all.
package deb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Errors the package returns; callers test them with errors.Is.
var (
	// ErrFormat: the input is not a well-formed ar archive or .deb.
	ErrFormat = errors.New("deb: bad format")
	// ErrNoMember: a required member (control.tar.*, data.tar.*) is missing.
	ErrNoMember = errors.New("deb: member not found")
)

const (
	arMagic      = "!<arch>\n"
	arHeaderSize = 60
	// maxMemberSize bounds one member: far above any real package, low
	// enough that a corrupt size field cannot make us read forever.
	maxMemberSize = 1 << 40
)

// ArHeader describes one member of an ar archive.
type ArHeader struct {
	Name  string
	Size  int64
	Mode  int64
	MTime int64
}

// ArReader reads the members of an ar archive (the common format that
// Debian packages use: 16-byte names, optional GNU trailing slash).
type ArReader struct {
	r      *bufio.Reader
	remain int64 // bytes of the current member not yet read
	pad    bool  // the current member is followed by a padding byte
	magic  bool  // the global header has been read
	err    error
}

// NewArReader returns a reader of the ar archive in r.
func NewArReader(r io.Reader) *ArReader {
	return &ArReader{r: bufio.NewReader(r)}
}

// Next skips to the next member and returns its header; io.EOF after the
// last one.
func (a *ArReader) Next() (*ArHeader, error) {
	if a.err != nil {
		return nil, a.err
	}
	h, err := a.next()
	if err != nil {
		a.err = err
	}
	return h, err
}

func (a *ArReader) next() (*ArHeader, error) {
	if !a.magic {
		var m [len(arMagic)]byte
		if _, err := io.ReadFull(a.r, m[:]); err != nil {
			return nil, fmt.Errorf("%w: ar magic: %v", ErrFormat, err)
		}
		if string(m[:]) != arMagic {
			return nil, fmt.Errorf("%w: not an ar archive (magic %q)", ErrFormat, m[:])
		}
		a.magic = true
	}
	skip := a.remain
	if a.pad {
		skip++
	}
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, a.r, skip); err != nil {
			return nil, fmt.Errorf("%w: truncated member: %v", ErrFormat, err)
		}
	}
	a.remain, a.pad = 0, false
	var hb [arHeaderSize]byte
	n, err := io.ReadFull(a.r, hb[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: truncated header after %d bytes", ErrFormat, n)
	}
	if hb[58] != '`' || hb[59] != '\n' {
		return nil, fmt.Errorf("%w: bad header terminator %q", ErrFormat, hb[58:60])
	}
	name := strings.TrimRight(string(hb[0:16]), " ")
	name = strings.TrimSuffix(name, "/")
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return nil, fmt.Errorf("%w: bad member name %q", ErrFormat, hb[0:16])
	}
	size, err := arNumber(hb[48:58], 10)
	if err != nil || size > maxMemberSize {
		return nil, fmt.Errorf("%w: member %q: bad size %q", ErrFormat, name, bytes.TrimRight(hb[48:58], " "))
	}
	mode, err := arNumber(hb[40:48], 8)
	if err != nil {
		return nil, fmt.Errorf("%w: member %q: bad mode %q", ErrFormat, name, bytes.TrimRight(hb[40:48], " "))
	}
	mtime, err := arNumber(hb[16:28], 10)
	if err != nil {
		return nil, fmt.Errorf("%w: member %q: bad mtime %q", ErrFormat, name, bytes.TrimRight(hb[16:28], " "))
	}
	a.remain = size
	a.pad = size%2 == 1
	return &ArHeader{Name: name, Size: size, Mode: mode, MTime: mtime}, nil
}

// arNumber parses a space-padded decimal or octal field; an all-blank
// field is 0.
func arNumber(b []byte, base int) (int64, error) {
	s := strings.TrimRight(string(b), " ")
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, base, 64)
}

// Read reads from the current member; io.EOF at its end.
func (a *ArReader) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if a.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	n, err := a.r.Read(p)
	a.remain -= int64(n)
	if err == io.EOF && a.remain > 0 {
		a.err = fmt.Errorf("%w: member truncated, %d bytes missing", ErrFormat, a.remain)
		return n, a.err
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}
