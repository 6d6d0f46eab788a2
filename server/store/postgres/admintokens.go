package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/razor-mk/razor-mk/server/store"
)

const adminTokenCols = "name, role, hash, created, revoked"

func scanAdminToken(sc interface{ Scan(...any) error }) (store.AdminToken, error) {
	var t store.AdminToken
	var role string
	var hash []byte
	var created, revoked pgtype.Timestamptz
	if err := sc.Scan(&t.Name, &role, &hash, &created, &revoked); err != nil {
		return t, err
	}
	if len(hash) != sha256.Size {
		return t, fmt.Errorf("postgres: admin token %q: stored hash has %d bytes", t.Name, len(hash))
	}
	t.Role, t.Created, t.Revoked = store.Role(role), fromTS(created), fromTS(revoked)
	copy(t.Hash[:], hash)
	return t, nil
}

// CreateAdminToken implements store.Store.
func (s *Store) CreateAdminToken(ctx context.Context, t store.AdminToken) (store.AdminToken, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	var out store.AdminToken
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO admin_tokens ("+adminTokenCols+") VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING",
			t.Name, string(t.Role), t.Hash[:], ts(t.Created))
		if err != nil {
			return fmt.Errorf("postgres: admin token %q: %w", t.Name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: admin token %q", store.ErrExists, t.Name)
		}
		out, err = scanAdminToken(tx.QueryRow(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens WHERE name = $1", t.Name))
		return err
	})
	return out, err
}

// AdminTokenByHash implements store.Store.
func (s *Store) AdminTokenByHash(ctx context.Context, hash [sha256.Size]byte) (store.AdminToken, error) {
	var t store.AdminToken
	err := s.do(ctx, func(q querier) error {
		var err error
		t, err = scanAdminToken(q.QueryRow(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens WHERE hash = $1", hash[:]))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: admin token", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: admin token: %w", err)
		}
		return nil
	})
	return t, err
}

// ListAdminTokens implements store.Store.
func (s *Store) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	var out []store.AdminToken
	err := s.do(ctx, func(q querier) error {
		out = []store.AdminToken{}
		rows, err := q.Query(ctx, "SELECT "+adminTokenCols+` FROM admin_tokens ORDER BY name COLLATE "C"`)
		if err != nil {
			return fmt.Errorf("postgres: admin tokens: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanAdminToken(rows)
			if err != nil {
				return fmt.Errorf("postgres: admin tokens: %w", err)
			}
			out = append(out, t)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: admin tokens: %w", err)
		}
		return nil
	})
	return out, err
}

// RevokeAdminToken implements store.Store.
func (s *Store) RevokeAdminToken(ctx context.Context, name string, at time.Time) (store.AdminToken, error) {
	var out store.AdminToken
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE admin_tokens SET revoked = $2 WHERE name = $1 AND revoked IS NULL", clean(name), ts(at)); err != nil {
			return fmt.Errorf("postgres: revoke admin token %q: %w", name, err)
		}
		var err error
		out, err = scanAdminToken(tx.QueryRow(ctx, "SELECT "+adminTokenCols+" FROM admin_tokens WHERE name = $1", clean(name)))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: admin token %q", store.ErrNotFound, name)
		}
		return err
	})
	return out, err
}
