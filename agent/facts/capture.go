package facts

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Capture gathers facts like Gather and copies every file, directory and
// symbolic link the collectors read into dir, so that Gather with
// Options{Root: dir} later reports the same facts. Captured trees are how
// the facts are tested and how an operator can send us the view of a
// machine that reports something odd. dir must not exist or be empty.
func Capture(ctx context.Context, opts Options, dir string) (Result, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return Result{}, fmt.Errorf("facts: capture: %s is not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("facts: capture: %w", err)
	}
	src, err := openTree(opts.Root)
	if err != nil {
		return Result{}, err
	}
	defer src.Close()
	rec := &recorder{src: src, dest: dir}
	res := gather(ctx, rec, opts)
	if rec.err != nil {
		return res, fmt.Errorf("facts: capture: %w", rec.err)
	}
	if err := keepEmptyDirs(dir); err != nil {
		return res, fmt.Errorf("facts: capture: %w", err)
	}
	return res, nil
}

// KeepFile marks a captured directory that the collectors found empty
// (memory blocks, NUMA nodes): version control keeps no empty
// directories, and their names are facts. Reading a captured tree
// ignores it.
const KeepFile = ".keep"

// keepEmptyDirs puts a KeepFile into every empty directory under dir.
func keepEmptyDirs(dir string) error {
	var empty []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		ents, err := os.ReadDir(p)
		if err == nil && len(ents) == 0 {
			empty = append(empty, p)
		}
		return err
	})
	for _, p := range empty {
		if err == nil {
			err = os.WriteFile(filepath.Join(p, KeepFile), nil, 0o644)
		}
	}
	return err
}

// recorder is a tree that mirrors what it reads into dest: file contents
// as regular files, directories as directories and symbolic links as the
// same links. Regular files a directory listing mentions but nobody reads
// are left out, which keeps captures small.
type recorder struct {
	src  tree
	dest string
	err  error // first write error
}

func (r *recorder) fail(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

func (r *recorder) out(name string) string { return filepath.Join(r.dest, filepath.FromSlash(name)) }

func (r *recorder) mkdir(name string) {
	r.fail(os.MkdirAll(r.out(name), 0o755))
}

func (r *recorder) writeFile(name string, b []byte) {
	r.mkdir(path.Dir(name))
	r.fail(os.WriteFile(r.out(name), b, 0o644))
}

func (r *recorder) symlink(name, target string) {
	r.mkdir(path.Dir(name))
	if _, err := os.Lstat(r.out(name)); err == nil {
		return
	}
	r.fail(os.Symlink(target, r.out(name)))
}

// real resolves name like realPath, recording every link on the way.
func (r *recorder) real(name string) (string, error) { return realPath(r, name) }

func (r *recorder) ReadFile(name string) ([]byte, error) {
	b, err := r.src.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if p, err := r.real(name); err == nil {
		r.writeFile(p, b)
	}
	return b, nil
}

func (r *recorder) ReadHead(name string, n int) ([]byte, error) {
	b, err := r.src.ReadHead(name, n)
	if err != nil {
		return nil, err
	}
	if p, err := r.real(name); err == nil {
		r.writeFile(p, b)
	}
	return b, nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := r.src.ReadDir(name)
	if err != nil {
		return nil, err
	}
	p, err := r.real(name)
	if err != nil {
		return ents, nil
	}
	r.mkdir(p)
	for _, e := range ents {
		child := path.Join(p, e.Name())
		switch {
		case e.IsDir():
			r.mkdir(child)
		case e.Type()&fs.ModeSymlink != 0:
			// Keep the link and, when it leads to a directory, that
			// directory, so the listing replays with the same types.
			if target, err := r.real(child); err == nil {
				if fi, err := r.src.Stat(target); err == nil && fi.IsDir() {
					r.mkdir(target)
				}
			}
		}
	}
	return ents, nil
}

func (r *recorder) Readlink(name string) (string, error) {
	target, err := r.src.Readlink(name)
	if err != nil {
		return "", err
	}
	dir, err := r.real(path.Dir(name))
	if err == nil {
		r.symlink(path.Join(dir, path.Base(name)), target)
	}
	return target, nil
}

func (r *recorder) Stat(name string) (fs.FileInfo, error) {
	fi, err := r.src.Stat(name)
	if err != nil {
		return nil, err
	}
	p, err := r.real(name)
	if err != nil {
		return fi, nil
	}
	if fi.IsDir() {
		r.mkdir(p)
		return fi, nil
	}
	// Only existence matters to a caller of Stat; copy the content when it
	// reads, so the capture does not lie about it.
	b, _ := r.src.ReadFile(name)
	r.writeFile(p, b)
	return fi, nil
}
