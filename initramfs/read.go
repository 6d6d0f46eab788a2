package initramfs

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Limits that keep a hostile image from making the reader allocate what
// its headers claim rather than what it holds.
const (
	maxZstdWindow = 128 << 20 // zstd --long=27; the kernel allows no more
	maxXzDict     = 256 << 20
	smallFile     = 1 << 20 // files up to this size are allocated at once
)

// ReadFile reads the initramfs image at path (see [Read]).
func ReadFile(path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Read reads an initramfs image: one or more newc cpio archives, each plain
// or compressed (gzip, zstd, xz, lz4, bzip2, lzma, detected by magic),
// separated by zero padding, the way the kernel unpacks them. Later entries
// replace earlier ones. Errors name the member, the entry and its offset.
func Read(r io.Reader) (*Archive, error) {
	cr := &countReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	rawOff := func() int64 { return cr.n - int64(br.Buffered()) }
	p := &parser{a: New()}
	members := 0
	for {
		if _, err := skipZeros(br); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("initramfs: offset %d: %w", rawOff(), err)
		}
		members++
		off := rawOff()
		head, _ := br.Peek(6)
		kind, err := detect(head)
		if err != nil {
			return nil, fmt.Errorf("initramfs: member %d at offset %d: %w", members, off, err)
		}
		label := string(kind)
		if kind == None {
			label = "cpio"
		}
		where := fmt.Sprintf("initramfs: member %d (%s) at offset %d", members, label, off)
		if kind == None {
			// A plain archive: read exactly one, so that whatever follows
			// its trailer (padding, a compressed archive) is seen here.
			if err := p.archive(&src{br: br}, where); err != nil {
				return nil, err
			}
			continue
		}
		dr, closeFn, err := decompressor(kind, br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		err = p.stream(dr, where)
		closeFn()
		if err != nil {
			return nil, err
		}
	}
	if members == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrTruncated)
	}
	return p.a, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// detect names the compression (None for a plain cpio archive) whose magic
// starts b.
func detect(b []byte) (Compression, error) {
	switch {
	case bytes.HasPrefix(b, []byte(magicNewc)), bytes.HasPrefix(b, []byte(magicCRC)):
		return None, nil
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return Gzip, nil
	case isZstd(b):
		return Zstd, nil
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return Xz, nil
	case isLz4Frame(b), bytes.HasPrefix(b, []byte{0x02, 0x21, 0x4c, 0x18}):
		return Lz4, nil
	case bytes.HasPrefix(b, []byte("BZh")):
		return Bzip2, nil
	case bytes.HasPrefix(b, []byte{0x5d, 0, 0}):
		return Lzma, nil
	case bytes.HasPrefix(b, []byte{0x89, 'L', 'Z', 'O'}):
		return "", fmt.Errorf("%w: lzo compression", ErrUnsupported)
	}
	return "", badMagic(b)
}

// decompressor returns a reader of the member at the head of br that stops
// exactly where the member ends, and a function releasing it.
func decompressor(kind Compression, br *bufio.Reader) (io.Reader, func(), error) {
	nop := func() {}
	switch kind {
	case Gzip:
		// Given an io.ByteReader, the gzip reader consumes no byte past
		// the member's trailer.
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, nop, fmt.Errorf("gzip: %w", err)
		}
		z.Multistream(false)
		return &gzipChain{br: br, z: z}, func() { z.Close() }, nil
	case Zstd:
		d, err := zstd.NewReader(zstdFrames(br),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(maxZstdWindow),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nop, fmt.Errorf("zstd: %w", err)
		}
		return d, d.Close, nil
	case Xz:
		f := &byteFeeder{br: br}
		x, err := xz.ReaderConfig{SingleStream: true}.NewReader(f)
		if err != nil {
			return nil, nop, fmt.Errorf("xz: %w", err)
		}
		return &xzMember{x: x, f: f}, nop, nil
	case Lz4:
		head, _ := br.Peek(4)
		if isLz4Frame(head) {
			return &lz4Chain{br: br}, nop, nil
		}
		l, err := newLz4Legacy(br)
		if err != nil {
			return nil, nop, fmt.Errorf("lz4: %w", err)
		}
		return l, nop, nil
	case Bzip2:
		return bzip2.NewReader(br), nop, nil
	case Lzma:
		h, err := peekFull(br, 5)
		if err != nil {
			return nil, nop, fmt.Errorf("lzma: %w", err)
		}
		if dict := uint32(h[1]) | uint32(h[2])<<8 | uint32(h[3])<<16 | uint32(h[4])<<24; dict > maxXzDict {
			return nil, nop, fmt.Errorf("lzma: dictionary of %d bytes exceeds %d", dict, maxXzDict)
		}
		l, err := lzma.NewReader(br)
		if err != nil {
			return nil, nop, fmt.Errorf("lzma: %w", err)
		}
		return l, nop, nil
	}
	return nil, nop, fmt.Errorf("%w: compression %q", ErrUnsupported, kind)
}

