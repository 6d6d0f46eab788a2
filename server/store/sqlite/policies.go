package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

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
		return p, fmt.Errorf("sqlite: policy %q: target: %w", p.Name, err)
	}
	tags := sortedSet(p.Tags)
	var out store.Policy
	err = s.write(ctx, func(tx *sql.Tx) error {
		have, err := exists(ctx, tx, "SELECT 1 FROM policies WHERE name = ?", p.Name)
		if err != nil {
			return fmt.Errorf("sqlite: policy %q: %w", p.Name, err)
		}
		switch {
		case create && have:
			return fmt.Errorf("%w: policy %q", store.ErrExists, p.Name)
		case !create && !have:
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, p.Name)
		}
		at := ns(p.Updated)
		if create {
			_, err = tx.ExecContext(ctx, `INSERT INTO policies (name, rank, enabled, max_count, target, created_ns, updated_ns)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Name, p.Order, p.Enabled, p.MaxCount, string(target), at, at)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE policies SET rank = ?, enabled = ?, max_count = ?, target = ?, updated_ns = ?
				WHERE name = ?`, p.Order, p.Enabled, p.MaxCount, string(target), at, p.Name)
		}
		if err != nil {
			return fmt.Errorf("sqlite: policy %q: %w", p.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM policy_tags WHERE policy = ?", p.Name); err != nil {
			return fmt.Errorf("sqlite: policy %q: %w", p.Name, err)
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, "INSERT INTO policy_tags (policy, tag) VALUES (?, ?)", p.Name, t); err != nil {
				return fmt.Errorf("sqlite: policy %q: tag %q: %w", p.Name, t, err)
			}
		}
		out, err = getPolicy(ctx, tx, p.Name)
		return err
	})
	return out, err
}

func getPolicy(ctx context.Context, q querier, name string) (store.Policy, error) {
	ps, err := loadPolicies(ctx, q, "WHERE name = ?", name)
	if err != nil {
		return store.Policy{}, err
	}
	if len(ps) == 0 {
		return store.Policy{}, fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
	}
	return ps[0], nil
}

func loadPolicies(ctx context.Context, q querier, where string, args ...any) ([]store.Policy, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, rank, enabled, max_count, target, created_ns, updated_ns,
		(SELECT count(*) FROM nodes n WHERE n.policy = p.name),
		COALESCE((SELECT group_concat(tag, ',') FROM policy_tags t WHERE t.policy = p.name), '')
		FROM policies p `+where+" ORDER BY rank, name", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: policies: %w", err)
	}
	defer rows.Close()
	out := []store.Policy{}
	for rows.Next() {
		var p store.Policy
		var target, tags string
		var c, u int64
		if err := rows.Scan(&p.Name, &p.Order, &p.Enabled, &p.MaxCount, &target, &c, &u, &p.Count, &tags); err != nil {
			return nil, fmt.Errorf("sqlite: policies: %w", err)
		}
		if err := json.Unmarshal([]byte(target), &p.Target); err != nil {
			return nil, fmt.Errorf("sqlite: policy %q: target: %w", p.Name, err)
		}
		p.Created, p.Updated = fromNS(c), fromNS(u)
		p.Tags = []string{}
		if tags != "" {
			p.Tags = sortedSet(strings.Split(tags, ","))
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, name string) (store.Policy, error) {
	return getPolicy(ctx, s.r, name)
}

// ListPolicies implements store.Store.
func (s *Store) ListPolicies(ctx context.Context) ([]store.Policy, error) {
	return loadPolicies(ctx, s.r, "")
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM nodes WHERE policy = ?", name).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: delete policy %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: policy %q has %d bound nodes", store.ErrInUse, name, n)
		}
		r, err := tx.ExecContext(ctx, "DELETE FROM policies WHERE name = ?", name)
		if err != nil {
			return fmt.Errorf("sqlite: delete policy %q: %w", name, err)
		}
		if c, _ := r.RowsAffected(); c == 0 {
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM bmc_credentials WHERE scope = ?", store.PolicyScope(name)); err != nil {
			return fmt.Errorf("sqlite: delete policy %q: credential: %w", name, err)
		}
		return nil
	})
}
