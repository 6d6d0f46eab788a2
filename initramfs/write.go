package initramfs

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
)

// planned is a record ready to be written, with its header fields.
type planned struct {
	rec      Record
	ino      uint32
	nlink    uint32
	mode     uint32
	uid, gid uint32
	data     *Record // the file whose content this entry carries, or nil
}

// plan sorts the records, adds missing parent directories, checks
// hardlinks and assigns inode numbers and link counts.
func (a *Archive) plan() ([]planned, error) {
	recs := a.Records()
	byName := make(map[string]int, len(recs))
	for i, r := range recs {
		byName[r.Name] = i
	}
	var implicit []Record
	for _, r := range recs {
		for d := path.Dir(r.Name); d != "." && d != "/"; d = path.Dir(d) {
			if i, ok := byName[d]; ok {
				if i < 0 {
					break
				}
				if t := recs[i].Type; t != TypeDir && t != TypeSymlink {
					return nil, fmt.Errorf("%w: %s: its parent %s is a %s", ErrInvalidRecord, r.Name, d, t)
				}
				break
			}
			byName[d] = -1
			implicit = append(implicit, Record{Name: d, Type: TypeDir, Perm: 0o755})
		}
	}
	if len(implicit) > 0 {
		recs = append(recs, implicit...)
		slices.SortFunc(recs, func(x, y Record) int { return compareNames(x.Name, y.Name) })
		for i, r := range recs {
			byName[r.Name] = i
		}
	}

	// Resolve hardlinks to the regular file they share an inode with.
	target := make([]int, len(recs))
	members := make(map[int][]int) // file index -> indexes of the group in name order
	for i, r := range recs {
		target[i] = i
		if r.Type != TypeHardlink {
			continue
		}
		t, seen := r.Target, 0
		for {
			j, ok := byName[t]
			if !ok {
				return nil, fmt.Errorf("%w: hardlink %s: target %s is not in the archive", ErrInvalidRecord, r.Name, t)
			}
			if recs[j].Type == TypeFile {
				target[i] = j
				break
			}
			if recs[j].Type != TypeHardlink || seen > len(recs) {
				return nil, fmt.Errorf("%w: hardlink %s: target %s is a %s, not a regular file", ErrInvalidRecord, r.Name, t, recs[j].Type)
			}
			t, seen = recs[j].Target, seen+1
		}
	}
	for i, r := range recs {
		if r.Type == TypeFile || r.Type == TypeHardlink {
			members[target[i]] = append(members[target[i]], i)
		}
	}

	out := make([]planned, len(recs))
	subdirs := make(map[string]uint32)
	for _, r := range recs {
		if r.Type == TypeDir && r.Name != "." {
			subdirs[path.Dir(r.Name)]++
		}
	}
	// A hardlink group takes its inode number where its first member
	// sorts, so the numbers do not depend on which member holds the
	// content.
	var next uint32 = 1
	inos := make([]uint32, len(recs))
	for i := range recs {
		if f := target[i]; inos[f] == 0 {
			inos[f] = next
			next++
		}
	}
	for i, r := range recs {
		p := planned{rec: r, ino: inos[i], nlink: 1}
		switch r.Type {
		case TypeDir:
			p.nlink = 2 + subdirs[r.Name]
		case TypeSymlink:
			if r.Target == "" {
				return nil, fmt.Errorf("%w: symlink %s has an empty target", ErrInvalidRecord, r.Name)
			}
			if len(r.Target) >= pathMax {
				return nil, fmt.Errorf("%w: symlink %s: target of %d bytes", ErrNameTooLong, r.Name, len(r.Target))
			}
		case TypeFile, TypeHardlink:
			f := target[i]
			g := members[f]
			p.ino = inos[f]
			p.nlink = uint32(len(g))
			// As GNU cpio does, the content travels with the last link;
			// the kernel and cpio -i both expect that.
			if g[len(g)-1] == i {
				p.data = &recs[f]
			}
			if r.Type == TypeHardlink {
				p.rec.Target = recs[f].Name
			}
			r = recs[f]
		}
		p.mode = r.unixMode()
		p.uid, p.gid = r.UID, r.GID
		out[i] = p
	}
	return out, nil
}

