package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
)

// plainRefused reports whether an admin request (API or dashboard) must
// be refused: TLS is on, and it came over plain HTTP from another host.
func (h *Handler) plainRefused(r *http.Request) bool {
	return h.o.SecureURL != "" && r.TLS == nil && !loopback(r)
}

// secureOnly guards the dashboard like the admin API: with TLS on, plain
// HTTP from another host gets a pointer to the HTTPS address.
func (h *Handler) secureOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.plainRefused(r) {
			h.log.Warn("ui refused over plain HTTP", "remote", clientIP(r), "path", r.URL.Path)
			http.Error(w, "the dashboard is served over HTTPS: "+h.o.SecureURL+r.URL.Path, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopback reports whether the request came from this host.
func loopback(r *http.Request) bool {
	ip, err := netip.ParseAddr(clientIP(r))
	return err == nil && ip.Unmap().IsLoopback()
}

// bootstrapName names the first admin token (Options.AdminToken) in the
// audit log.
const bootstrapName = "admin.token"

// principal authenticates the request's bearer token: the first admin
// token compared in constant time, else a stored token found by its
// SHA-256.
func (h *Handler) principal(r *http.Request) (core.Principal, error) {
	// RFC 9110 §11.1: the scheme name is case-insensitive.
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return core.Principal{}, core.ErrUnauthenticated
	}
	if h.o.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(h.o.AdminToken)) == 1 {
		return core.Principal{Name: bootstrapName, Role: store.RoleAdmin}, nil
	}
	return h.o.Core.Authenticate(r.Context(), tok)
}

// admin requires a bearer token whose role includes need, and records the
// request in the audit log: every request that changes something, and
// every refusal, with the token's name (never the token).
func (h *Handler) admin(need store.Role, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if h.plainRefused(r) {
			// The bearer token would cross the network in clear.
			msg := "the admin API is served over HTTPS: use " + h.o.SecureURL
			writeError(w, http.StatusForbidden, "", msg)
			h.audit(r, core.Principal{}, http.StatusForbidden, start, msg)
			return
		}
		p, err := h.principal(r)
		switch {
		case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrRevoked):
			msg := "missing or unknown bearer token (Authorization: Bearer <token>; the first one is in admin.token)"
			if errors.Is(err, core.ErrRevoked) {
				msg = "this admin token was revoked"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="razor"`)
			writeError(w, http.StatusUnauthorized, "", msg)
			h.audit(r, p, http.StatusUnauthorized, start, msg)
			return
		case err != nil:
			h.fail(w, r, err)
			return
		case !p.Role.Allows(need):
			msg := "role " + string(p.Role) + " may not do this; it needs " + string(need)
			writeError(w, http.StatusForbidden, "", msg)
			h.audit(r, p, http.StatusForbidden, start, msg)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.audit(r, p, sw.code, start, "")
		}
	}
}

// audit writes one audit line. The events engineer turns these into
// events; until then the log is the audit trail.
func (h *Handler) audit(r *http.Request, p core.Principal, code int, start time.Time, refusal string) {
	if code == 0 {
		code = http.StatusOK
	}
	args := []any{"token", p.Name, "role", string(p.Role), "method", r.Method, "path", r.URL.Path,
		"status", code, "remote", clientIP(r), "duration", time.Since(start).Round(time.Microsecond)}
	if refusal != "" {
		h.log.Warn("admin audit: refused", append(args, "reason", refusal)...)
		return
	}
	h.log.Info("admin audit", args...)
}

func tokenJSON(t store.AdminToken) adminapi.Token {
	out := adminapi.Token{Name: t.Name, Role: string(t.Role), Created: t.Created}
	if !t.Revoked.IsZero() {
		rv := t.Revoked
		out.Revoked = &rv
	}
	return out
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request) {
	l, err := h.o.Core.ListAdminTokens(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.TokenList{Tokens: make([]adminapi.Token, 0, len(l))}
	for _, t := range l {
		out.Tokens = append(out.Tokens, tokenJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	var req adminapi.TokenRequest
	if !h.decode(w, r, &req) {
		return
	}
	t, secret, err := h.o.Core.CreateAdminToken(r.Context(), req.Name, req.Role)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := tokenJSON(t)
	out.Secret = secret
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := h.o.Core.RevokeAdminToken(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenJSON(t))
}
