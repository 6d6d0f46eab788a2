package webui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	cookieName = "razor_session"
	// maxSessions bounds the table: past it the least recently used
	// session is signed out, so that logins cannot exhaust memory.
	maxSessions = 10000
	// maxLoginBody bounds the sign-in form.
	maxLoginBody = 4 << 10
)

// session is one signed-in browser.
type session struct {
	ID, CSRF string
	Role     Role
	Name     string // the token's name, for the log
	used     time.Time
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: now}
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(role Role, name string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.m) >= maxSessions {
		var oldest *session
		for _, x := range s.m {
			if oldest == nil || x.used.Before(oldest.used) {
				oldest = x
			}
		}
		delete(s.m, oldest.ID)
	}
	x := &session{ID: randomID(), CSRF: randomID(), Role: role, Name: name, used: now}
	s.m[x.ID] = x
	return x
}

// get returns the live session id names and marks it used.
func (s *sessions) get(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[id]
	if !ok {
		return nil, false
	}
	now := s.now()
	if now.Sub(x.used) > s.ttl {
		delete(s.m, id)
		return nil, false
	}
	x.used = now
	c := *x
	return &c, true
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// current returns the request's session.
func (u *UI) current(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	return u.sessions.get(c.Value)
}

func (u *UI) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/ui/", MaxAge: maxAge,
		HttpOnly: true, Secure: u.o.SecureCookie, SameSite: http.SameSiteStrictMode,
	})
}

// page serves a GET page to a signed-in browser; others are sent to the
// sign-in page, which brings them back.
func (u *UI) page(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := u.current(r)
		if !ok {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r, s)
	}
}

// withSession serves a signed-in browser and refuses others with 401.
func (u *UI) withSession(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := u.current(r)
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		fn(w, r, s)
	}
}

// act serves a state-changing POST: a session whose role is at least
// min, the session's CSRF token in the form, and a request from this
// site. Anything else is refused and changes nothing.
func (u *UI) act(min Role, fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
		s, ok := u.current(r)
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if !sameSite(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
			u.log.Warn("ui: refused a request without a valid CSRF token", "path", r.URL.Path, "token_name", s.Name)
			http.Error(w, "refused: missing or wrong CSRF token (reload the page and try again)", http.StatusForbidden)
			return
		}
		if !allowed(s.Role, min) {
			u.log.Warn("ui: refused an action the role may not take", "path", r.URL.Path, "role", s.Role, "token_name", s.Name)
			http.Error(w, "refused: a "+string(s.Role)+" token may not do this", http.StatusForbidden)
			return
		}
		u.log.Info("ui: action", "path", r.URL.Path, "role", s.Role, "token_name", s.Name)
		fn(w, r, s)
	}
}

func allowed(have, need Role) bool {
	rank := map[Role]int{Viewer: 1, Operator: 2, Admin: 3}
	return rank[have] >= rank[need] && rank[have] > 0
}

// sameSite reports whether the browser says the request comes from this
// site (Sec-Fetch-Site, else Origin); requests that carry neither (old
// browsers, curl) still need the CSRF token.
func sameSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		ou, err := url.Parse(o)
		return err == nil && strings.EqualFold(ou.Host, r.Host)
	}
	return true
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, "login", nil, map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	next := safeNext(r.PostFormValue("next"))
	if !sameSite(r) {
		http.Error(w, "refused: sign-in from another site", http.StatusForbidden)
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	role, name, ok := u.o.Authenticate(tok)
	if tok == "" || !ok {
		u.log.Warn("ui: sign-in refused", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		u.render(w, r, "login", nil, map[string]any{"Next": next, "Error": "That token is not valid."})
		return
	}
	s := u.sessions.create(role, name)
	u.setCookie(w, s.ID, 0)
	u.log.Info("ui: signed in", "role", role, "token_name", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) {
	u.sessions.drop(s.ID)
	u.setCookie(w, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}
