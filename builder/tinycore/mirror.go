package tinycore

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/builder/base"
)

// defaultMirror is Tiny Core's own mirror.
const defaultMirror = "http://repo.tinycorelinux.net/"

// Limits of downloads.
const (
	// maxSidecar bounds the small files (.md5.txt, .dep, .info, .list).
	maxSidecar = maxListFile
	// maxDownload bounds an extension or release file.
	maxDownload = 2 << 30
)

// mirror reads a Tiny Core mirror: an http(s) URL or a local directory
// in the mirror's layout. Large files are checked against their md5 and
// kept in a content-addressed cache. The zero value is not usable: set
// Location.
type mirror struct {
	// Location is the mirror root: "http://repo.tinycorelinux.net/" or a
	// directory holding "<major>.x/<build>/…".
	Location string
	// CacheDir keeps downloads (under tinycore/); "" caches nothing.
	CacheDir string
	// Client does the HTTP; nil means a client with a 10-minute timeout.
	Client *http.Client
	// Logger receives a line per download; nil discards.
	Logger *slog.Logger
	// Progress reports downloads; nil reports nothing.
	Progress base.Progress
}

// isURL reports whether a mirror location is a URL rather than a directory.
func isURL(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// Describe returns the location of rel on the mirror, for messages and
// the manifest.
func (m *mirror) Describe(rel string) string {
	if isURL(m.Location) {
		return strings.TrimSuffix(m.Location, "/") + "/" + escapePath(rel)
	}
	return filepath.Join(m.Location, filepath.FromSlash(rel))
}

func escapePath(rel string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (m *mirror) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func (m *mirror) progress() base.Progress {
	if m.Progress == nil {
		return base.Discard
	}
	return m.Progress
}

func (m *mirror) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	return &http.Client{Timeout: 10 * time.Minute}
}

// checkRel refuses paths that would leave the mirror.
func checkRel(rel string) error {
	if rel == "" || !fs.ValidPath(rel) || strings.Contains(rel, "\\") {
		return fmt.Errorf("%w: bad mirror path %q", ErrNotFound, rel)
	}
	return nil
}

// open returns a reader of rel and its size (-1 when unknown).
func (m *mirror) open(ctx context.Context, rel string) (io.ReadCloser, int64, error) {
	if err := checkRel(rel); err != nil {
		return nil, 0, err
	}
	if !isURL(m.Location) {
		root, err := os.OpenRoot(m.Location)
		if err != nil {
			return nil, 0, fmt.Errorf("tinycore: mirror directory: %w", err)
		}
		defer root.Close()
		f, err := root.Open(filepath.FromSlash(rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, m.Describe(rel))
		}
		if err != nil {
			return nil, 0, fmt.Errorf("tinycore: %w", err)
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return nil, 0, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, m.Describe(rel))
		}
		return f, fi.Size(), nil
	}
	u := m.Describe(rel)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("tinycore: %s: %w", u, err)
		}
		resp, err := m.client().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			lastErr = fmt.Errorf("tinycore: %w", err)
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return resp.Body, resp.ContentLength, nil
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
			resp.Body.Close()
			return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, u)
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			resp.Body.Close()
			lastErr = fmt.Errorf("tinycore: %s: %s", u, resp.Status)
			continue
		default:
			resp.Body.Close()
			return nil, 0, fmt.Errorf("tinycore: %s: %s", u, resp.Status)
		}
	}
	return nil, 0, lastErr
}

// Get returns a small file of the mirror (a sidecar), at most max bytes.
// A missing file is an error wrapping ErrNotFound.
func (m *mirror) Get(ctx context.Context, rel string, max int64) ([]byte, error) {
	r, _, err := m.open(ctx, rel)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("tinycore: %s: %w", m.Describe(rel), err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadSidecar, m.Describe(rel), max)
	}
	return data, nil
}

// blob is a file obtained from the mirror and verified.
type blob struct {
	// Path is the file on disk (in the cache, in the mirror directory, or
	// in a temporary directory when there is no cache).
	Path   string
	Size   int64
	MD5    string
	SHA256 string
	// URL is where it came from (a URL or a path in the mirror directory).
	URL string
	// Cached reports that no download was needed.
	Cached bool
}

