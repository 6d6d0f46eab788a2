package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

const adminTokenCols = "name, role, hash, created_ns, revoked_ns"

func scanAdminToken(sc interface{ Scan(...any) error }) (store.AdminToken, error) {
	var t store.AdminToken
	var role string
	var hash []byte
	var created, revoked int64
	if err := sc.Scan(&t.Name, &role, &hash, &created, &revoked); err != nil {
		return t, err
	}
	if len(hash) != sha256.Size {
		return t, fmt.Errorf("sqlite: admin token %q: stored hash has %d bytes", t.Name, len(hash))
	}
	t.Role, t.Created, t.Revoked = store.Role(role), fromNS(created), fromNS(revoked)
	copy(t.Hash[:], hash)
	return t, nil
}

// CreateAdminToken implements store.Store.
func (s *Store) CreateAdminToken(ctx context.Context, t store.AdminToken) (store.AdminToken, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	var out store.AdminToken
	err := s.write(ctx, func(tx *sql.Tx) error {
		have, err := exists(ctx, tx, "SELECT 1 FROM admin_tokens WHERE name = ? OR hash = ?", t.Name, t.Hash[:])
		if err != nil {
			return fmt.Errorf("sqlite: admin token %q: %w", t.Name, err)
		}
		if have {
			return fmt.Errorf("%w: admin token %q", store.ErrExists, t.Name)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO admin_tokens ("+adminTokenCols+") VALUES (?, ?, ?, ?, 0)",
			t.Name, string(t.Role), t.Hash[:], ns(t.Created)); err != nil {
			return fmt.Errorf("sqlite: admin token %q: %w", t.Name, err)
		}
		out, err = scanAdminToken(tx.QueryRowContext(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens WHERE name = ?", t.Name))
		return err
	})
	return out, err
}

// AdminTokenByHash implements store.Store.
func (s *Store) AdminTokenByHash(ctx context.Context, hash [sha256.Size]byte) (store.AdminToken, error) {
	t, err := scanAdminToken(s.r.QueryRowContext(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens WHERE hash = ?", hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: admin token", store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: admin token: %w", err)
	}
	return t, nil
}

// ListAdminTokens implements store.Store.
func (s *Store) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite: admin tokens: %w", err)
	}
	defer rows.Close()
	out := []store.AdminToken{}
	for rows.Next() {
		t, err := scanAdminToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: admin tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: admin tokens: %w", err)
	}
	return out, nil
}

// RevokeAdminToken implements store.Store.
func (s *Store) RevokeAdminToken(ctx context.Context, name string, at time.Time) (store.AdminToken, error) {
	var out store.AdminToken
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE admin_tokens SET revoked_ns = ? WHERE name = ? AND revoked_ns = 0", ns(at), name); err != nil {
			return fmt.Errorf("sqlite: revoke admin token %q: %w", name, err)
		}
		var err error
		out, err = scanAdminToken(tx.QueryRowContext(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens WHERE name = ?", name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: admin token %q", store.ErrNotFound, name)
		}
		return err
	})
	return out, err
}
