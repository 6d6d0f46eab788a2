package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, keys []string, token string, at time.Time) error {
	if len(keys) == 0 {
		return errors.New("sqlite: token: no keys")
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (key, token, issued_ns) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET token = excluded.token, issued_ns = excluded.issued_ns`,
				k, token, ns(at)); err != nil {
				return fmt.Errorf("sqlite: token for %s: %w", k, err)
			}
		}
		return nil
	})
}

// GetToken implements store.Store.
func (s *Store) GetToken(ctx context.Context, keys []string) (store.Token, error) {
	var t store.Token
	if len(keys) == 0 {
		return t, fmt.Errorf("%w: no keys", store.ErrNotFound)
	}
	var issued int64
	err := s.r.QueryRowContext(ctx, "SELECT key, token, issued_ns FROM tokens WHERE key IN ("+placeholders(len(keys))+
		") ORDER BY issued_ns DESC, key LIMIT 1", anys(keys)...).Scan(&t.Key, &t.Token, &issued)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: no token for %v", store.ErrNotFound, keys)
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: token: %w", err)
	}
	t.Issued = fromNS(issued)
	return t, nil
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT key, token, issued_ns FROM tokens ORDER BY key")
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	out := []store.Token{}
	for rows.Next() {
		var t store.Token
		var issued int64
		if err := rows.Scan(&t.Key, &t.Token, &issued); err != nil {
			return nil, fmt.Errorf("sqlite: tokens: %w", err)
		}
		t.Issued = fromNS(issued)
		out = append(out, t)
	}
	return out, rows.Err()
}
