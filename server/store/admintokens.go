package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"
	"time"
)

// Role is what an admin token may do.
type Role string

// Roles, each including the ones before it.
const (
	// RoleViewer reads: nodes, tags, policies, commands, metrics.
	RoleViewer Role = "viewer"
	// RoleOperator also acts: commands, bind/unbind, tags and policies.
	RoleOperator Role = "operator"
	// RoleAdmin may do everything, admin tokens included.
	RoleAdmin Role = "admin"
)

// Allows reports whether r includes the rights of need.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.rank() > 0 {
		return r, nil
	}
	return "", fmt.Errorf("store: role %q: want viewer, operator or admin", s)
}

// AdminToken is a named admin API token. The store keeps only the token's
// SHA-256 (the token is 256 random bits, so a plain hash cannot be
// reversed by guessing); the token itself is shown once, when made.
type AdminToken struct {
	Name    string
	Role    Role
	Hash    [sha256.Size]byte
	Created time.Time
	// Revoked is when the token was revoked; zero while valid. A revoked
	// token stays listed (for the audit trail) and its name stays taken.
	Revoked time.Time
}

// HashAdminToken is the stored form of a token.
func HashAdminToken(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidTokenName checks an admin token's name: 1 to 64 letters, digits,
// '.', '_', '@' or '-', not starting with punctuation.
func ValidTokenName(name string) error {
	if !tokenName.MatchString(name) {
		return fmt.Errorf("store: token name %q: 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Validate checks a token before it is stored: its name and its role.
// Both stores call it, so they refuse alike.
func (t AdminToken) Validate() error {
	if err := ValidTokenName(t.Name); err != nil {
		return err
	}
	_, err := ParseRole(string(t.Role))
	return err
}

// AdminTokens is the admin token part of a Store.
type AdminTokens interface {
	// CreateAdminToken stores a new token; ErrExists when the name is
	// taken (revoked tokens included).
	CreateAdminToken(ctx context.Context, t AdminToken) (AdminToken, error)
	// AdminTokenByHash finds the token with that hash, revoked or not;
	// ErrNotFound when none.
	AdminTokenByHash(ctx context.Context, hash [sha256.Size]byte) (AdminToken, error)
	// ListAdminTokens returns every token, revoked ones included, by name.
	ListAdminTokens(ctx context.Context) ([]AdminToken, error)
	// RevokeAdminToken marks a token revoked at the given time;
	// ErrNotFound when no token has that name. Revoking a revoked token
	// keeps the first time and is not an error.
	RevokeAdminToken(ctx context.Context, name string, at time.Time) (AdminToken, error)
}
