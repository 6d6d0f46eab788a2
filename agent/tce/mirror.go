package tce

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MaxExtension bounds an extension download.
const MaxExtension = 1 << 30

// MirrorSource is a Tiny Core mirror directory over HTTP (the agent's
// local mirror, http://localhost:2157/tinycorelinux/<major>.x/<build>/tcz/,
// or any other): extensions are downloaded into Dir with their .dep and
// checked against their .md5.txt, as tce-load -w does.
type MirrorSource struct {
	// URL is the tcz directory.
	URL string
	// Dir receives the downloads (Tiny Core uses /tmp/tce/optional).
	Dir string
	// Client does the HTTP; nil means one with a 5-minute timeout.
	Client *http.Client

	mu   sync.Mutex
	deps map[string][]string
}

func (m *MirrorSource) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	return &http.Client{Timeout: 5 * time.Minute}
}

func (m *MirrorSource) url(file string) string {
	return strings.TrimSuffix(m.URL, "/") + "/" + url.PathEscape(file)
}

// get fetches a file of at most max bytes into w; a 404 is ErrNotFound.
func (m *MirrorSource) get(ctx context.Context, file string, max int64, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url(file), nil)
	if err != nil {
		return err
	}
	resp, err := m.client().Do(req)
	if err != nil {
		return fmt.Errorf("tce: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, m.url(file))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("tce: %s: %s", m.url(file), resp.Status)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("tce: %s: %w", m.url(file), err)
	}
	if n > max {
		return fmt.Errorf("tce: %s: larger than %d bytes", m.url(file), max)
	}
	return nil
}

// Deps fetches NAME.tcz.md5.txt (the extension's presence) and
// NAME.tcz.dep.
func (m *MirrorSource) Deps(ctx context.Context, name string) ([]string, error) {
	m.mu.Lock()
	if d, ok := m.deps[name]; ok {
		m.mu.Unlock()
		return d, nil
	}
	m.mu.Unlock()
	if _, err := m.md5(ctx, name); err != nil {
		return nil, err
	}
	var b strings.Builder
	err := m.get(ctx, name+".dep", tcz.MaxDepFile, &b)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	deps, err := tcz.ParseDep([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.url(name+".dep"), err)
	}
	if err := os.MkdirAll(m.Dir, 0o755); err == nil && b.Len() > 0 {
		os.WriteFile(filepath.Join(m.Dir, name+".dep"), []byte(b.String()), 0o644)
	}
	m.mu.Lock()
	if m.deps == nil {
		m.deps = map[string][]string{}
	}
	m.deps[name] = deps
	m.mu.Unlock()
	return deps, nil
}

func (m *MirrorSource) md5(ctx context.Context, name string) (string, error) {
	var b strings.Builder
	if err := m.get(ctx, name+".md5.txt", tcz.MaxMD5File, &b); err != nil {
		return "", err
	}
	sum, err := tcz.ParseMD5([]byte(b.String()), name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.url(name+".md5.txt"), err)
	}
	return sum, nil
}

// Path downloads the extension into Dir (unless a file with the right
// md5 is there already) and returns its path.
func (m *MirrorSource) Path(ctx context.Context, name string) (string, error) {
	want, err := m.md5(ctx, name)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(m.Dir, name)
	if got, err := md5File(dst); err == nil && got == want {
		return dst, nil
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return "", fmt.Errorf("tce: %w", err)
	}
	tmp, err := os.CreateTemp(m.Dir, "."+name+".*")
	if err != nil {
		return "", fmt.Errorf("tce: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := md5.New()
	err = m.get(ctx, name, MaxExtension, io.MultiWriter(tmp, h))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", fmt.Errorf("%w: %s has md5 %s, its .md5.txt says %s", ErrChecksum, m.url(name), got, want)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("tce: %w", err)
	}
	os.WriteFile(dst+".md5.txt", []byte(want+"  "+name+"\n"), 0o644)
	return dst, nil
}

func md5File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
