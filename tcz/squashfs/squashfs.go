// Package squashfs reads squashfs 4.0 images, the format of Tiny Core
// extensions (.tcz): the directory tree with each entry's type,
// permissions, owner, link target and device numbers, and the contents of
// regular files. It lets the image builder unpack built-in extensions into
// an initrd and the agent install an extension on a kernel without the
// loop or squashfs drivers, without either needing the kernel or
// squashfs-tools.
//
// Only the zlib ("gzip") compressor is supported, the one Tiny Core
// extensions use; images made with another are refused with
// ErrUnsupported naming it. Extended attributes are ignored. The reader
// bounds every size it reads from the image, so a damaged or hostile
// image gives an error wrapping ErrCorrupt, never a panic or an unbounded
// allocation.
package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Errors; callers test them with errors.Is.
var (
	// ErrNotSquashfs: the data does not start with a squashfs 4.0 superblock.
	ErrNotSquashfs = errors.New("squashfs: not a squashfs 4.0 image")
	// ErrUnsupported: a valid image this reader cannot read (compressor).
	ErrUnsupported = errors.New("squashfs: unsupported")
	// ErrCorrupt: the image is inconsistent or truncated.
	ErrCorrupt = errors.New("squashfs: corrupt image")
)

// Limits; Tiny Core extensions are far inside them.
const (
	// MaxEntries bounds the number of entries Walk visits.
	MaxEntries = 1 << 20
	// MaxDepth bounds directory nesting.
	MaxDepth = 256
	// MaxBlockSize is the largest data block size squashfs allows (1 MiB).
	MaxBlockSize = 1 << 20
	metaSize     = 8192
)

const magic = 0x73717368

var compressors = map[uint16]string{1: "gzip", 2: "lzma", 3: "lzo", 4: "xz", 5: "lz4", 6: "zstd"}

// Inode types.
const (
	tDir, tFile, tSymlink, tBlk, tChr, tFifo, tSock = 1, 2, 3, 4, 5, 6, 7
	tLDir                                           = 8
	tLFile                                          = 9
	tLSymlink                                       = 10
	tLBlk, tLChr, tLFifo, tLSock                    = 11, 12, 13, 14
)

type superblock struct {
	Magic, Inodes, MTime, BlockSize, Fragments uint32
	Compressor, BlockLog, Flags, IDs           uint16
	Major, Minor                               uint16
	RootInode, BytesUsed, IDTable, XattrTable  uint64
	InodeTable, DirTable, FragTable, ExpTable  uint64
}

const (
	flagNoFragments = 0x0010
)

// FS is an opened image. It caches metadata and the last fragment read,
// so it is not safe for concurrent use.
type FS struct {
	r     io.ReaderAt
	size  int64
	sb    superblock
	ids   []uint32
	frags []fragment
	meta  map[int64]metaBlock
	// last is the last fragment block read: files packed together share
	// one, and are usually read one after the other.
	lastFrag int64
	lastData []byte
}

type fragment struct {
	start uint64
	size  uint32
}

type metaBlock struct {
	data []byte
	next int64
}

