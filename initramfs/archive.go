package initramfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of them and
// name the entry (and, when reading, its offset).
var (
	// ErrBadMagic: the input is not a cpio newc archive nor a compressed one.
	ErrBadMagic = errors.New("initramfs: bad magic")
	// ErrTruncated: the input ends inside an entry or before TRAILER!!!.
	ErrTruncated = errors.New("initramfs: truncated archive")
	// ErrBadHeader: a newc header field is malformed or out of range.
	ErrBadHeader = errors.New("initramfs: bad header")
	// ErrUnsafePath: an entry name is absolute, contains "..", is empty or
	// contains a NUL byte.
	ErrUnsafePath = errors.New("initramfs: unsafe path")
	// ErrNameTooLong: a name or symlink target is longer than PATH_MAX.
	ErrNameTooLong = errors.New("initramfs: name too long")
	// ErrUnsupported: a cpio format or compression this package does not
	// handle (odc, binary cpio, lzo, …).
	ErrUnsupported = errors.New("initramfs: unsupported format")
	// ErrInvalidRecord: a record cannot be written as given (bad type, a
	// hardlink to a missing file, a file under a non-directory, …).
	ErrInvalidRecord = errors.New("initramfs: invalid record")
	// ErrSourceChanged: a Source file changed size while being written.
	ErrSourceChanged = errors.New("initramfs: source file changed while writing")
)

// pathMax is Linux's PATH_MAX, which the kernel's unpacker applies to names
// (including their NUL) and symlink targets.
const pathMax = 4096

// Archive is an ordered set of records, each path at most once. The zero
// value is not usable; call [New]. An Archive is not safe for concurrent
// mutation.
type Archive struct {
	recs map[string]Record
	errs []error
}

// New returns an empty archive.
func New() *Archive {
	return &Archive{recs: make(map[string]Record)}
}

// Err reports the records that Add* calls refused (an unsafe name, a bad
// type), joined. Write and Extract return it too, so that a refused add is
// never silently lost.
func (a *Archive) Err() error { return errors.Join(a.errs...) }

// Len returns the number of records.
func (a *Archive) Len() int { return len(a.recs) }

// cleanName turns a name given to the API into a clean relative path:
// leading "/" and "./" are dropped, "a//b/" becomes "a/b", "" and "/" are
// the root ".". Names with a ".." element or a NUL byte are refused.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q contains a NUL byte", ErrUnsafePath, name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q contains \"..\"", ErrUnsafePath, name)
		}
	}
	c := path.Clean("/" + name)
	if c == "/" {
		return ".", nil
	}
	if len(c) >= pathMax {
		return "", fmt.Errorf("%w: %q is %d bytes", ErrNameTooLong, name[:32]+"…", len(c))
	}
	return c[1:], nil
}

// normPerm keeps permissions, setuid, setgid and sticky; it also accepts
// them written the Unix way (0o4755), which fs.FileMode does not use.
func normPerm(p fs.FileMode) fs.FileMode {
	u := uint32(p) & 0o7000
	return p&permMask | permFromUnix(u)
}

// AddFile adds a regular file with content data (not copied: do not modify
// it afterwards), owned by root. Permissions, here and in every Add
// method, may carry fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky or the
// Unix bits 0o4000, 0o2000 and 0o1000. An existing entry of that name is
// replaced.
func (a *Archive) AddFile(name string, data []byte, perm fs.FileMode) {
	if data == nil {
		data = []byte{}
	}
	a.AddRecord(Record{Name: name, Type: TypeFile, Perm: perm, Data: data})
}

// AddDir adds a directory owned by root. Replacing an existing directory
// keeps what is below it.
func (a *Archive) AddDir(name string, perm fs.FileMode) {
	a.AddRecord(Record{Name: name, Type: TypeDir, Perm: perm})
}

// AddSymlink adds a symbolic link to target (any string; it is not
// resolved), owned by root, mode 0777.
func (a *Archive) AddSymlink(name, target string) {
	a.AddRecord(Record{Name: name, Type: TypeSymlink, Perm: 0o777, Target: target})
}

// AddDevice adds a character or block device node owned by root.
func (a *Archive) AddDevice(name string, kind DeviceKind, major, minor uint32, perm fs.FileMode) {
	t := TypeCharDevice
	switch kind {
	case CharDevice:
	case BlockDevice:
		t = TypeBlockDevice
	default:
		a.errs = append(a.errs, fmt.Errorf("%w: %s: device kind %d is neither CharDevice nor BlockDevice", ErrInvalidRecord, name, kind))
		return
	}
	a.AddRecord(Record{Name: name, Type: t, Perm: perm, Major: major, Minor: minor})
}