// gzipChain reads consecutive gzip members as one stream.
type gzipChain struct {
	br *bufio.Reader
	z  *gzip.Reader
}

func (g *gzipChain) Read(p []byte) (int, error) {
	for {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		if b, _ := g.br.Peek(2); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			return n, io.EOF
		}
		if err := g.z.Reset(g.br); err != nil {
			return n, fmt.Errorf("gzip: %w", err)
		}
		g.z.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// lz4Chain reads consecutive LZ4 frames as one stream.
type lz4Chain struct {
	br *bufio.Reader
	z  *lz4.Reader
}

func (l *lz4Chain) Read(p []byte) (int, error) {
	for {
		if l.z == nil {
			if b, _ := l.br.Peek(4); !isLz4Frame(b) {
				return 0, io.EOF
			}
			l.z = lz4.NewReader(lz4Frame(l.br))
		}
		n, err := l.z.Read(p)
		if err == io.EOF {
			l.z = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			err = fmt.Errorf("lz4: %w", err)
		}
		return n, err
	}
}

// byteFeeder serves one-byte reads with ReadByte, so that the single byte
// the xz reader reads past the end of its stream can be given back.
type byteFeeder struct {
	br       *bufio.Reader
	lastByte bool
}

func (f *byteFeeder) Read(p []byte) (int, error) {
	if len(p) == 1 {
		c, err := f.br.ReadByte()
		if err != nil {
			f.lastByte = false
			return 0, err
		}
		p[0] = c
		f.lastByte = true
		return 1, nil
	}
	f.lastByte = false
	return f.br.Read(p)
}

// xzMember reads one xz stream. In single-stream mode the xz reader checks
// that its stream is followed by the end of input by reading one byte
// more, and fails when something follows; in an initrd something may well
// follow (padding, another archive), so that byte is given back and the
// stream ends there.
type xzMember struct {
	x    *xz.Reader
	f    *byteFeeder
	done bool
}

// xzTrailingData is the message of the xz reader's (unexported) error for
// data after a single stream.
const xzTrailingData = "xz: unexpected data after stream"

func (m *xzMember) Read(p []byte) (int, error) {
	if m.done {
		return 0, io.EOF
	}
	n, err := m.x.Read(p)
	if err != nil && err != io.EOF && err.Error() == xzTrailingData && m.f.lastByte {
		if uerr := m.f.br.UnreadByte(); uerr != nil {
			return n, fmt.Errorf("xz: %w", uerr)
		}
		m.done = true
		return n, io.EOF
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("xz: %w", err)
	}
	return n, err
}

// skipZeros consumes zero bytes at the head of br and returns how many.
func skipZeros(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		if _, err := br.Peek(1); err != nil {
			return n, err
		}
		chunk, _ := br.Peek(br.Buffered())
		i := 0
		for i < len(chunk) && chunk[i] == 0 {
			i++
		}
		if _, err := br.Discard(i); err != nil {
			return n, err
		}
		n += int64(i)
		if i < len(chunk) {
			return n, nil
		}
	}
}

// src is a stream of cpio data with its offset.
type src struct {
	br  *bufio.Reader
	off int64
}

// readFull reads len(b) bytes: io.EOF when none was left,
// io.ErrUnexpectedEOF when some were.
func (s *src) readFull(b []byte) error {
	n, err := io.ReadFull(s.br, b)
	s.off += int64(n)
	return err
}