// Open reads the superblock, the owner table and the fragment table of
// the image of size bytes in r.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	f := &FS{r: r, size: size, meta: map[int64]metaBlock{}, lastFrag: -1}
	buf := make([]byte, 96)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("%w: superblock: %v", ErrNotSquashfs, err)
	}
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &f.sb); err != nil {
		return nil, fmt.Errorf("%w: superblock: %v", ErrNotSquashfs, err)
	}
	sb := &f.sb
	if sb.Magic != magic {
		return nil, fmt.Errorf("%w: bad magic %#08x", ErrNotSquashfs, sb.Magic)
	}
	if sb.Major != 4 || sb.Minor != 0 {
		return nil, fmt.Errorf("%w: version %d.%d", ErrNotSquashfs, sb.Major, sb.Minor)
	}
	if sb.Compressor != 1 {
		name := compressors[sb.Compressor]
		if name == "" {
			name = fmt.Sprintf("#%d", sb.Compressor)
		}
		return nil, fmt.Errorf("%w: compressor %s (only gzip, which Tiny Core extensions use)", ErrUnsupported, name)
	}
	if sb.BlockSize < 4096 || sb.BlockSize > MaxBlockSize || sb.BlockSize&(sb.BlockSize-1) != 0 || 1<<sb.BlockLog != sb.BlockSize {
		return nil, fmt.Errorf("%w: block size %d (log %d)", ErrCorrupt, sb.BlockSize, sb.BlockLog)
	}
	if sb.BytesUsed > uint64(size) {
		return nil, fmt.Errorf("%w: %d bytes used, the image has %d (truncated?)", ErrCorrupt, sb.BytesUsed, size)
	}
	for _, t := range []uint64{sb.IDTable, sb.InodeTable, sb.DirTable} {
		if t >= sb.BytesUsed {
			return nil, fmt.Errorf("%w: table at %d beyond the image's %d bytes", ErrCorrupt, t, sb.BytesUsed)
		}
	}
	if sb.IDs == 0 {
		return nil, fmt.Errorf("%w: no owner ids", ErrCorrupt)
	}
	ids, err := f.table(int64(sb.IDTable), int(sb.IDs), 4)
	if err != nil {
		return nil, fmt.Errorf("owner table: %w", err)
	}
	for i := 0; i < int(sb.IDs); i++ {
		f.ids = append(f.ids, binary.LittleEndian.Uint32(ids[4*i:]))
	}
	if sb.Fragments > 0 && sb.Flags&flagNoFragments == 0 {
		if sb.Fragments > 1<<24 {
			return nil, fmt.Errorf("%w: %d fragments", ErrCorrupt, sb.Fragments)
		}
		fr, err := f.table(int64(sb.FragTable), int(sb.Fragments), 16)
		if err != nil {
			return nil, fmt.Errorf("fragment table: %w", err)
		}
		for i := 0; i < int(sb.Fragments); i++ {
			e := fr[16*i:]
			f.frags = append(f.frags, fragment{start: binary.LittleEndian.Uint64(e), size: binary.LittleEndian.Uint32(e[8:])})
		}
	}
	return f, nil
}

// BlockSize is the image's data block size.
func (f *FS) BlockSize() int { return int(f.sb.BlockSize) }

// table reads a lookup table of n entries of size bytes: an array of
// metadata block locations at start, the entries in those blocks.
func (f *FS) table(start int64, n, size int) ([]byte, error) {
	total := n * size
	blocks := (total + metaSize - 1) / metaSize
	if start < 0 || start+int64(8*blocks) > int64(f.sb.BytesUsed) {
		return nil, fmt.Errorf("%w: table at %d, %d entries, beyond the image", ErrCorrupt, start, n)
	}
	locs := make([]byte, 8*blocks)
	if _, err := f.r.ReadAt(locs, start); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	out := make([]byte, 0, total)
	for i := 0; i < blocks; i++ {
		b, err := f.metaBlock(int64(binary.LittleEndian.Uint64(locs[8*i:])))
		if err != nil {
			return nil, err
		}
		out = append(out, b.data...)
	}
	if len(out) < total {
		return nil, fmt.Errorf("%w: table has %d bytes, want %d", ErrCorrupt, len(out), total)
	}
	return out, nil
}