// Write writes the archive as one newc cpio archive, compressed as opts
// says. See the package documentation for what makes the output
// reproducible. Records refused earlier (see [Archive.Err]) fail the
// write. Nothing is written to w when the archive cannot be planned; a
// failing Source file stops the write midway.
func (a *Archive) Write(w io.Writer, opts WriteOptions) error {
	if err := a.Err(); err != nil {
		return err
	}
	if opts.SourceDateEpoch < 0 || opts.SourceDateEpoch > math.MaxUint32 {
		return fmt.Errorf("initramfs: SOURCE_DATE_EPOCH %d out of the newc range 0-%d", opts.SourceDateEpoch, uint32(math.MaxUint32))
	}
	entries, err := a.plan()
	if err != nil {
		return err
	}
	cw, err := compressor(w, opts)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(cw, 1<<20)
	ew := &entryWriter{w: bw, mtime: uint32(opts.SourceDateEpoch)}
	for i := range entries {
		if err := ew.entry(&entries[i]); err != nil {
			cw.Close()
			return err
		}
	}
	if err := ew.trailer(); err != nil {
		cw.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		cw.Close()
		return fmt.Errorf("initramfs: write: %w", err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: write: %w", err)
	}
	return nil
}

// entryWriter writes newc records, tracking the offset for padding.
type entryWriter struct {
	w     *bufio.Writer
	off   int64
	mtime uint32
	hdr   []byte
}

var zeros [4]byte

func (e *entryWriter) write(b []byte) error {
	n, err := e.w.Write(b)
	e.off += int64(n)
	if err != nil {
		return fmt.Errorf("initramfs: write: %w", err)
	}
	return nil
}

func (e *entryWriter) header(h *header, name string) error {
	h.namesize = uint32(len(name) + 1)
	e.hdr = appendHeader(e.hdr[:0], h, name)
	return e.write(e.hdr)
}

func (e *entryWriter) pad() error { return e.write(zeros[:pad4(e.off)]) }

func (e *entryWriter) entry(p *planned) error {
	r := &p.rec
	h := header{ino: p.ino, mode: p.mode, uid: p.uid, gid: p.gid, nlink: p.nlink, mtime: e.mtime}
	switch r.Type {
	case TypeSymlink:
		h.filesize = uint32(len(r.Target))
		if err := e.header(&h, r.Name); err != nil {
			return err
		}
		if err := e.write([]byte(r.Target)); err != nil {
			return err
		}
		return e.pad()
	case TypeCharDevice, TypeBlockDevice:
		h.rdevMajor, h.rdevMinor = r.Major, r.Minor
	case TypeFile, TypeHardlink:
		if p.data != nil {
			return e.file(&h, r.Name, p.data)
		}
	}
	return e.header(&h, r.Name)
}

// file writes a header and the content of f.
func (e *entryWriter) file(h *header, name string, f *Record) error {
	if f.Data != nil || f.Source == "" {
		if int64(len(f.Data)) > math.MaxUint32 {
			return fmt.Errorf("%w: %s: %d bytes exceed the newc limit of 4 GiB", ErrInvalidRecord, name, len(f.Data))
		}
		h.filesize = uint32(len(f.Data))
		if err := e.header(h, name); err != nil {
			return err
		}
		if err := e.write(f.Data); err != nil {
			return err
		}
		return e.pad()
	}
	src, err := os.Open(f.Source)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s: source %s is not a regular file", ErrInvalidRecord, name, f.Source)
	}
	if fi.Size() > math.MaxUint32 {
		return fmt.Errorf("%w: %s: %d bytes exceed the newc limit of 4 GiB", ErrInvalidRecord, name, fi.Size())
	}
	h.filesize = uint32(fi.Size())
	if err := e.header(h, name); err != nil {
		return err
	}
	n, err := e.w.ReadFrom(io.LimitReader(src, fi.Size()))
	e.off += n
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("%w: %s: %s shrank from %d to %d bytes", ErrSourceChanged, name, f.Source, fi.Size(), n)
	}
	var one [1]byte
	if m, _ := src.Read(one[:]); m > 0 {
		return fmt.Errorf("%w: %s: %s grew past %d bytes", ErrSourceChanged, name, f.Source, fi.Size())
	}
	return e.pad()
}

func (e *entryWriter) trailer() error {
	h := header{nlink: 1}
	if err := e.header(&h, trailerStr); err != nil {
		return err
	}
	return e.pad()
}