// Fetch obtains rel, which must have the md5 digest wantMD5: from the
// cache when it holds a file with that digest, else from the mirror
// (stored in the cache by its sha256). A file with another digest is an
// error wrapping ErrChecksum and is not kept.
func (m *mirror) Fetch(ctx context.Context, rel, wantMD5 string) (*blob, error) {
	wantMD5 = strings.ToLower(wantMD5)
	if b, ok := m.cached(wantMD5); ok {
		b.URL = m.Describe(rel)
		m.log().Debug("from cache", "file", rel, "sha256", b.SHA256)
		return b, nil
	}
	if !isURL(m.Location) {
		// A local mirror is its own cache: verify in place.
		if err := checkRel(rel); err != nil {
			return nil, err
		}
		p := filepath.Join(m.Location, filepath.FromSlash(rel))
		r, size, err := m.open(ctx, rel)
		if err != nil {
			return nil, err
		}
		md, sh, n, err := hashReader(r, nil)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("tinycore: %s: %w", p, err)
		}
		if md != wantMD5 {
			return nil, fmt.Errorf("%w: %s has md5 %s, its .md5.txt says %s", ErrChecksum, p, md, wantMD5)
		}
		_ = size
		return &blob{Path: p, Size: n, MD5: md, SHA256: sh, URL: p}, nil
	}
	m.progress().Step("download " + path.Base(rel))
	r, size, err := m.open(ctx, rel)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dir := m.CacheDir
	if dir == "" {
		dir = os.TempDir()
	} else {
		dir = filepath.Join(dir, "tinycore", "tmp")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tinycore: cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "download-*")
	if err != nil {
		return nil, fmt.Errorf("tinycore: cache: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	start := time.Now()
	pw := &progressWriter{w: tmp, p: m.progress(), total: size}
	md, sh, n, err := hashReader(io.LimitReader(r, maxDownload+1), pw)
	if err != nil {
		return nil, fmt.Errorf("tinycore: %s: %w", m.Describe(rel), err)
	}
	if n > maxDownload {
		return nil, fmt.Errorf("tinycore: %s: larger than %d bytes", m.Describe(rel), int64(maxDownload))
	}
	if size >= 0 && n != size {
		return nil, fmt.Errorf("tinycore: %s: got %d bytes of %d", m.Describe(rel), n, size)
	}
	if md != wantMD5 {
		return nil, fmt.Errorf("%w: %s has md5 %s, its .md5.txt says %s", ErrChecksum, m.Describe(rel), md, wantMD5)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("tinycore: cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("tinycore: cache: %w", err)
	}
	m.log().Info("downloaded", "url", m.Describe(rel), "bytes", n, "took", time.Since(start).Round(time.Millisecond))
	b := &blob{Path: tmp.Name(), Size: n, MD5: md, SHA256: sh, URL: m.Describe(rel)}
	if m.CacheDir == "" {
		keep = true
		return b, nil
	}
	dst := m.blobPath(sh)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("tinycore: cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, fmt.Errorf("tinycore: cache: %w", err)
	}
	keep = true
	b.Path = dst
	if err := m.index(md, sh); err != nil {
		return nil, err
	}
	return b, nil
}

// Cache layout: tinycore/sha256/<hex> holds content; tinycore/md5/<hex>
// holds the sha256 of the content with that md5.
func (m *mirror) blobPath(sha string) string {
	return filepath.Join(m.CacheDir, "tinycore", "sha256", sha)
}

func (m *mirror) indexPath(md string) string {
	return filepath.Join(m.CacheDir, "tinycore", "md5", md)
}

func (m *mirror) index(md, sh string) error {
	p := m.indexPath(md)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("tinycore: cache: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(sh+"\n"), 0o644); err != nil {
		return fmt.Errorf("tinycore: cache: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("tinycore: cache: %w", err)
	}
	return nil
}

// cached returns the cached blob with md5 md, re-verified (a damaged
// cache entry is dropped and fetched again).
func (m *mirror) cached(md string) (*blob, bool) {
	if m.CacheDir == "" || len(md) != 32 {
		return nil, false
	}
	data, err := os.ReadFile(m.indexPath(md))
	if err != nil {
		return nil, false
	}
	sh := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(sh); err != nil || len(b) != sha256.Size {
		os.Remove(m.indexPath(md))
		return nil, false
	}
	p := m.blobPath(sh)
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	gotMD, gotSH, n, err := hashReader(f, nil)
	f.Close()
	if err != nil || gotMD != md || gotSH != sh {
		m.log().Warn("dropping damaged cache entry", "path", p)
		os.Remove(p)
		os.Remove(m.indexPath(md))
		return nil, false
	}
	return &blob{Path: p, Size: n, MD5: md, SHA256: sh, Cached: true}, true
}

// hashReader copies r to w (when not nil) and returns its md5, sha256
// and length.
func hashReader(r io.Reader, w io.Writer) (string, string, int64, error) {
	hm, hs := md5.New(), sha256.New()
	dst := io.MultiWriter(hm, hs)
	if w != nil {
		dst = io.MultiWriter(hm, hs, w)
	}
	n, err := io.Copy(dst, r)
	if err != nil {
		return "", "", n, err
	}
	return hex.EncodeToString(hm.Sum(nil)), hex.EncodeToString(hs.Sum(nil)), n, nil
}

type progressWriter struct {
	w     io.Writer
	p     base.Progress
	done  int64
	total int64
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond || err != nil {
		p.last = now
		total := p.total
		if total < 0 {
			total = 0
		}
		p.p.Bytes(p.done, total)
	}
	return n, err
}