// AddRecord adds r as given (owner, type, hardlink target, device
// numbers), replacing an existing entry of the same name. The name is
// cleaned; a refused record is reported by [Archive.Err], Write and
// Extract. Replacing a directory by a non-directory removes what was below
// it; replacing a file that other entries are hardlinked to leaves those
// entries with the old content, as unpacking over it would.
func (a *Archive) AddRecord(r Record) {
	name, err := cleanName(r.Name)
	if err != nil {
		a.errs = append(a.errs, err)
		return
	}
	r.Name = name
	r.Perm = normPerm(r.Perm)
	switch r.Type {
	case TypeFile, TypeDir, TypeSymlink, TypeCharDevice, TypeBlockDevice, TypeFifo, TypeSocket:
	case TypeHardlink:
		t, err := cleanName(r.Target)
		if err != nil {
			a.errs = append(a.errs, fmt.Errorf("%w: hardlink %s: target: %w", ErrInvalidRecord, name, err))
			return
		}
		if prev, ok := a.recs[t]; ok && prev.Type == TypeHardlink {
			t = prev.Target
		}
		if t == name {
			a.errs = append(a.errs, fmt.Errorf("%w: hardlink %s links to itself", ErrInvalidRecord, name))
			return
		}
		r.Target = t
		r.Perm, r.UID, r.GID = 0, 0, 0
	default:
		a.errs = append(a.errs, fmt.Errorf("%w: %s: unknown type %d", ErrInvalidRecord, name, r.Type))
		return
	}
	if name == "." && r.Type != TypeDir {
		a.errs = append(a.errs, fmt.Errorf("%w: the root \".\" must be a directory, not a %s", ErrInvalidRecord, r.Type))
		return
	}
	if r.Type == TypeSymlink {
		// Linux ignores a symlink's mode and reports 0777.
		r.Perm = 0o777
	}
	if r.Type != TypeFile {
		r.Data, r.Source = nil, ""
	}
	if r.Type != TypeSymlink && r.Type != TypeHardlink {
		r.Target = ""
	}
	if r.Type != TypeCharDevice && r.Type != TypeBlockDevice {
		r.Major, r.Minor = 0, 0
	}
	a.put(r)
}

// put stores r (already clean) under its name with replace semantics.
func (a *Archive) put(r Record) {
	if old, ok := a.recs[r.Name]; ok {
		switch {
		case old.Type == TypeDir && r.Type != TypeDir:
			a.removeSet(a.subtree(r.Name))
		case old.Type == TypeFile:
			a.removeSet(map[string]bool{r.Name: true})
		}
	}
	a.recs[r.Name] = r
}

// subtree returns name and every name below it.
func (a *Archive) subtree(name string) map[string]bool {
	set := make(map[string]bool)
	if name == "." {
		for n := range a.recs {
			set[n] = true
		}
		return set
	}
	prefix := name + "/"
	for n := range a.recs {
		if n == name || strings.HasPrefix(n, prefix) {
			set[n] = true
		}
	}
	return set
}

// removeSet deletes the named records. A removed file's hardlinks that
// remain keep its content: the first of them by name becomes the file, the
// others link to it.
func (a *Archive) removeSet(set map[string]bool) {
	orphans := make(map[string][]string)
	for n, r := range a.recs {
		if r.Type == TypeHardlink && set[r.Target] && !set[n] {
			orphans[r.Target] = append(orphans[r.Target], n)
		}
	}
	for target, links := range orphans {
		slices.Sort(links)
		old := a.recs[target]
		heir := old
		heir.Name = links[0]
		a.recs[links[0]] = heir
		for _, l := range links[1:] {
			r := a.recs[l]
			r.Target = links[0]
			a.recs[l] = r
		}
	}
	for n := range set {
		delete(a.recs, n)
	}
}

// Remove deletes name and everything below it. Removing "." or "" empties
// the archive. A missing name is not an error.
func (a *Archive) Remove(name string) {
	n, err := cleanName(name)
	if err != nil {
		return
	}
	a.removeSet(a.subtree(n))
}

// Merge adds every record of b to a, b's entries replacing a's of the same
// name (see [Archive.AddRecord]); records b refused are carried over to
// a's Err.
func (a *Archive) Merge(b *Archive) {
	for _, r := range b.Records() {
		a.put(r)
	}
	a.errs = append(a.errs, b.errs...)
}

// Get returns the record of name (cleaned as by AddRecord).
func (a *Archive) Get(name string) (Record, bool) {
	n, err := cleanName(name)
	if err != nil {
		return Record{}, false
	}
	r, ok := a.recs[n]
	return r, ok
}

// Records returns the records sorted by name ("." first, parents before
// their children). Data slices are shared with the archive: treat them as
// read-only.
func (a *Archive) Records() []Record {
	out := make([]Record, 0, len(a.recs))
	for _, r := range a.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y Record) int { return compareNames(x.Name, y.Name) })
	return out
}

// compareNames orders names bytewise, with the root "." first. Bytewise
// order puts every directory before the entries below it, since a prefix
// sorts before its extensions.
func compareNames(x, y string) int {
	switch {
	case x == y:
		return 0
	case x == ".":
		return -1
	case y == ".":
		return 1
	}
	return strings.Compare(x, y)
}
