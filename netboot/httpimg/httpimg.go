// Package httpimg serves files over HTTP from one directory: the
// microkernel images (<dir>/<name>/{vmlinuz,initrd,manifest.json}) and,
// mounted a second time, the iPXE binaries for UEFI HTTP-boot clients.
// Files are opened through os.Root, so "..", absolute paths and symlinks
// that leave the directory are refused; responses carry Content-Length,
// a strong ETag and Last-Modified, and honour Range, If-None-Match and
// If-Modified-Since (http.ServeContent); Range headers are checked and
// normalised first (ranges.go). The body is copied with
// sendfile(2): ServeContent copies from the *os.File, which net/http hands
// to the kernel.
package httpimg

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Handler serves the files under dir. The request path, with any prefix
// already stripped by the caller, names the file relative to dir: mount
// it as
//
//	mux.Handle("/images/", http.StripPrefix("/images/", httpimg.Handler(imagesDir, log)))
//
// so that GET /images/mk/vmlinuz serves <imagesDir>/mk/vmlinuz. Only GET
// and HEAD are allowed; directories are not listed. log may be nil.
func Handler(dir string, log *slog.Logger) http.Handler {
	return New(dir, Options{Logger: log})
}

// Send describes one file sent (GET only), for Options.OnSend.
type Send struct {
	Remote   netip.Addr
	Path     string // as requested, below the root
	Bytes    int64  // body bytes written
	Size     int64  // the file's size
	Duration time.Duration
	// Complete: the whole answer went out (a range request counts when
	// its range did); false when the client went away.
	Complete bool
	Status   int
}

// Options configure New; the zero value logs nothing and reports nothing.
type Options struct {
	Logger *slog.Logger
	// OnSend, if set, is called after each GET of a file, from the
	// request's goroutine; it must not block.
	OnSend func(Send)
	// Who, if set, names the node and MAC behind a client address, so
	// that every log line about a download carries node= and mac=; it
	// must not block.
	Who func(ip netip.Addr) (node, mac string)
}

// New is Handler with options.
func New(dir string, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{dir: dir, log: o.Logger.With("component", "httpimg"), onSend: o.OnSend, who: o.Who}
}

type handler struct {
	dir    string
	log    *slog.Logger
	onSend func(Send)
	who    func(netip.Addr) (node, mac string)
}

// about is the node= and mac= of a request's client, when known.
func (h *handler) about(r *http.Request) []any {
	if h.who == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	node, mac := h.who(ap.Addr().Unmap())
	if mac == "" {
		return nil
	}
	return []any{"node", node, "mac", mac}
}

// counter counts the body bytes written.
type counter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *counter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *counter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *counter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" || strings.Contains(name, `\`) || !fs.ValidPath(name) {
		h.log.Warn("httpimg: bad path refused", "event", "http-refused", "path", r.URL.Path, "remote", r.RemoteAddr)
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	// The root is opened per request: the directory may be replaced
	// (a new image build) while the server runs.
	root, err := os.OpenRoot(h.dir)
	if err != nil {
		h.log.Error("httpimg: open root", "dir", h.dir, "err", err)
		http.Error(w, "image directory unavailable", http.StatusServiceUnavailable)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		h.log.Warn("httpimg: open refused", "event", "http-refused", "path", name, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	// A strong validator from size and modification time: an image is
	// rewritten as a whole, so either changes when the content does.
	etag := fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano())
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if ct := contentType(name); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if err := normalizeRange(r, st.Size(), etag, st.ModTime()); err != nil {
		h.log.Info("httpimg: range refused", append([]any{"event", "http-range-refused", "path", name, "remote", r.RemoteAddr, "err", err}, h.about(r)...)...)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", st.Size()))
		http.Error(w, "range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	h.log.Info("httpimg: serving", append([]any{"event", "http-file", "path", name, "remote", r.RemoteAddr, "range", r.Header.Get("Range"), "size", st.Size()}, h.about(r)...)...)
	if h.onSend == nil || r.Method != http.MethodGet {
		http.ServeContent(w, r, st.Name(), st.ModTime(), f)
		return
	}
	start := time.Now()
	cw := &counter{ResponseWriter: w}
	http.ServeContent(cw, r, st.Name(), st.ModTime(), f)
	want, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	if err != nil {
		want = st.Size()
	}
	s := Send{Path: name, Bytes: cw.n, Size: st.Size(), Duration: time.Since(start), Status: cw.status}
	s.Complete = cw.status < 300 && cw.n == want && r.Context().Err() == nil
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		s.Remote = ap.Addr().Unmap()
	}
	h.onSend(s)
}

// contentType avoids sniffing binary images.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".json":
		return "application/json"
	case ".ipxe":
		return "text/plain; charset=utf-8"
	case "":
		return "application/octet-stream"
	}
	switch path.Base(name) {
	case "vmlinuz", "initrd":
		return "application/octet-stream"
	}
	if strings.HasSuffix(name, ".efi") || strings.HasSuffix(name, ".kpxe") || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".zst") {
		return "application/octet-stream"
	}
	return ""
}
