package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/deb"
)

// unpackVersion names the layout of unpacked trees; bump it when what
// Unpack keeps changes, so that old trees are not reused.
const unpackVersion = "v1"

// completeMarker is written last into an unpacked tree.
const completeMarker = ".razor-mk-complete"

// controlFile keeps the package's control stanza beside its tree.
const controlFile = ".razor-mk-control"

// Cache is the content-addressed store of .deb files (by the sha256 of
// the file) and of their unpacked trees, under Dir:
//
//	debs/sha256/<hex>.deb
//	debian/unpacked/v1/<hex>/...
//	tmp/
type Cache struct {
	Dir string
}

// DebPath is where the .deb with checksum sum is kept.
func (c Cache) DebPath(sum string) string {
	return filepath.Join(c.Dir, "debs", "sha256", sum+".deb")
}

func (c Cache) tmpDir(prefix string) (string, error) {
	d := filepath.Join(c.Dir, "tmp")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("debian: cache: %w", err)
	}
	t, err := os.MkdirTemp(d, prefix)
	if err != nil {
		return "", fmt.Errorf("debian: cache: %w", err)
	}
	// apt-get drops privileges to _apt for downloads when it can write there.
	_ = os.Chmod(t, 0o755)
	return t, nil
}

// HashFile returns the hex sha256 and size of a file.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ErrChecksum: a download does not have the checksum apt announced.
var ErrChecksum = errors.New("debian: checksum mismatch")

// Fetch returns the cached .deb of p, downloading it with apt-get first
// when the cache does not hold a file with p's checksum.
func (c Cache) Fetch(ctx context.Context, apt *Apt, p Package, prog base.Progress) (string, error) {
	dst := c.DebPath(p.SHA256)
	if sum, _, err := HashFile(dst); err == nil {
		if sum == p.SHA256 {
			prog.Bytes(p.Size, p.Size)
			return dst, nil
		}
		_ = os.Remove(dst) // a damaged entry: fetch again
	}
	tmp, err := c.tmpDir("download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	stop := pollSize(tmp, p.Size, prog)
	err = apt.Download(ctx, tmp, p)
	stop()
	if err != nil {
		return "", err
	}
	got, err := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if err != nil || len(got) != 1 {
		return "", fmt.Errorf("debian: apt-get download %s left %d .deb files, want 1", p.Ref(), len(got))
	}
	sum, size, err := HashFile(got[0])
	if err != nil {
		return "", fmt.Errorf("debian: %w", err)
	}
	if sum != p.SHA256 {
		return "", fmt.Errorf("%w: %s: downloaded sha256 %s, apt says %s", ErrChecksum, p.Ref(), sum, p.SHA256)
	}
	prog.Bytes(size, size)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("debian: cache: %w", err)
	}
	if err := os.Rename(got[0], dst); err != nil {
		return "", fmt.Errorf("debian: cache: %w", err)
	}
	return dst, nil
}

// pollSize reports the bytes written under dir until stop is called.
func pollSize(dir string, total int64, prog base.Progress) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var n int64
				_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						if fi, err := d.Info(); err == nil {
							n += fi.Size()
						}
					}
					return nil
				})
				prog.Bytes(n, total)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// Unpack returns the directory holding the entries of the .deb at path
// (with checksum sum) that keep selects, and the package's control
// stanza. The tree is made once per checksum and reused; a half-made tree
// (an interrupted build) is never used.
func (c Cache) Unpack(path, sum string, keep func(string) bool, prog base.Progress) (string, deb.Control, error) {
	root := filepath.Join(c.Dir, "debian", "unpacked", unpackVersion)
	dir := filepath.Join(root, sum)
	if ctl, err := readUnpacked(dir); err == nil {
		return dir, ctl, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, fmt.Errorf("debian: cache: %w", err)
	}
	tmp, err := os.MkdirTemp(root, sum+".tmp-")
	if err != nil {
		return "", nil, fmt.Errorf("debian: cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("debian: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("debian: %w", err)
	}
	ctl, err := deb.Extract(&countingReader{r: f, total: fi.Size(), prog: prog}, tmp, keep)
	if err != nil {
		return "", nil, fmt.Errorf("debian: unpack %s: %w", filepath.Base(path), err)
	}
	var stanza strings.Builder
	for _, k := range []string{"Package", "Version", "Architecture"} {
		fmt.Fprintf(&stanza, "%s: %s\n", k, ctl[k])
	}
	if err := os.WriteFile(filepath.Join(tmp, controlFile), []byte(stanza.String()), 0o644); err != nil {
		return "", nil, fmt.Errorf("debian: cache: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), nil, 0o644); err != nil {
		return "", nil, fmt.Errorf("debian: cache: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another build made it meanwhile, or an old half-made tree is in
		// the way.
		if ctl2, err2 := readUnpacked(dir); err2 == nil {
			return dir, ctl2, nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", nil, fmt.Errorf("debian: cache: %w", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			return "", nil, fmt.Errorf("debian: cache: %w", err)
		}
	}
	return dir, ctl, nil
}

func readUnpacked(dir string) (deb.Control, error) {
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, controlFile))
	if err != nil {
		return nil, err
	}
	return deb.ParseControl(data)
}

type countingReader struct {
	r     io.Reader
	n     int64
	total int64
	prog  base.Progress
	last  time.Time
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) > 100*time.Millisecond || err == io.EOF {
		c.last = now
		c.prog.Bytes(c.n, c.total)
	}
	return n, err
}
