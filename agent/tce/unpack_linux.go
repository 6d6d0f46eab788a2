package tce

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/razor-mk/razor-mk/tcz/squashfs"
)

// ErrNoKernelSupport: the kernel cannot mount an extension (no loop
// devices, or no squashfs file system); the installer then unpacks it.
var ErrNoKernelSupport = errors.New("tce: the kernel cannot mount extensions")

// unpacked is what unpackTree found in an extension.
type unpacked struct {
	kept           int
	meta           bool // nothing but directories to depth 2
	libs, modules  bool
	entries, files int
}

// unpackTree installs the squashfs image into root by reading it in Go,
// as Tiny Core's copy2fs mode does with "yes n | cp -ai": directories
// are created (an existing one, or a symlink to one, is kept), every
// other entry is written with the mode and, as root, the owner it is
// packed with; existing entries are kept. Nothing is followed out of
// root: a path whose parent is a symlink is resolved inside root.
func unpackTree(image, root string) (unpacked, error) {
	var u unpacked
	f, err := os.Open(image)
	if err != nil {
		return u, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return u, err
	}
	sq, err := squashfs.Open(f, fi.Size())
	if err != nil {
		return u, err
	}
	// A meta extension (only dependencies: nothing but empty top-level
	// directories, as isMeta tests a mount) installs nothing.
	u.meta = true
	if err := sq.Walk(func(e *squashfs.Entry) error {
		if e.Path != "." && (!e.Mode.IsDir() || strings.Contains(e.Path, "/")) {
			u.meta = false
			return fs.SkipAll
		}
		return nil
	}); err != nil {
		return u, err
	}
	if u.meta {
		return u, nil
	}
	asRoot := os.Geteuid() == 0
	err = sq.Walk(func(e *squashfs.Entry) error {
		if e.Path == "." {
			return nil
		}
		u.entries++
		switch {
		case strings.HasPrefix(e.Path, "usr/local/lib/modules/"):
			u.modules = true
		case strings.HasPrefix(e.Path, "usr/local/lib/"), strings.HasPrefix(e.Path, "usr/lib/"), strings.HasPrefix(e.Path, "lib/"):
			u.libs = true
		}
		to, err := inRoot(root, e.Path)
		if err != nil {
			return err
		}
		perm := e.Mode.Perm()
		special := uint32(0)
		if e.Mode&fs.ModeSetuid != 0 {
			special |= unix.S_ISUID
		}
		if e.Mode&fs.ModeSetgid != 0 {
			special |= unix.S_ISGID
		}
		if e.Mode&fs.ModeSticky != 0 {
			special |= unix.S_ISVTX
		}
		if e.Mode.IsDir() {
			st, err := os.Stat(to)
			switch {
			case err == nil && st.IsDir():
				return nil
			case err == nil:
				u.kept++
				return fs.SkipDir
			case !errors.Is(err, fs.ErrNotExist):
				return err
			}
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
			return finish(to, perm, special, e, asRoot)
		}
		if _, err := os.Lstat(to); err == nil {
			u.kept++
			return nil
		}
		switch {
		case e.Mode.IsRegular():
			out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			if _, err := sq.WriteTo(out, e); err != nil {
				out.Close()
				os.Remove(to)
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
			u.files++
			return finish(to, perm, special, e, asRoot)
		case e.Mode&fs.ModeSymlink != 0:
			if err := os.Symlink(e.Target, to); err != nil {
				return err
			}
			if asRoot {
				os.Lchown(to, int(e.UID), int(e.GID))
			}
			return nil
		case e.Mode&fs.ModeDevice != 0, e.Mode&fs.ModeNamedPipe != 0, e.Mode&fs.ModeSocket != 0:
			mode := uint32(unix.S_IFIFO)
			switch {
			case e.Mode&fs.ModeCharDevice != 0:
				mode = unix.S_IFCHR
			case e.Mode&fs.ModeDevice != 0:
				mode = unix.S_IFBLK
			case e.Mode&fs.ModeSocket != 0:
				mode = unix.S_IFSOCK
			}
			if err := unix.Mknod(to, mode|uint32(perm), int(unix.Mkdev(e.Major, e.Minor))); err != nil {
				return fmt.Errorf("%s: %w", to, err)
			}
			return finish(to, perm, special, e, asRoot)
		}
		return fmt.Errorf("%s: unsupported entry type %v", e.Path, e.Mode.Type())
	})
	return u, err
}

// finish sets owner (as root) and mode; chown before chmod, which would
// otherwise clear setuid.
func finish(p string, perm fs.FileMode, special uint32, e *squashfs.Entry, asRoot bool) error {
	if asRoot {
		if err := os.Lchown(p, int(e.UID), int(e.GID)); err != nil {
			return err
		}
	}
	return unix.Chmod(p, uint32(perm)|special)
}

// inRoot returns where rel lands under root, following symlinked parent
// directories inside root (lib → usr/lib), never out of it.
func inRoot(root, rel string) (string, error) {
	parts := strings.Split(rel, "/")
	cur := ""
	for i := 0; i < len(parts)-1; i++ {
		cur = path.Join(cur, parts[i])
		for hops := 0; ; hops++ {
			t, err := os.Readlink(filepath.Join(root, cur))
			if err != nil {
				break
			}
			if hops > 16 {
				return "", fmt.Errorf("%s: too many symlinks", rel)
			}
			if !strings.HasPrefix(t, "/") {
				t = path.Join(path.Dir(cur), t)
			}
			cur = strings.TrimPrefix(path.Clean("/"+t), "/")
		}
	}
	return filepath.Join(root, cur, parts[len(parts)-1]), nil
}