func (s *src) discard(n int64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		m, err := s.br.Discard(step)
		s.off += int64(m)
		n -= int64(m)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readData reads n bytes, growing its buffer as data arrives so that a
// header claiming 4 GiB in a short stream costs what the stream holds.
func (s *src) readData(n uint32) ([]byte, error) {
	if n <= smallFile {
		b := make([]byte, n)
		err := s.readFull(b)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return b, err
	}
	b := make([]byte, 0, smallFile)
	for uint32(len(b)) < n {
		step := int(min(n-uint32(len(b)), 16<<20))
		b = slices.Grow(b, step)
		chunk := b[len(b) : len(b)+step]
		err := s.readFull(chunk)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		b = b[:len(b)+step]
	}
	return b, nil
}

// parser accumulates the archives of an image into a.
type parser struct {
	a *Archive
}

// stream reads the archives of one decompressed member.
func (p *parser) stream(r io.Reader, where string) error {
	s := &src{br: bufio.NewReaderSize(r, 64<<10)}
	for n := 0; ; n++ {
		skipped, err := skipZeros(s.br)
		s.off += skipped
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("%s: %w: no cpio archive inside", where, ErrTruncated)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: offset %d: %w", where, s.off, readErr(err))
		}
		head, _ := s.br.Peek(6)
		if _, err := detect(head); err != nil || !bytes.HasPrefix(head, []byte("07070")) {
			if err == nil {
				err = fmt.Errorf("%w: a compressed member inside a compressed member (magic %q)", ErrUnsupported, head)
			}
			return fmt.Errorf("%s: offset %d: %w", where, s.off, err)
		}
		if err := p.archive(s, where); err != nil {
			return err
		}
	}
}

// entry is one record as read, with what hardlink resolution needs.
type entry struct {
	rec   Record
	nlink uint32
	key   [3]uint32 // devmajor, devminor, ino
	size  uint32
}

// readErr turns an unexpected end of input into ErrTruncated.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fmt.Errorf("%w: %w", ErrTruncated, io.ErrUnexpectedEOF)
	}
	return err
}

// archive reads one cpio archive, up to and including its TRAILER!!!.
func (p *parser) archive(s *src, where string) error {
	start := s.off
	var ents []entry
	var hb [headerLen]byte
	for idx := 0; ; idx++ {
		hoff := s.off
		name := ""
		fail := func(err error) error {
			if name == "" {
				return fmt.Errorf("%s: entry %d at offset %d: %w", where, idx, hoff, err)
			}
			return fmt.Errorf("%s: entry %d %q at offset %d: %w", where, idx, name, hoff, err)
		}
		if err := s.readFull(hb[:]); err != nil {
			if err == io.EOF {
				return fail(fmt.Errorf("%w: archive ends without %s", ErrTruncated, trailerStr))
			}
			return fail(readErr(err))
		}
		h, err := parseHeader(hb[:])
		if err != nil {
			return fail(err)
		}
		if h.namesize == 0 {
			return fail(fmt.Errorf("%w: namesize 0", ErrBadHeader))
		}
		if h.namesize > pathMax {
			return fail(fmt.Errorf("%w: namesize %d exceeds PATH_MAX %d", ErrNameTooLong, h.namesize, pathMax))
		}
		nb := make([]byte, h.namesize+uint32(pad4(int64(headerLen)+int64(h.namesize))))
		if err := s.readFull(nb); err != nil {
			return fail(readErr(err))
		}
		nb = nb[:h.namesize]
		if nb[len(nb)-1] != 0 {
			return fail(fmt.Errorf("%w: name is not NUL-terminated", ErrBadHeader))
		}
		raw := string(nb[:len(nb)-1])
		name = raw
		if raw == trailerStr {
			if err := s.discard(int64(h.filesize) + pad4(int64(h.filesize))); err != nil {
				return fail(readErr(err))
			}
			p.commit(ents)
			return nil
		}
		clean, err := readName(raw)
		if err != nil {
			return fail(err)
		}
		typ, ok := typeFromUnix(h.mode)
		if !ok {
			return fail(fmt.Errorf("%w: mode %#o has no file type", ErrBadHeader, h.mode))
		}
		rec := Record{Name: clean, Type: typ, Perm: permFromUnix(h.mode), UID: h.uid, GID: h.gid}
		switch typ {
		case TypeFile:
			if rec.Data, err = s.readData(h.filesize); err != nil {
				return fail(readErr(err))
			}
		case TypeSymlink:
			if h.filesize == 0 {
				return fail(fmt.Errorf("%w: symlink with an empty target", ErrBadHeader))
			}
			if h.filesize >= pathMax {
				return fail(fmt.Errorf("%w: symlink target of %d bytes exceeds PATH_MAX %d", ErrNameTooLong, h.filesize, pathMax))
			}
			t := make([]byte, h.filesize)
			if err := s.readFull(t); err != nil {
				return fail(readErr(err))
			}
			if bytes.IndexByte(t, 0) >= 0 {
				return fail(fmt.Errorf("%w: symlink target contains a NUL byte", ErrBadHeader))
			}
			rec.Target = string(t)
		default:
			// The kernel ignores data of directories and special files.
			if err := s.discard(int64(h.filesize)); err != nil {
				return fail(readErr(err))
			}
			if typ == TypeCharDevice || typ == TypeBlockDevice {
				rec.Major, rec.Minor = h.rdevMajor, h.rdevMinor
			}
		}
		if err := s.discard(pad4(s.off - start)); err != nil {
			return fail(readErr(err))
		}
		if clean == "." && typ != TypeDir {
			return fail(fmt.Errorf("%w: the root \".\" is a %s", ErrBadHeader, typ))
		}
		ents = append(ents, entry{rec: rec, nlink: h.nlink, key: [3]uint32{h.devMajor, h.devMinor, h.ino}, size: h.filesize})
	}
}

