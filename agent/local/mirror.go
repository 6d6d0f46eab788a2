package local

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// DefaultMirrorDir is where the image keeps its extension mirror, as the
// original's /tmp/tinycorelinux.
const DefaultMirrorDir = "/tmp/tinycorelinux"

// Install lists the mirror serves, by URL name. Each is read from the
// mirror directory under that name, or with a ".yaml" suffix as the
// original shipped them.
const (
	TCEInstallList  = "tce-install-list"
	KmodInstallList = "kmod-install-list"
)

// Limits of an install list.
const (
	MaxInstallList        = 1 << 20
	MaxInstallListEntries = 10000
)

// ErrBadInstallList means an install list file does not parse.
var ErrBadInstallList = errors.New("local: bad install list")

// tczPath is what tce-load asks a mirror for: <major>.x/<build>/tcz/<file>
// (Tiny Core's getMirror layout; the original served 4.x/x86/tcz).
var tczPath = regexp.MustCompile(`^[0-9]+\.x/[A-Za-z0-9_.-]+/tcz/[^/]+$`)

// NewMirrorHandler serves the Tiny Core extension mirror from dir:
//
//	GET /tinycorelinux/<major>.x/<build>/tcz/<file>  a file of dir/<major>.x/<build>/tcz/
//	GET /tinycorelinux/tce-install-list               JSON array of extension names
//	GET /tinycorelinux/kmod-install-list              JSON array of kernel module names
//
// Files are opened through os.Root, so nothing outside dir is served,
// whatever the path or its symlinks say. A missing install list is an
// empty array. dir may appear after the handler is made.
func NewMirrorHandler(dir string, log *slog.Logger) http.Handler {
	if log == nil {
		log = discard
	}
	mux := http.NewServeMux()
	for _, name := range []string{TCEInstallList, KmodInstallList} {
		mux.HandleFunc("GET /tinycorelinux/"+name, func(w http.ResponseWriter, r *http.Request) {
			list, err := ReadInstallList(dir, name)
			if err != nil {
				log.Error("install list", "name", name, "err", err)
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, list)
		})
	}
	mux.HandleFunc("GET /tinycorelinux/{file...}", func(w http.ResponseWriter, r *http.Request) {
		rel := r.PathValue("file")
		if !tczPath.MatchString(rel) || rel != path.Clean(rel) {
			http.NotFound(w, r)
			return
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			log.Debug("mirror directory", "dir", dir, "err", err)
			http.NotFound(w, r)
			return
		}
		defer root.Close()
		f, err := root.Open(rel)
		if err != nil {
			// Missing, or escaping the root through a symlink.
			log.Debug("mirror file", "path", rel, "err", err)
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, path.Base(rel), fi.ModTime(), f)
	})
	return mux
}

// ReadInstallList reads the install list name from dir: the file name, or
// name.yaml. A missing list is empty.
func ReadInstallList(dir, name string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local: mirror directory: %w", err)
	}
	defer root.Close()
	for _, n := range []string{name, name + ".yaml"} {
		f, err := root.Open(n)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("local: %s: %w", n, err)
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxInstallList+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("local: %s: %w", n, err)
		}
		list, err := ParseInstallList(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		return list, nil
	}
	return []string{}, nil
}

// ParseInstallList parses an install list: a YAML (or JSON) sequence of
// names, as the original's tce-install-list.yaml ("- open_vm_tools.tcz"),
// or plain text with one name a line, where blank lines and lines starting
// with "#" are skipped. Names are extension files ("open_vm_tools.tcz") or
// kernel modules, optionally with a relative path as Hanlon listed them
// ("drivers/misc/vmci.ko"); a name with white space, control characters,
// a leading "/" or a ".." element is refused, naming it.
func ParseInstallList(data []byte) ([]string, error) {
	if len(data) > MaxInstallList {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadInstallList, MaxInstallList)
	}
	var names []string
	var doc any
	if err := yaml.Unmarshal(data, &doc); err == nil {
		if seq, ok := doc.([]any); ok {
			for i, v := range seq {
				switch v.(type) {
				case string, int, float64:
					names = append(names, fmt.Sprint(v))
				default:
					return nil, fmt.Errorf("%w: entry %d is not a name", ErrBadInstallList, i+1)
				}
			}
			return checkNames(names)
		}
	}
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") || s == "---" {
			continue
		}
		names = append(names, s)
	}
	return checkNames(names)
}

func checkNames(names []string) ([]string, error) {
	if len(names) > MaxInstallListEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrBadInstallList, len(names), MaxInstallListEntries)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n == "" || strings.HasPrefix(n, "/") || strings.IndexFunc(n, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
		}) >= 0 {
			return nil, fmt.Errorf("%w: bad name %q", ErrBadInstallList, truncate(n, 60))
		}
		for _, el := range strings.Split(n, "/") {
			if el == ".." || el == "." || el == "" {
				return nil, fmt.Errorf("%w: bad name %q", ErrBadInstallList, truncate(n, 60))
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
