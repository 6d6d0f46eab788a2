package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/razor-mk/razor-mk/server/store"
)

const bmcCols = "scope, host, port, username, sealed, updated"

func scanBMC(sc interface{ Scan(...any) error }) (store.BMCCredential, error) {
	var c store.BMCCredential
	var updated pgtype.Timestamptz
	if err := sc.Scan(&c.Scope, &c.Host, &c.Port, &c.Username, &c.Sealed, &updated); err != nil {
		return c, err
	}
	c.Updated = fromTS(updated)
	return c, nil
}

// PutBMCCredential implements store.Store.
func (s *Store) PutBMCCredential(ctx context.Context, c store.BMCCredential) (store.BMCCredential, error) {
	if err := c.Validate(); err != nil {
		return store.BMCCredential{}, err
	}
	var out store.BMCCredential
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO bmc_credentials ("+bmcCols+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (scope) DO UPDATE SET host = $2, port = $3, username = $4, sealed = $5, updated = $6`,
			clean(c.Scope), clean(c.Host), c.Port, clean(c.Username), c.Sealed, ts(c.Updated))
		if err != nil {
			return fmt.Errorf("postgres: credential %s: %w", c.Scope, err)
		}
		out, err = scanBMC(tx.QueryRow(ctx, "SELECT "+bmcCols+" FROM bmc_credentials WHERE scope = $1", clean(c.Scope)))
		return err
	})
	return out, err
}

// GetBMCCredential implements store.Store.
func (s *Store) GetBMCCredential(ctx context.Context, scope string) (store.BMCCredential, error) {
	var c store.BMCCredential
	err := s.do(ctx, func(q querier) error {
		var err error
		c, err = scanBMC(q.QueryRow(ctx, "SELECT "+bmcCols+" FROM bmc_credentials WHERE scope = $1", clean(scope)))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: credential %s", store.ErrNotFound, scope)
		}
		if err != nil {
			return fmt.Errorf("postgres: credential %s: %w", scope, err)
		}
		return nil
	})
	return c, err
}

// ListBMCCredentials implements store.Store.
func (s *Store) ListBMCCredentials(ctx context.Context) ([]store.BMCCredential, error) {
	var out []store.BMCCredential
	err := s.do(ctx, func(q querier) error {
		out = []store.BMCCredential{}
		rows, err := q.Query(ctx, "SELECT "+bmcCols+` FROM bmc_credentials ORDER BY scope COLLATE "C"`)
		if err != nil {
			return fmt.Errorf("postgres: credentials: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanBMC(rows)
			if err != nil {
				return fmt.Errorf("postgres: credentials: %w", err)
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: credentials: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteBMCCredential implements store.Store.
func (s *Store) DeleteBMCCredential(ctx context.Context, scope string) error {
	return s.do(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, "DELETE FROM bmc_credentials WHERE scope = $1", clean(scope))
		if err != nil {
			return fmt.Errorf("postgres: delete credential %s: %w", scope, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: credential %s", store.ErrNotFound, scope)
		}
		return nil
	})
}
