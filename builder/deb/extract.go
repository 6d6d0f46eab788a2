package deb

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// Extract reads a .deb from r and writes the entries of its data tarball
// for which keep returns true (all when keep is nil) under dir, which must
// exist. Writes are confined to dir (os.Root): names and hard links that
// would escape it are errors. Ownership is not restored; permission bits
// are. It returns the control stanza.
func Extract(r io.Reader, dir string, keep func(name string) bool) (Control, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("deb: extract: %w", err)
	}
	defer root.Close()
	return Read(r, func(name string, h *tar.Header, r io.Reader) error {
		if keep != nil && !keep(name) {
			return nil
		}
		if err := extractEntry(root, name, h, r); err != nil {
			return fmt.Errorf("deb: extract %s: %w", name, err)
		}
		return nil
	})
}

func extractEntry(root *os.Root, name string, h *tar.Header, r io.Reader) error {
	perm := fs.FileMode(h.Mode).Perm()
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		return root.Chmod(name, perm|0o700)
	case tar.TypeReg:
		_ = root.Remove(name)
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case tar.TypeSymlink:
		_ = root.Remove(name)
		return root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		target := CleanName(h.Linkname)
		if target == "" {
			return fmt.Errorf("%w: hard link to the root", ErrFormat)
		}
		_ = root.Remove(name)
		return root.Link(target, name)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return nil // device nodes are not needed from packages
	}
	return errors.New("unsupported tar entry type " + string(h.Typeflag))
}