// metaBlock reads the metadata block at pos (absolute).
func (f *FS) metaBlock(pos int64) (metaBlock, error) {
	if b, ok := f.meta[pos]; ok {
		return b, nil
	}
	if pos < 0 || pos+2 > int64(f.sb.BytesUsed) {
		return metaBlock{}, fmt.Errorf("%w: metadata block at %d beyond the image", ErrCorrupt, pos)
	}
	var h [2]byte
	if _, err := f.r.ReadAt(h[:], pos); err != nil {
		return metaBlock{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	hdr := binary.LittleEndian.Uint16(h[:])
	n := int64(hdr & 0x7fff)
	if n == 0 || n > metaSize || pos+2+n > int64(f.sb.BytesUsed) {
		return metaBlock{}, fmt.Errorf("%w: metadata block at %d: size %d", ErrCorrupt, pos, n)
	}
	raw := make([]byte, n)
	if _, err := f.r.ReadAt(raw, pos+2); err != nil {
		return metaBlock{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	data := raw
	if hdr&0x8000 == 0 {
		var err error
		if data, err = inflate(raw, metaSize); err != nil {
			return metaBlock{}, fmt.Errorf("%w: metadata block at %d: %v", ErrCorrupt, pos, err)
		}
	}
	b := metaBlock{data: data, next: pos + 2 + n}
	if len(f.meta) > 4096 {
		clear(f.meta)
	}
	f.meta[pos] = b
	return b, nil
}

// inflate decompresses a zlib stream of at most max bytes.
func inflate(raw []byte, max int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	return out, nil
}

// metaReader reads a stream of metadata starting at a block (absolute
// position) and an offset inside it.
type metaReader struct {
	f    *FS
	pos  int64
	off  int
	data []byte
	next int64
}

func (f *FS) metaReader(table int64, ref uint64) (*metaReader, error) {
	m := &metaReader{f: f, pos: table + int64(ref>>16), off: int(ref & 0xffff)}
	b, err := f.metaBlock(m.pos)
	if err != nil {
		return nil, err
	}
	if m.off > len(b.data) {
		return nil, fmt.Errorf("%w: offset %d in a %d-byte metadata block", ErrCorrupt, m.off, len(b.data))
	}
	m.data, m.next = b.data, b.next
	return m, nil
}

func (m *metaReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if m.off == len(m.data) {
			b, err := m.f.metaBlock(m.next)
			if err != nil {
				return n, err
			}
			m.pos, m.data, m.next, m.off = m.next, b.data, b.next, 0
		}
		c := copy(p[n:], m.data[m.off:])
		m.off += c
		n += c
	}
	return n, nil
}

func (m *metaReader) read(v any) error {
	if err := binary.Read(m, binary.LittleEndian, v); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// Entry is a file of the image.
type Entry struct {
	// Path is slash-separated and relative ("usr/local/bin/bash"); the
	// root is ".".
	Path string
	// Mode holds the type and permission bits (with setuid, setgid and
	// sticky) as io/fs reports them.
	Mode fs.FileMode
	// UID and GID are the owner as packed.
	UID, GID uint32
	// MTime is the modification time in seconds since 1970.
	MTime uint32
	// Size is a regular file's length.
	Size int64
	// Target is a symlink's target.
	Target string
	// Major and Minor are a device's numbers.
	Major, Minor uint32

	blocksStart uint64
	blocks      []uint32
	frag        uint32
	fragOff     uint32
	dirStart    uint32
	dirOff      uint16
	dirSize     uint32
}

// Walk calls fn for every entry of the image, a directory before its
// contents, entries of a directory in the image's (sorted) order. The
// root comes first, as ".". fs.SkipDir from fn for a directory skips its
// contents, fs.SkipAll ends the walk; another error from fn stops the
// walk and is returned.
func (f *FS) Walk(fn func(e *Entry) error) error {
	root, err := f.inode(f.sb.RootInode)
	if err != nil {
		return fmt.Errorf("root inode: %w", err)
	}
	if !root.Mode.IsDir() {
		return fmt.Errorf("%w: the root is not a directory", ErrCorrupt)
	}
	root.Path = "."
	count := 0
	var walk func(d *Entry, depth int) error
	walk = func(d *Entry, depth int) error {
		if count++; count > MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrCorrupt, MaxEntries)
		}
		if err := fn(d); err != nil {
			if err == fs.SkipDir && d.Mode.IsDir() {
				return nil
			}
			return err
		}
		if !d.Mode.IsDir() {
			return nil
		}
		if depth > MaxDepth {
			return fmt.Errorf("%w: directories nested deeper than %d", ErrCorrupt, MaxDepth)
		}
		kids, err := f.readDir(d)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
		for _, k := range kids {
			if err := walk(k, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil && err != fs.SkipAll {
		return err
	}
	return nil
}

// readDir returns a directory's entries.
func (f *FS) readDir(d *Entry) ([]*Entry, error) {
	if d.dirSize <= 3 {
		return nil, nil
	}
	size := int64(d.dirSize) - 3
	m, err := f.metaReader(int64(f.sb.DirTable), uint64(d.dirStart)<<16|uint64(d.dirOff))
	if err != nil {
		return nil, err
	}
	lr := &io.LimitedReader{R: m, N: size}
	rd := func(v any) error {
		if err := binary.Read(lr, binary.LittleEndian, v); err != nil {
			return fmt.Errorf("%w: directory listing: %v", ErrCorrupt, err)
		}
		return nil
	}
	var out []*Entry
	for lr.N > 0 {
		var hdr struct{ Count, Start, Inode uint32 }
		if err := rd(&hdr); err != nil {
			return nil, err
		}
		if hdr.Count >= 256 {
			return nil, fmt.Errorf("%w: directory header of %d entries", ErrCorrupt, hdr.Count+1)
		}
		for i := uint32(0); i <= hdr.Count; i++ {
			var e struct {
				Offset uint16
				Delta  int16
				Type   uint16
				Len    uint16
			}
			if err := rd(&e); err != nil {
				return nil, err
			}
			name := make([]byte, int(e.Len)+1)
			if _, err := io.ReadFull(lr, name); err != nil {
				return nil, fmt.Errorf("%w: directory entry name: %v", ErrCorrupt, err)
			}
			n := string(name)
			if n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
				return nil, fmt.Errorf("%w: bad name %q in a directory", ErrCorrupt, n)
			}
			child, err := f.inode(uint64(hdr.Start)<<16 | uint64(e.Offset))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n, err)
			}
			child.Path = path.Join(d.Path, n)
			out = append(out, child)
			if len(out) > MaxEntries {
				return nil, fmt.Errorf("%w: directory of more than %d entries", ErrCorrupt, MaxEntries)
			}
		}
	}
	return out, nil
}

// inode reads the inode at ref.
func (f *FS) inode(ref uint64) (*Entry, error) {
	m, err := f.metaReader(int64(f.sb.InodeTable), ref)
	if err != nil {
		return nil, err
	}
	var h struct {
		Type, Perm, UID, GID uint16
		MTime, Number        uint32
	}
	if err := m.read(&h); err != nil {
		return nil, err
	}
	e := &Entry{Mode: fs.FileMode(h.Perm & 0o777), MTime: h.MTime}
	if h.Perm&0o4000 != 0 {
		e.Mode |= fs.ModeSetuid
	}
	if h.Perm&0o2000 != 0 {
		e.Mode |= fs.ModeSetgid
	}
	if h.Perm&0o1000 != 0 {
		e.Mode |= fs.ModeSticky
	}
	if int(h.UID) >= len(f.ids) || int(h.GID) >= len(f.ids) {
		return nil, fmt.Errorf("%w: owner index %d/%d of %d", ErrCorrupt, h.UID, h.GID, len(f.ids))
	}
	e.UID, e.GID = f.ids[h.UID], f.ids[h.GID]
	switch h.Type {
	case tDir:
		var d struct {
			Start, Links uint32
			Size, Offset uint16
			Parent       uint32
		}
		if err := m.read(&d); err != nil {
			return nil, err
		}
		e.Mode |= fs.ModeDir
		e.dirStart, e.dirOff, e.dirSize = d.Start, d.Offset, uint32(d.Size)
	case tLDir:
		var d struct {
			Links, Size, Start, Parent uint32
			Index, Offset              uint16
			Xattr                      uint32
		}
		if err := m.read(&d); err != nil {
			return nil, err
		}
		e.Mode |= fs.ModeDir
		e.dirStart, e.dirOff, e.dirSize = d.Start, d.Offset, d.Size
	case tFile, tLFile:
		var start, size uint64
		if h.Type == tFile {
			var d struct{ Start, Frag, Off, Size uint32 }
			if err := m.read(&d); err != nil {
				return nil, err
			}
			start, size, e.frag, e.fragOff = uint64(d.Start), uint64(d.Size), d.Frag, d.Off
		} else {
			var d struct {
				Start, Size, Sparse     uint64
				Links, Frag, Off, Xattr uint32
			}
			if err := m.read(&d); err != nil {
				return nil, err
			}
			start, size, e.frag, e.fragOff = d.Start, d.Size, d.Frag, d.Off
		}
		if size > f.sb.BytesUsed*uint64(f.sb.BlockSize)+uint64(f.sb.BlockSize) || size > 1<<40 {
			return nil, fmt.Errorf("%w: file of %d bytes in a %d-byte image", ErrCorrupt, size, f.sb.BytesUsed)
		}
		bs := uint64(f.sb.BlockSize)
		n := size / bs
		if e.frag == 0xffffffff {
			n = (size + bs - 1) / bs
		} else if int64(e.frag) >= int64(len(f.frags)) || e.fragOff >= f.sb.BlockSize {
			return nil, fmt.Errorf("%w: fragment %d of %d", ErrCorrupt, e.frag, len(f.frags))
		}
		if n > f.sb.BytesUsed/4+1 {
			return nil, fmt.Errorf("%w: file of %d blocks", ErrCorrupt, n)
		}
		e.blocks = make([]uint32, n)
		if err := m.read(e.blocks); err != nil {
			return nil, err
		}
		e.blocksStart, e.Size = start, int64(size)
	case tSymlink, tLSymlink:
		var d struct{ Links, Size uint32 }
		if err := m.read(&d); err != nil {
			return nil, err
		}
		if d.Size == 0 || d.Size > 4096 {
			return nil, fmt.Errorf("%w: symlink target of %d bytes", ErrCorrupt, d.Size)
		}
		t := make([]byte, d.Size)
		if _, err := io.ReadFull(m, t); err != nil {
			return nil, fmt.Errorf("%w: symlink target: %v", ErrCorrupt, err)
		}
		e.Mode |= fs.ModeSymlink
		e.Target = string(t)
	case tBlk, tChr, tLBlk, tLChr:
		var d struct{ Links, Dev uint32 }
		if err := m.read(&d); err != nil {
			return nil, err
		}
		e.Mode |= fs.ModeDevice
		if h.Type == tChr || h.Type == tLChr {
			e.Mode |= fs.ModeCharDevice
		}
		e.Major = (d.Dev & 0xfff00) >> 8
		e.Minor = d.Dev&0xff | (d.Dev>>12)&0xfff00
	case tFifo, tLFifo:
		e.Mode |= fs.ModeNamedPipe
	case tSock, tLSock:
		e.Mode |= fs.ModeSocket
	default:
		return nil, fmt.Errorf("%w: inode type %d", ErrCorrupt, h.Type)
	}
	return e, nil
}

// WriteTo writes a regular file's contents to w.
func (f *FS) WriteTo(w io.Writer, e *Entry) (int64, error) {
	if !e.Mode.IsRegular() {
		return 0, fmt.Errorf("squashfs: %s is not a regular file", e.Path)
	}
	bs := int64(f.sb.BlockSize)
	pos := int64(e.blocksStart)
	var written int64
	for i, b := range e.blocks {
		want := min(bs, e.Size-int64(i)*bs)
		n := int64(b &^ (1 << 24))
		var data []byte
		switch {
		case n == 0: // a sparse block
			data = make([]byte, want)
		default:
			if n > bs || pos+n > int64(f.sb.BytesUsed) {
				return written, fmt.Errorf("%w: %s: block %d of %d bytes at %d", ErrCorrupt, e.Path, i, n, pos)
			}
			raw := make([]byte, n)
			if _, err := f.r.ReadAt(raw, pos); err != nil {
				return written, fmt.Errorf("%w: %s: %v", ErrCorrupt, e.Path, err)
			}
			pos += n
			data = raw
			if b&(1<<24) == 0 {
				var err error
				if data, err = inflate(raw, int(bs)); err != nil {
					return written, fmt.Errorf("%w: %s: block %d: %v", ErrCorrupt, e.Path, i, err)
				}
			}
		}
		if int64(len(data)) != want {
			return written, fmt.Errorf("%w: %s: block %d has %d bytes, want %d", ErrCorrupt, e.Path, i, len(data), want)
		}
		n2, err := w.Write(data)
		written += int64(n2)
		if err != nil {
			return written, err
		}
	}
	if rest := e.Size - int64(len(e.blocks))*bs; rest > 0 {
		if e.frag == 0xffffffff {
			return written, fmt.Errorf("%w: %s: %d bytes past the blocks and no fragment", ErrCorrupt, e.Path, rest)
		}
		data, err := f.fragment(e.frag)
		if err != nil {
			return written, fmt.Errorf("%s: %w", e.Path, err)
		}
		if int64(e.fragOff)+rest > int64(len(data)) {
			return written, fmt.Errorf("%w: %s: fragment %d too short", ErrCorrupt, e.Path, e.frag)
		}
		n, err := w.Write(data[e.fragOff : int64(e.fragOff)+rest])
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// ReadFile returns a regular file's contents.
func (f *FS) ReadFile(e *Entry) ([]byte, error) {
	var b bytes.Buffer
	_, err := f.WriteTo(&b, e)
	return b.Bytes(), err
}

func (f *FS) fragment(i uint32) ([]byte, error) {
	if int64(i) == f.lastFrag {
		return f.lastData, nil
	}
	data, err := f.readFragment(i)
	if err == nil {
		f.lastFrag, f.lastData = int64(i), data
	}
	return data, err
}

func (f *FS) readFragment(i uint32) ([]byte, error) {
	fr := f.frags[i]
	n := int64(fr.size &^ (1 << 24))
	if n == 0 || n > int64(f.sb.BlockSize) || int64(fr.start)+n > int64(f.sb.BytesUsed) {
		return nil, fmt.Errorf("%w: fragment %d of %d bytes at %d", ErrCorrupt, i, n, fr.start)
	}
	raw := make([]byte, n)
	if _, err := f.r.ReadAt(raw, int64(fr.start)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if fr.size&(1<<24) != 0 {
		return raw, nil
	}
	data, err := inflate(raw, int(f.sb.BlockSize))
	if err != nil {
		return nil, fmt.Errorf("%w: fragment %d: %v", ErrCorrupt, i, err)
	}
	return data, nil
}
