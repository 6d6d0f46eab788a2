package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/razor-mk/razor-mk/server/store"
)

const bmcCols = "scope, host, port, username, sealed, updated_ns"

func scanBMC(sc interface{ Scan(...any) error }) (store.BMCCredential, error) {
	var c store.BMCCredential
	var updated int64
	if err := sc.Scan(&c.Scope, &c.Host, &c.Port, &c.Username, &c.Sealed, &updated); err != nil {
		return c, err
	}
	c.Updated = fromNS(updated)
	return c, nil
}

// PutBMCCredential implements store.Store.
func (s *Store) PutBMCCredential(ctx context.Context, c store.BMCCredential) (store.BMCCredential, error) {
	if err := c.Validate(); err != nil {
		return store.BMCCredential{}, err
	}
	var out store.BMCCredential
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO bmc_credentials ("+bmcCols+") VALUES (?, ?, ?, ?, ?, ?)",
			c.Scope, c.Host, c.Port, c.Username, c.Sealed, ns(c.Updated)); err != nil {
			return fmt.Errorf("sqlite: credential %s: %w", c.Scope, err)
		}
		var err error
		out, err = scanBMC(tx.QueryRowContext(ctx, "SELECT "+bmcCols+" FROM bmc_credentials WHERE scope = ?", c.Scope))
		return err
	})
	return out, err
}

// GetBMCCredential implements store.Store.
func (s *Store) GetBMCCredential(ctx context.Context, scope string) (store.BMCCredential, error) {
	c, err := scanBMC(s.r.QueryRowContext(ctx, "SELECT "+bmcCols+" FROM bmc_credentials WHERE scope = ?", scope))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: credential %s", store.ErrNotFound, scope)
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: credential %s: %w", scope, err)
	}
	return c, nil
}

// ListBMCCredentials implements store.Store.
func (s *Store) ListBMCCredentials(ctx context.Context) ([]store.BMCCredential, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+bmcCols+" FROM bmc_credentials ORDER BY scope")
	if err != nil {
		return nil, fmt.Errorf("sqlite: credentials: %w", err)
	}
	defer rows.Close()
	out := []store.BMCCredential{}
	for rows.Next() {
		c, err := scanBMC(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: credentials: %w", err)
	}
	return out, nil
}

// DeleteBMCCredential implements store.Store.
func (s *Store) DeleteBMCCredential(ctx context.Context, scope string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "DELETE FROM bmc_credentials WHERE scope = ?", scope)
		if err != nil {
			return fmt.Errorf("sqlite: delete credential %s: %w", scope, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: credential %s", store.ErrNotFound, scope)
		}
		return nil
	})
}
