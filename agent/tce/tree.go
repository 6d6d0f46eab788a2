package tce

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// linkTree links the tree at src into dst as "cp -ais src/* dst/" does:
// directories become real directories (with the source's mode and, as
// root, owner), everything else a symlink to its absolute path under
// src. Existing entries are kept; it returns how many were.
func linkTree(src, dst string) (int, error) {
	return walkInto(src, dst, func(from, to string, d fs.DirEntry) error {
		return os.Symlink(from, to)
	})
}

// copyTree copies the tree at src into dst as "cp -ai" does, keeping
// existing entries; it returns how many were kept.
func copyTree(src, dst string) (int, error) {
	return walkInto(src, dst, copyEntry)
}

// walkInto walks src and calls place for every non-directory whose
// destination does not exist yet, after creating directories.
func walkInto(src, dst string, place func(from, to string, d fs.DirEntry) error) (int, error) {
	kept := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			fi, err := os.Stat(to) // follows a symlinked directory, as cp does
			switch {
			case err == nil && fi.IsDir():
				return nil
			case err == nil:
				kept++ // a file where the extension has a directory
				return filepath.SkipDir
			case !errors.Is(err, fs.ErrNotExist):
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := os.Mkdir(to, info.Mode().Perm()|0o700); err != nil {
				return err
			}
			os.Chmod(to, info.Mode().Perm())
			chownLike(to, info, false)
			return nil
		}
		if _, err := os.Lstat(to); err == nil {
			kept++
			return nil
		}
		if err := place(p, to, d); err != nil {
			return fmt.Errorf("%s: %w", to, err)
		}
		return nil
	})
	return kept, err
}

func copyEntry(from, to string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(from)
		if err != nil {
			return err
		}
		if err := os.Symlink(t, to); err != nil {
			return err
		}
		chownLike(to, info, true)
		return nil
	case info.Mode().IsRegular():
		in, err := os.Open(from)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		chownLike(to, info, false)
		return os.Chmod(to, info.Mode().Perm()|info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	default:
		return copySpecial(from, to, info)
	}
}