// readName validates a name read from an archive: relative, without
// "..", and cleans it ("./bin//sh" becomes "bin/sh").
func readName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", fmt.Errorf("%w: empty name", ErrUnsafePath)
	case strings.HasPrefix(raw, "/"):
		return "", fmt.Errorf("%w: absolute path", ErrUnsafePath)
	case strings.IndexByte(raw, 0) >= 0:
		return "", fmt.Errorf("%w: name contains a NUL byte", ErrUnsafePath)
	}
	for _, el := range strings.Split(raw, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: name contains \"..\"", ErrUnsafePath)
		}
	}
	return path.Clean(raw), nil
}

// commit applies one archive's entries to the image. Regular files that
// share an inode (same dev and ino, nlink > 1) become one file, named by
// the first of them in name order, and hardlinks to it; its content is the
// last non-empty data of the group (GNU cpio puts the data on the last
// link, u-root on the first; the kernel keeps whichever was written) and
// its mode and owner the last entry's, as the kernel's unpacker leaves
// them. Later entries of a name replace earlier ones.
func (p *parser) commit(ents []entry) {
	last := make(map[string]int, len(ents))
	for i, e := range ents {
		last[e.rec.Name] = i
	}
	groups := make(map[[3]uint32][]int)
	var order [][3]uint32
	for i, e := range ents {
		if last[e.rec.Name] != i || e.rec.Type != TypeFile || e.nlink < 2 {
			continue
		}
		if _, ok := groups[e.key]; !ok {
			order = append(order, e.key)
		}
		groups[e.key] = append(groups[e.key], i)
	}
	final := make(map[int]Record)
	for _, k := range order {
		g := groups[k]
		if len(g) < 2 {
			continue
		}
		src := ents[g[len(g)-1]].rec
		var data []byte
		for _, i := range g {
			if ents[i].size > 0 || data == nil {
				data = ents[i].rec.Data
			}
		}
		primary := g[0]
		for _, i := range g {
			if ents[i].rec.Name < ents[primary].rec.Name {
				primary = i
			}
		}
		for _, i := range g {
			r := src
			r.Name = ents[i].rec.Name
			if i == primary {
				r.Data = data
			} else {
				r = Record{Name: r.Name, Type: TypeHardlink, Target: ents[primary].rec.Name}
			}
			final[i] = r
		}
	}
	// Files, directories and the rest first, then hardlinks, so that a
	// link never meets an older file of its target's name.
	var links []Record
	for i, e := range ents {
		if last[e.rec.Name] != i {
			continue
		}
		r := e.rec
		if f, ok := final[i]; ok {
			r = f
		}
		if r.Type == TypeHardlink {
			links = append(links, r)
			continue
		}
		p.a.put(r)
	}
	for _, r := range links {
		p.a.put(r)
	}
}
