package facts

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// maxFileSize bounds every file the collectors read: a sysfs attribute is
// at most a page, /proc/cpuinfo on a 512-thread machine about 1.5 MB.
const maxFileSize = 8 << 20

// errTooBig is returned for a file longer than maxFileSize.
var errTooBig = errors.New("facts: file too large")

// tree is the read-only view of /proc and /sys the collectors use. Names
// are slash-separated and relative to the root ("sys/class/net").
type tree interface {
	// ReadFile reads a whole file, at most maxFileSize bytes.
	ReadFile(name string) ([]byte, error)
	// ReadHead reads at most the first n bytes of a file (PCI
	// configuration space: each byte read is a bus access).
	ReadHead(name string, n int) ([]byte, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	Readlink(name string) (string, error)
	Stat(name string) (fs.FileInfo, error)
	Close() error
}

// openTree opens the live system ("" or "/") or a captured tree.
func openTree(dir string) (tree, error) {
	if dir == "" || dir == "/" {
		return liveTree{}, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("facts: open root: %w", err)
	}
	return &rootTree{r: r}, nil
}

// readAll reads f to EOF, at most limit bytes (or fails with errTooBig
// when strict). Sysfs reports 4096 bytes for every attribute, so the size
// from stat means nothing.
func readAll(f *os.File, name string, limit int, strict bool) ([]byte, error) {
	defer f.Close()
	n := int64(limit)
	if strict {
		n++ // one byte more tells a file that is too long
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		if strict {
			return nil, fmt.Errorf("%w: %s", errTooBig, name)
		}
		b = b[:limit]
	}
	return b, nil
}

// liveTree reads the running system: the kernel resolves the paths, one
// system call per open instead of one per path element.
type liveTree struct{}

func (liveTree) path(name string) string { return "/" + name }

func (t liveTree) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(t.path(name))
	if err != nil {
		return nil, err
	}
	return readAll(f, name, maxFileSize, true)
}

func (t liveTree) ReadHead(name string, n int) ([]byte, error) {
	f, err := os.Open(t.path(name))
	if err != nil {
		return nil, err
	}
	return readAll(f, name, n, false)
}

func (t liveTree) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(t.path(name)) }

func (t liveTree) Readlink(name string) (string, error) { return os.Readlink(t.path(name)) }

func (t liveTree) Stat(name string) (fs.FileInfo, error) { return os.Stat(t.path(name)) }

func (liveTree) Close() error { return nil }

// rootTree reads below a directory through os.Root, so that symbolic links
// in a captured tree cannot lead outside it. Sysfs links are relative, so
// they resolve the same way in a capture as on the live system.
type rootTree struct{ r *os.Root }

func (t *rootTree) Close() error { return t.r.Close() }

func (t *rootTree) ReadFile(name string) ([]byte, error) {
	f, err := t.r.Open(name)
	if err != nil {
		return nil, err
	}
	return readAll(f, name, maxFileSize, true)
}

func (t *rootTree) ReadHead(name string, n int) ([]byte, error) {
	f, err := t.r.Open(name)
	if err != nil {
		return nil, err
	}
	return readAll(f, name, n, false)
}

func (t *rootTree) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := t.r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	// A captured tree keeps its empty directories with a KeepFile, since
	// git stores no empty directories; the live system has none.
	return slices.DeleteFunc(ents, func(e fs.DirEntry) bool { return e.Name() == KeepFile }), err
}

func (t *rootTree) Readlink(name string) (string, error) { return t.r.Readlink(name) }

func (t *rootTree) Stat(name string) (fs.FileInfo, error) { return t.r.Stat(name) }

// readString returns the trimmed content of a small text file, "" when it
// cannot be read: most sysfs attributes are optional, and some (speed of a
// link that is down) fail to read by design.
func readString(t tree, name string) string {
	b, err := t.ReadFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// linkBase returns the last element of the target of symbolic link name
// (the driver behind device/driver, for example), "" when it is no link.
func linkBase(t tree, name string) string {
	target, err := t.Readlink(name)
	if err != nil {
		return ""
	}
	return path.Base(target)
}

// resolveLink returns the tree path a relative symbolic link points to,
// "" when name is no link or its target is absolute.
func resolveLink(t tree, name string) string {
	target, err := t.Readlink(name)
	if err != nil || path.IsAbs(target) {
		return ""
	}
	return path.Join(path.Dir(name), target)
}

// isDir reports whether name exists and is a directory.
func isDir(t tree, name string) bool {
	fi, err := t.Stat(name)
	return err == nil && fi.IsDir()
}

// exists reports whether name exists.
func exists(t tree, name string) bool {
	_, err := t.Stat(name)
	return err == nil
}

// maxLinkHops bounds symbolic link resolution, as the kernel's MAXSYMLINKS.
const maxLinkHops = 40

var errLinkLoop = errors.New("facts: too many levels of symbolic links")

// realPath resolves every symbolic link in name, lexically and within the
// tree, and returns the path of the object it names. Sysfs is navigated
// through links (class/net/eth0 → devices/pci…/net/eth0), and relative
// targets like "../../../virtio2" only make sense from the real directory.
func realPath(t tree, name string) (string, error) {
	parts := strings.Split(path.Clean(name), "/")
	cur, hops := "", 0
	for len(parts) > 0 {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			if cur == "." || cur == "/" {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, p)
		target, err := t.Readlink(next)
		if err != nil {
			cur = next
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", fmt.Errorf("%w: %s", errLinkLoop, name)
		}
		if path.IsAbs(target) {
			return "", fmt.Errorf("facts: %s: absolute link %q", next, target)
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return cur, nil
}
