package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"syscall"
)

// ExtractOptions control [Archive.ExtractWith].
type ExtractOptions struct {
	// Logger receives a warning for each device node that could not be
	// created for lack of privilege; nil discards.
	Logger *slog.Logger
}

// Extract writes the archive's files below dir, creating dir if needed,
// as the kernel would unpack them: existing files are replaced, missing
// parents created. Every operation goes through an os.Root opened on dir,
// so no entry (a symlink pointing outside, a name through such a symlink)
// writes outside it. Owners are applied when running as root; otherwise
// device nodes that cannot be created are skipped (see ExtractWith).
func (a *Archive) Extract(dir string) error {
	return a.ExtractWith(dir, ExtractOptions{})
}

// ExtractWith is [Archive.Extract] with options.
func (a *Archive) ExtractWith(dir string, opts ExtractOptions) error {
	if err := a.Err(); err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	entries, err := a.plan()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("initramfs: extract: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("initramfs: extract: %w", err)
	}
	defer root.Close()
	x := &extractor{root: root, asRoot: os.Geteuid() == 0, log: log}

	var dirs, links []*planned
	for i := range entries {
		e := &entries[i]
		var err error
		switch e.rec.Type {
		case TypeDir:
			dirs = append(dirs, e)
			err = x.dir(e.rec.Name)
		case TypeHardlink:
			links = append(links, e)
			continue
		case TypeFile:
			err = x.file(e)
		case TypeSymlink:
			err = x.symlink(e)
		default:
			err = x.node(e)
		}
		if err != nil {
			return fmt.Errorf("initramfs: extract %s: %w", e.rec.Name, err)
		}
	}
	for _, e := range links {
		if err := x.link(e); err != nil {
			return fmt.Errorf("initramfs: extract %s: %w", e.rec.Name, err)
		}
	}
	// Directory modes last and deepest first, so that a read-only
	// directory does not stop its own entries from being written.
	for _, e := range slices.Backward(dirs) {
		if err := x.attrs(e.rec.Name, e.uid, e.gid, e.rec.Perm, false); err != nil {
			return fmt.Errorf("initramfs: extract %s: %w", e.rec.Name, err)
		}
	}
	return nil
}

type extractor struct {
	root   *os.Root
	asRoot bool
	log    *slog.Logger
}

// clear removes whatever non-directory is at name, as the kernel's
// unpacker does before creating an entry. A directory is left to fail the
// creation that follows, unless it is empty.
func (x *extractor) clear(name string) error {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := x.root.Remove(name); err != nil && fi.IsDir() {
		return fmt.Errorf("a non-empty directory is in the way: %w", err)
	} else if err != nil {
		return err
	}
	return nil
}

func (x *extractor) dir(name string) error {
	if name == "." {
		return nil
	}
	fi, err := x.root.Lstat(name)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err := x.clear(name); err != nil {
		return err
	}
	return x.root.Mkdir(name, 0o700)
}

func (x *extractor) file(e *planned) error {
	if err := x.clear(e.rec.Name); err != nil {
		return err
	}
	f, err := x.root.OpenFile(e.rec.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	src, err := e.rec.Open()
	if err != nil {
		f.Close()
		return err
	}
	_, err = io.Copy(f, src)
	src.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return x.attrs(e.rec.Name, e.uid, e.gid, e.rec.Perm, false)
}

func (x *extractor) symlink(e *planned) error {
	if err := x.clear(e.rec.Name); err != nil {
		return err
	}
	if err := x.root.Symlink(e.rec.Target, e.rec.Name); err != nil {
		return err
	}
	return x.attrs(e.rec.Name, e.uid, e.gid, 0, true)
}

func (x *extractor) link(e *planned) error {
	if err := x.clear(e.rec.Name); err != nil {
		return err
	}
	return x.root.Link(e.rec.Target, e.rec.Name)
}

// node creates a device node, fifo or socket with mknodat in the parent
// directory opened through the root, so the node cannot land outside it.
func (x *extractor) node(e *planned) error {
	if err := x.clear(e.rec.Name); err != nil {
		return err
	}
	dir, base := path.Split(e.rec.Name)
	if dir == "" {
		dir = "."
	}
	d, err := x.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	err = mknodat(d.Fd(), base, e.mode&^(modeSetuid|modeSetgid|modeSticky|0o777), e.rec.Major, e.rec.Minor)
	if errors.Is(err, syscall.EPERM) && !x.asRoot {
		x.log.Warn("skipped device node: creating it needs root", "name", e.rec.Name, "type", e.rec.Type.String(), "major", e.rec.Major, "minor", e.rec.Minor)
		return nil
	}
	if err != nil {
		return err
	}
	return x.attrs(e.rec.Name, e.uid, e.gid, e.rec.Perm, false)
}

// attrs sets owner (as root only) and then permissions, since chown
// clears setuid and setgid bits.
func (x *extractor) attrs(name string, uid, gid uint32, perm fs.FileMode, symlink bool) error {
	if x.asRoot {
		if err := x.root.Lchown(name, int(uid), int(gid)); err != nil {
			return err
		}
	}
	if symlink {
		return nil
	}
	return x.root.Chmod(name, perm)
}
