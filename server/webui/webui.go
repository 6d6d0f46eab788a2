// Package webui is razor-netboot's web dashboard, served at /ui/: the
// fleet at a glance, a searchable node table, each node's facts, tags,
// binding, commands and boot timeline, and the tags and policies, with the
// actions an operator takes every day (reboot, power off, unbind, delete,
// edit a tag's rule, enable or reorder a policy).
//
// Pages are rendered on the server from html/template; the assets (a style
// sheet and a small script, no library) are embedded in the binary, so the
// dashboard needs no Node.js toolchain, CDN or network access. The script
// adds what a page cannot do alone: confirmations, times shown relative
// (absolute on hover), and live updates: the page subscribes to /ui/live
// (server-sent events) and reloads its live parts when the fleet changes.
//
// Sign-in takes an admin token; the session is a random identifier in an
// HttpOnly, SameSite=Strict cookie scoped to /ui/, kept in memory (a
// restart signs everyone out; behind several replicas use sticky
// sessions). Every state-changing request carries the session's CSRF
// token and must come from the same site. A token whose role is viewer
// sees no action buttons, and its actions are refused here as well.
package webui

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
)

//go:embed assets templates
var files embed.FS

// Fleet is what the dashboard reads and changes; *core.Core implements it.
type Fleet interface {
	Nodes(ctx context.Context) ([]core.NodeInfo, error)
	Node(ctx context.Context, id string) (core.NodeInfo, error)
	DeleteNode(ctx context.Context, id string) error
	Unbind(ctx context.Context, id string) (core.NodeInfo, error)
	QueueCommand(ctx context.Context, id, name string) (store.Command, error)
	Commands(ctx context.Context, id string) ([]store.Command, error)
	Tags(ctx context.Context) ([]core.TagInfo, error)
	Tag(ctx context.Context, name string) (core.TagInfo, error)
	CreateTag(ctx context.Context, name string, rule json.RawMessage) (core.TagInfo, error)
	UpdateTag(ctx context.Context, name string, rule json.RawMessage) (core.TagInfo, error)
	DeleteTag(ctx context.Context, name string) error
	Policies(ctx context.Context) ([]store.Policy, error)
	Policy(ctx context.Context, name string) (store.Policy, error)
	CreatePolicy(ctx context.Context, p store.Policy, opts ...core.PolicyOptions) (store.Policy, error)
	UpdatePolicy(ctx context.Context, p store.Policy, opts ...core.PolicyOptions) (store.Policy, error)
}

var _ Fleet = (*core.Core)(nil)

// Role is what a signed-in token may do.
type Role string

// Roles, least to most.
const (
	Viewer   Role = "viewer"   // reads only
	Operator Role = "operator" // commands, bind/unbind, tags and policies
	Admin    Role = "admin"    // everything
)

// CanAct reports whether r may change anything.
func (r Role) CanAct() bool { return r == Operator || r == Admin }

// Options configure New. Fleet and one of Authenticate or AdminToken are
// required.
type Options struct {
	Fleet Fleet
	// Authenticate returns the role and a name for a token, or false. The
	// default accepts AdminToken (compared in constant time) as "admin".
	Authenticate func(token string) (role Role, name string, ok bool)
	AdminToken   string
	// SecureCookie marks the session cookie Secure (serve over HTTPS).
	SecureCookie bool
	// SessionTTL is how long a session lasts without use (default 8 h).
	SessionTTL time.Duration
	// Poll is how often the live stream looks for changes (default 1 s).
	Poll time.Duration
	// Logger: default discard.
	Logger *slog.Logger
	// Now: default time.Now.
	Now func() time.Time
}

// ErrOptions: New was given no Fleet or no way to check tokens.
var ErrOptions = errors.New("webui: Fleet and Authenticate or AdminToken are required")

// UI is the dashboard's http.Handler; mount it at /ui/.
type UI struct {
	o        Options
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
}

// New returns the dashboard.
func New(o Options) (*UI, error) {
	if o.Fleet == nil || (o.Authenticate == nil && o.AdminToken == "") {
		return nil, ErrOptions
	}
	if o.Authenticate == nil {
		tok := []byte(o.AdminToken)
		o.Authenticate = func(t string) (Role, string, bool) {
			if subtle.ConstantTimeCompare([]byte(t), tok) == 1 {
				return Admin, "admin.token", true
			}
			return "", "", false
		}
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u := &UI{o: o, log: o.Logger, mux: http.NewServeMux(), sessions: newSessions(o.SessionTTL, o.Now)}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if err := u.parseTemplates(); err != nil {
		return nil, err
	}
	assets, _ := fs.Sub(files, "assets")
	static := http.StripPrefix("/ui/assets/", http.FileServerFS(assets))
	u.mux.Handle("GET /ui/assets/", cacheable(static))
	u.mux.HandleFunc("GET /ui/login", u.loginPage)
	u.mux.HandleFunc("POST /ui/login", u.login)
	u.mux.HandleFunc("POST /ui/logout", u.act(Viewer, u.logout))
	u.mux.HandleFunc("GET /ui/{$}", u.page(u.fleetPage))
	u.mux.HandleFunc("GET /ui/nodes", u.page(u.nodesPage))
	u.mux.HandleFunc("GET /ui/nodes/{id}", u.page(u.nodePage))
	u.mux.HandleFunc("POST /ui/nodes/{id}/command", u.act(Operator, u.nodeCommand))
	u.mux.HandleFunc("POST /ui/nodes/{id}/unbind", u.act(Operator, u.nodeUnbind))
	u.mux.HandleFunc("POST /ui/nodes/{id}/delete", u.act(Admin, u.nodeDelete))
	u.mux.HandleFunc("GET /ui/tags", u.page(u.tagsPage))
	u.mux.HandleFunc("POST /ui/tags", u.act(Operator, u.tagSave))
	u.mux.HandleFunc("GET /ui/tags/{name}", u.page(u.tagPage))
	u.mux.HandleFunc("POST /ui/tags/{name}", u.act(Operator, u.tagSave))
	u.mux.HandleFunc("POST /ui/tags/{name}/delete", u.act(Operator, u.tagDelete))
	u.mux.HandleFunc("GET /ui/policies", u.page(u.policiesPage))
	u.mux.HandleFunc("POST /ui/policies", u.act(Operator, u.policySave))
	u.mux.HandleFunc("GET /ui/policies/{name}", u.page(u.policyPage))
	u.mux.HandleFunc("POST /ui/policies/{name}", u.act(Operator, u.policySave))
	u.mux.HandleFunc("POST /ui/policies/{name}/toggle", u.act(Operator, u.policyToggle))
	u.mux.HandleFunc("POST /ui/policies/{name}/move", u.act(Operator, u.policyMove))
	u.mux.HandleFunc("GET /ui/live", u.withSession(u.live))
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return u, nil
}

func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The pages load nothing from elsewhere and are never framed.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	u.mux.ServeHTTP(w, r)
}

func cacheable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}
