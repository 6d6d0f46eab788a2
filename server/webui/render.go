package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
)

// pageSize is the node table's rows per page.
const pageSize = 100

// maxFactScan bounds how many nodes a search reads facts of (serial
// numbers are facts, which the node list does not carry).
const maxFactScan = 5000

var pageNames = []string{"login", "fleet", "nodes", "node", "tags", "tag", "policies", "policy"}

func (u *UI) parseTemplates() error {
	u.pages = map[string]*template.Template{}
	funcs := template.FuncMap{
		"ago":   func(t time.Time) string { return ago(u.o.Now(), t) },
		"abs":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"join":  strings.Join,
		"query": url.QueryEscape,
		"mac":   colonMAC,
		"macs":  joinMACs,
		"json": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
	}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/form_*.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("webui: template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return nil
}

// view is what every page template gets.
type view struct {
	Title   string
	Page    string
	Session *session
	CanAct  bool
	IsAdmin bool
	Flash   string
	Data    any
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, page string, s *session, data any) {
	v := view{Page: page, Session: s, Data: data}
	if s != nil {
		v.CanAct, v.IsAdmin = s.Role.CanAct(), s.Role == Admin
	}
	v.Flash = r.URL.Query().Get("flash")
	var b bytes.Buffer
	if err := u.pages[page].Execute(&b, v); err != nil {
		u.log.Error("ui: rendering", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// fail shows an error the way the admin API would classify it.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	msg := "internal error"
	var ie *core.InputError
	switch {
	case errors.As(err, &ie):
		code, msg = http.StatusBadRequest, ie.Error()
	case errors.Is(err, store.ErrNotFound):
		code, msg = http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInUse), errors.Is(err, store.ErrBound), errors.Is(err, store.ErrStale):
		code, msg = http.StatusConflict, trimPrefixes(err.Error())
	case errors.Is(err, store.ErrUnavailable):
		code, msg = http.StatusServiceUnavailable, "store unavailable, try again later"
	default:
		u.log.Error("ui: request failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, msg, code)
}

// trimPrefixes drops the "core: " style package prefixes of an error.
func trimPrefixes(s string) string {
	for {
		i := strings.Index(s, ": ")
		if i < 0 || strings.ContainsAny(s[:i], " \"") {
			return s
		}
		s = s[i+2:]
	}
}

func back(w http.ResponseWriter, r *http.Request, to, flash string) {
	http.Redirect(w, r, to+"?flash="+url.QueryEscape(flash), http.StatusSeeOther)
}

// ago renders t relative to now ("3 min ago"); the absolute time is in
// the element's title.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// colonMAC spells a MAC as the API does, 52:54:00:AB:CD:EF; anything that
// is not 12 hex digits is shown as it is.
func colonMAC(m string) string {
	h := hex12(m)
	if h == "" {
		return m
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
