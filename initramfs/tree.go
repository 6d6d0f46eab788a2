package initramfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// AddFileFromDisk adds a regular file whose content is read from src when
// the archive is written (so src must still exist then), owned by root
// with permissions perm.
func (a *Archive) AddFileFromDisk(name, src string, perm fs.FileMode) error {
	clean, err := cleanName(name)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s: %s is a %s, not a regular file", ErrInvalidRecord, name, src, fi.Mode().Type())
	}
	a.AddRecord(Record{Name: clean, Type: TypeFile, Perm: perm, Source: abs})
	return nil
}

// AddTree adds the directory tree at srcDir under destPrefix ("" or "."
// for the archive's root; srcDir itself then adds nothing, so that a
// temporary directory's mode does not become the root's). Directories,
// regular files (read at Write time), symlinks, hardlinks (files of one
// inode: the first by name holds the content), device nodes, fifos and
// sockets keep their type, permissions, setuid/setgid/sticky bits and
// device numbers; owners become root, as a build on a workstation wants.
// Use AddRecord afterwards to set other owners.
func (a *Archive) AddTree(srcDir, destPrefix string) error {
	prefix, err := cleanName(destPrefix)
	if err != nil {
		return err
	}
	root, err := filepath.Abs(srcDir)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrInvalidRecord, srcDir)
	}
	type inode struct{ dev, ino uint64 }
	seen := make(map[inode]string)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		if name == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		r := Record{Name: name, Perm: fi.Mode() & permMask}
		m := fi.Mode()
		switch {
		case m.IsDir():
			r.Type = TypeDir
		case m.IsRegular():
			r.Type, r.Source = TypeFile, p
			if dev, ino, nlink, _, ok := statIDs(fi); ok && nlink > 1 {
				if first, ok := seen[inode{dev, ino}]; ok {
					r.Type, r.Source, r.Target = TypeHardlink, "", first
				} else {
					seen[inode{dev, ino}] = name
				}
			}
		case m&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			r.Type, r.Target = TypeSymlink, t
		case m&fs.ModeDevice != 0:
			_, _, _, rdev, ok := statIDs(fi)
			if !ok {
				return fmt.Errorf("%w: %s: cannot read the device number", ErrUnsupported, p)
			}
			r.Type = TypeBlockDevice
			if m&fs.ModeCharDevice != 0 {
				r.Type = TypeCharDevice
			}
			r.Major, r.Minor = devMajor(rdev), devMinor(rdev)
		case m&fs.ModeNamedPipe != 0:
			r.Type = TypeFifo
		case m&fs.ModeSocket != 0:
			r.Type = TypeSocket
		default:
			return fmt.Errorf("%w: %s: file type %s", ErrUnsupported, p, m.Type())
		}
		a.AddRecord(r)
		return nil
	})
}
