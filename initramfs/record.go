package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Type is the kind of file a record describes.
type Type uint8

// The record types. A hardlink is a regular file that shares its inode
// (content, permissions and owner) with the regular file named by its Target.
const (
	TypeFile Type = iota + 1
	TypeDir
	TypeSymlink
	TypeHardlink
	TypeCharDevice
	TypeBlockDevice
	TypeFifo
	TypeSocket
)

var typeNames = map[Type]string{
	TypeFile:        "file",
	TypeDir:         "dir",
	TypeSymlink:     "symlink",
	TypeHardlink:    "hardlink",
	TypeCharDevice:  "char device",
	TypeBlockDevice: "block device",
	TypeFifo:        "fifo",
	TypeSocket:      "socket",
}

// String returns the type's name ("file", "dir", "symlink", …).
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// DeviceKind selects a character or a block device for [Archive.AddDevice].
type DeviceKind uint8

// The device kinds.
const (
	CharDevice DeviceKind = iota + 1
	BlockDevice
)

// permMask is the part of an fs.FileMode a record keeps: permission bits
// plus setuid, setgid and sticky.
const permMask = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Record is one entry of an archive.
//
// Name is a clean relative path ("bin/sh"; "." is the archive's root
// directory). The zero UID and GID mean root. A regular file's content is
// Data or, when Data is nil and Source is set, the content of the file
// Source names, read when the archive is written. Target is a symlink's
// target, or the name of the regular file a hardlink shares its inode with
// (the hardlink's own Perm, UID, GID and content are ignored: the target's
// are written). Major and Minor are a device node's device number.
type Record struct {
	Name   string
	Type   Type
	Perm   fs.FileMode
	UID    uint32
	GID    uint32
	Target string
	Major  uint32
	Minor  uint32
	Data   []byte
	Source string
}

// Mode returns the record's type and permissions as an fs.FileMode, the
// way os.Lstat would report them for the extracted file.
func (r Record) Mode() fs.FileMode {
	m := r.Perm & permMask
	switch r.Type {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeCharDevice:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlockDevice:
		m |= fs.ModeDevice
	case TypeFifo:
		m |= fs.ModeNamedPipe
	case TypeSocket:
		m |= fs.ModeSocket
	}
	return m
}

// Size returns the length of a regular file's content (for a Source file,
// its current size on disk, or 0 when it cannot be read) and of a
// symlink's target; 0 for anything else.
func (r Record) Size() int64 {
	switch r.Type {
	case TypeFile:
		if r.Data != nil || r.Source == "" {
			return int64(len(r.Data))
		}
		fi, err := os.Stat(r.Source)
		if err != nil {
			return 0
		}
		return fi.Size()
	case TypeSymlink:
		return int64(len(r.Target))
	}
	return 0
}

// Open returns a reader of a regular file's content. Other records read
// as empty.
func (r Record) Open() (io.ReadCloser, error) {
	if r.Type == TypeFile && r.Data == nil && r.Source != "" {
		f, err := os.Open(r.Source)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %s: %w", r.Name, err)
		}
		return f, nil
	}
	return io.NopCloser(bytes.NewReader(r.Data)), nil
}

// Content returns a regular file's content (reading Source if needed).
func (r Record) Content() ([]byte, error) {
	if r.Type != TypeFile {
		return nil, nil
	}
	if r.Data != nil || r.Source == "" {
		return r.Data, nil
	}
	b, err := os.ReadFile(r.Source)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %s: %w", r.Name, err)
	}
	return b, nil
}

// ModeString renders the type and permissions as `ls -l` does
// ("drwxr-xr-x", "crw--w----", "-rwsr-xr-x", "lrwxrwxrwx").
func (r Record) ModeString() string {
	var b strings.Builder
	switch r.Type {
	case TypeDir:
		b.WriteByte('d')
	case TypeSymlink:
		b.WriteByte('l')
	case TypeCharDevice:
		b.WriteByte('c')
	case TypeBlockDevice:
		b.WriteByte('b')
	case TypeFifo:
		b.WriteByte('p')
	case TypeSocket:
		b.WriteByte('s')
	default:
		b.WriteByte('-')
	}
	const rwx = "rwxrwxrwx"
	p := r.Perm
	for i := 0; i < 9; i++ {
		c := byte('-')
		if p&(1<<uint(8-i)) != 0 {
			c = rwx[i]
		}
		switch {
		case i == 2 && p&fs.ModeSetuid != 0, i == 5 && p&fs.ModeSetgid != 0:
			if c == 'x' {
				c = 's'
			} else {
				c = 'S'
			}
		case i == 8 && p&fs.ModeSticky != 0:
			if c == 'x' {
				c = 't'
			} else {
				c = 'T'
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unixMode converts a record's type and permissions to st_mode bits.
func (r Record) unixMode() uint32 {
	m := uint32(r.Perm.Perm())
	if r.Perm&fs.ModeSetuid != 0 {
		m |= modeSetuid
	}
	if r.Perm&fs.ModeSetgid != 0 {
		m |= modeSetgid
	}
	if r.Perm&fs.ModeSticky != 0 {
		m |= modeSticky
	}
	switch r.Type {
	case TypeFile, TypeHardlink:
		m |= modeReg
	case TypeDir:
		m |= modeDir
	case TypeSymlink:
		m |= modeSymlink
	case TypeCharDevice:
		m |= modeChar
	case TypeBlockDevice:
		m |= modeBlock
	case TypeFifo:
		m |= modeFifo
	case TypeSocket:
		m |= modeSocket
	}
	return m
}

// permFromUnix converts st_mode permission bits to an fs.FileMode.
func permFromUnix(m uint32) fs.FileMode {
	p := fs.FileMode(m & 0o777)
	if m&modeSetuid != 0 {
		p |= fs.ModeSetuid
	}
	if m&modeSetgid != 0 {
		p |= fs.ModeSetgid
	}
	if m&modeSticky != 0 {
		p |= fs.ModeSticky
	}
	return p
}

// typeFromUnix returns the record type of st_mode's file type bits.
func typeFromUnix(m uint32) (Type, bool) {
	switch m & modeTypeMask {
	case modeReg:
		return TypeFile, true
	case modeDir:
		return TypeDir, true
	case modeSymlink:
		return TypeSymlink, true
	case modeChar:
		return TypeCharDevice, true
	case modeBlock:
		return TypeBlockDevice, true
	case modeFifo:
		return TypeFifo, true
	case modeSocket:
		return TypeSocket, true
	}
	return 0, false
}

// st_mode bits (Linux, and the newc format, which stores st_mode as is).
const (
	modeTypeMask = 0o170000
	modeSocket   = 0o140000
	modeSymlink  = 0o120000
	modeReg      = 0o100000
	modeBlock    = 0o060000
	modeDir      = 0o040000
	modeChar     = 0o020000
	modeFifo     = 0o010000
	modeSetuid   = 0o4000
	modeSetgid   = 0o2000
	modeSticky   = 0o1000
)
