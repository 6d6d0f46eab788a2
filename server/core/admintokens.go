package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/razor-mk/razor-mk/server/store"
)

// Admin authentication errors.
var (
	// ErrUnauthenticated: no admin token, or one the server does not know.
	ErrUnauthenticated = errors.New("core: unknown admin token")
	// ErrRevoked: the admin token was revoked.
	ErrRevoked = errors.New("core: admin token revoked")
)

// Principal is who an admin request acts as.
type Principal struct {
	Name string
	Role store.Role
}

// AdminTokenPrefix starts every admin token the server makes, so that a
// leaked one is recognisable (in a repository scan, a log).
const AdminTokenPrefix = "rzt_"

// Authenticate finds the stored admin token a request presents, by its
// SHA-256; ErrUnauthenticated or ErrRevoked when it does not count. The
// first admin token (admin.token) is the HTTP adapter's to check.
func (c *Core) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrUnauthenticated
	}
	t, err := c.st.AdminTokenByHash(ctx, store.HashAdminToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, ErrUnauthenticated
	case err != nil:
		return Principal{}, fmt.Errorf("core: authenticate: %w", err)
	case !t.Revoked.IsZero():
		return Principal{Name: t.Name, Role: t.Role}, ErrRevoked
	}
	return Principal{Name: t.Name, Role: t.Role}, nil
}

// CreateAdminToken makes a token with a name and a role and returns it
// with the token itself, which the store does not keep: it is shown once.
func (c *Core) CreateAdminToken(ctx context.Context, name, role string) (store.AdminToken, string, error) {
	if err := store.ValidTokenName(name); err != nil {
		return store.AdminToken{}, "", invalid("name", "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit, got %q", name)
	}
	r, err := store.ParseRole(role)
	if err != nil {
		return store.AdminToken{}, "", invalid("role", "viewer, operator or admin, got %q", role)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return store.AdminToken{}, "", fmt.Errorf("core: admin token: %w", err)
	}
	secret := AdminTokenPrefix + hex.EncodeToString(b)
	t, err := c.st.CreateAdminToken(ctx, store.AdminToken{Name: name, Role: r, Hash: store.HashAdminToken(secret), Created: c.now()})
	if err != nil {
		return store.AdminToken{}, "", fmt.Errorf("core: admin token %q: %w", name, err)
	}
	c.log.Info("admin token created", "name", name, "role", r)
	return t, secret, nil
}

// ListAdminTokens returns every admin token (without secrets), revoked
// ones included.
func (c *Core) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	l, err := c.st.ListAdminTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("core: admin tokens: %w", err)
	}
	return l, nil
}

// RevokeAdminToken revokes a token by name; it stops working at once on
// every replica (tokens are looked up in the store on each request).
func (c *Core) RevokeAdminToken(ctx context.Context, name string) (store.AdminToken, error) {
	t, err := c.st.RevokeAdminToken(ctx, name, c.now())
	if err != nil {
		return t, fmt.Errorf("core: revoke admin token %q: %w", name, err)
	}
	c.log.Info("admin token revoked", "name", name)
	return t, nil
}
