package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/server/store"
)

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, keys []string, token string, at time.Time) error {
	if len(keys) == 0 {
		return errors.New("postgres: token: no keys")
	}
	// Sorted and distinct: one upsert may not touch a row twice, and
	// concurrent upserts lock rows in the same order.
	ks := sortedSet(cleanAll(keys))
	err := s.do(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO tokens (key, token, issued) SELECT k, $2, $3 FROM unnest($1::text[]) AS k
			ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, issued = EXCLUDED.issued`, ks, clean(token), at)
		if err != nil {
			return fmt.Errorf("postgres: token for %v: %w", ks, err)
		}
		return nil
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeTokens, Keys: ks})
	}
	return err
}

// GetToken implements store.Store.
func (s *Store) GetToken(ctx context.Context, keys []string) (store.Token, error) {
	var t store.Token
	if len(keys) == 0 {
		return t, fmt.Errorf("%w: no keys", store.ErrNotFound)
	}
	err := s.do(ctx, func(q querier) error {
		var issued pgtype.Timestamptz
		err := q.QueryRow(ctx, `SELECT key, token, issued FROM tokens WHERE key = ANY($1::text[])
			ORDER BY issued DESC, key COLLATE "C" LIMIT 1`, cleanAll(keys)).Scan(&t.Key, &t.Token, &issued)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no token for %v", store.ErrNotFound, keys)
		}
		if err != nil {
			return fmt.Errorf("postgres: token: %w", err)
		}
		t.Issued = fromTS(issued)
		return nil
	})
	return t, err
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	var out []store.Token
	err := s.do(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT key, token, issued FROM tokens ORDER BY key COLLATE "C"`)
		if err != nil {
			return fmt.Errorf("postgres: tokens: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Token, error) {
			var t store.Token
			var issued pgtype.Timestamptz
			err := row.Scan(&t.Key, &t.Token, &issued)
			t.Issued = fromTS(issued)
			return t, err
		})
		if err != nil {
			return fmt.Errorf("postgres: tokens: %w", err)
		}
		return nil
	})
	return out, err
}
