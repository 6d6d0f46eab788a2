package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/server/store"
)

// CreatePolicy implements store.Store.
func (s *Store) CreatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	return s.putPolicy(ctx, p, true)
}

// UpdatePolicy implements store.Store.
func (s *Store) UpdatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	return s.putPolicy(ctx, p, false)
}

func (s *Store) putPolicy(ctx context.Context, p store.Policy, create bool) (store.Policy, error) {
	if err := p.Validate(); err != nil {
		return p, err
	}
	target, err := json.Marshal(p.Target)
	if err != nil {
		return p, fmt.Errorf("postgres: policy %q: target: %w", p.Name, err)
	}
	name := clean(p.Name)
	tags := sortedSet(cleanAll(p.Tags))
	var out store.Policy
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, tagLockKeys(tags...)); err != nil {
			return fmt.Errorf("postgres: policy %q: %w", name, err)
		}
		var tag pgconn.CommandTag
		var err error
		at := p.Updated
		if create {
			tag, err = tx.Exec(ctx, `INSERT INTO policies (name, rank, enabled, max_count, target, created, updated)
				VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING`, name, p.Order, p.Enabled, p.MaxCount, string(target), at)
		} else {
			tag, err = tx.Exec(ctx, `UPDATE policies SET rank = $2, enabled = $3, max_count = $4, target = $5, updated = $6
				WHERE name = $1`, name, p.Order, p.Enabled, p.MaxCount, string(target), at)
		}
		if err != nil {
			return fmt.Errorf("postgres: policy %q: %w", name, err)
		}
		switch {
		case tag.RowsAffected() == 0 && create:
			return fmt.Errorf("%w: policy %q", store.ErrExists, name)
		case tag.RowsAffected() == 0:
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM policy_tags WHERE policy = $1", name)
		b.Queue("INSERT INTO policy_tags (policy, tag) SELECT $1, t FROM unnest($2::text[]) AS t", name, tags)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: policy %q: tags: %w", name, err)
		}
		out, err = getPolicy(ctx, tx, name)
		return err
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangePolicies})
	}
	return out, err
}

const policyCols = `p.name, p.rank, p.enabled, p.max_count, p.target, p.created, p.updated,
	(SELECT count(*) FROM nodes n WHERE n.policy = p.name),
	COALESCE((SELECT array_agg(t.tag ORDER BY t.tag COLLATE "C") FROM policy_tags t WHERE t.policy = p.name), '{}')`

func loadPolicies(ctx context.Context, q querier, where string, args ...any) ([]store.Policy, error) {
	rows, err := q.Query(ctx, "SELECT "+policyCols+" FROM policies p "+where+` ORDER BY p.rank, p.name COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: policies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Policy, error) {
		var p store.Policy
		var target string
		var count int64
		var c, u pgtype.Timestamptz
		if err := row.Scan(&p.Name, &p.Order, &p.Enabled, &p.MaxCount, &target, &c, &u, &count, &p.Tags); err != nil {
			return p, err
		}
		if err := json.Unmarshal([]byte(target), &p.Target); err != nil {
			return p, fmt.Errorf("policy %q: target: %w", p.Name, err)
		}
		p.Count, p.Created, p.Updated = int(count), fromTS(c), fromTS(u)
		if p.Tags == nil {
			p.Tags = []string{}
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: policies: %w", err)
	}
	return out, nil
}

func getPolicy(ctx context.Context, q querier, name string) (store.Policy, error) {
	ps, err := loadPolicies(ctx, q, "WHERE p.name = $1", name)
	if err != nil {
		return store.Policy{}, err
	}
	if len(ps) == 0 {
		return store.Policy{}, fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
	}
	return ps[0], nil
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, name string) (store.Policy, error) {
	var p store.Policy
	err := s.do(ctx, func(q querier) (err error) {
		p, err = getPolicy(ctx, q, clean(name))
		return err
	})
	return p, err
}

// ListPolicies implements store.Store.
func (s *Store) ListPolicies(ctx context.Context) ([]store.Policy, error) {
	var ps []store.Policy
	err := s.do(ctx, func(q querier) (err error) {
		ps, err = loadPolicies(ctx, q, "")
		return err
	})
	return ps, err
}

// DeletePolicy implements store.Store. The policy's row lock keeps a
// concurrent Bind from binding to it meanwhile.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	name = clean(name)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM policies WHERE name = $1 FOR UPDATE", name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
		}
		if err != nil {
			return fmt.Errorf("postgres: delete policy %q: %w", name, err)
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM nodes WHERE policy = $1", name).Scan(&n); err != nil {
			return fmt.Errorf("postgres: delete policy %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: policy %q has %d bound nodes", store.ErrInUse, name, n)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM policies WHERE name = $1", name); err != nil {
			return fmt.Errorf("postgres: delete policy %q: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM bmc_credentials WHERE scope = $1", store.PolicyScope(name)); err != nil {
			return fmt.Errorf("postgres: delete policy %q: credential: %w", name, err)
		}
		return nil
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangePolicies})
	}
	return err
}
