package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/server/store"
)

// exists reports whether a row matches.
func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// names runs a query returning one text column.
func names(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// checkTags fails with ErrUnknownRef naming the first tag that does not
// exist.
func checkTags(ctx context.Context, tx *sql.Tx, tags []string) error {
	for _, t := range tags {
		ok, err := exists(ctx, tx, "SELECT 1 FROM tags WHERE name = ?", t)
		if err != nil {
			return fmt.Errorf("sqlite: tag %q: %w", t, err)
		}
		if !ok {
			return fmt.Errorf("%w: %q", store.ErrUnknownRef, t)
		}
	}
	return nil
}

func sortedSet(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// CreateTag implements store.Store.
func (s *Store) CreateTag(ctx context.Context, t store.Tag) (store.Tag, error) {
	return s.putTag(ctx, t, true)
}

// UpdateTag implements store.Store.
func (s *Store) UpdateTag(ctx context.Context, t store.Tag) (store.Tag, error) {
	return s.putTag(ctx, t, false)
}

func (s *Store) putTag(ctx context.Context, t store.Tag, create bool) (store.Tag, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	var out store.Tag
	refs := sortedSet(t.Refs)
	err := s.write(ctx, func(tx *sql.Tx) error {
		have, err := exists(ctx, tx, "SELECT 1 FROM tags WHERE name = ?", t.Name)
		if err != nil {
			return fmt.Errorf("sqlite: tag %q: %w", t.Name, err)
		}
		switch {
		case create && have:
			return fmt.Errorf("%w: tag %q", store.ErrExists, t.Name)
		case !create && !have:
			return fmt.Errorf("%w: tag %q", store.ErrNotFound, t.Name)
		}
		if err := checkTags(ctx, tx, refs); err != nil {
			return err
		}
		at := ns(t.Updated)
		if create {
			_, err = tx.ExecContext(ctx, "INSERT INTO tags (name, rule, created_ns, updated_ns) VALUES (?, ?, ?, ?)", t.Name, string(t.Rule), at, at)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE tags SET rule = ?, updated_ns = ? WHERE name = ?", string(t.Rule), at, t.Name)
		}
		if err != nil {
			return fmt.Errorf("sqlite: tag %q: %w", t.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM tag_refs WHERE tag = ?", t.Name); err != nil {
			return fmt.Errorf("sqlite: tag %q: %w", t.Name, err)
		}
		for _, r := range refs {
			if _, err := tx.ExecContext(ctx, "INSERT INTO tag_refs (tag, ref) VALUES (?, ?)", t.Name, r); err != nil {
				return fmt.Errorf("sqlite: tag %q: ref %q: %w", t.Name, r, err)
			}
		}
		out, err = getTag(ctx, tx, t.Name)
		return err
	})
	return out, err
}

func getTag(ctx context.Context, q querier, name string) (store.Tag, error) {
	ts, err := loadTags(ctx, q, "WHERE name = ?", name)
	if err != nil {
		return store.Tag{}, err
	}
	if len(ts) == 0 {
		return store.Tag{}, fmt.Errorf("%w: tag %q", store.ErrNotFound, name)
	}
	return ts[0], nil
}

func loadTags(ctx context.Context, q querier, where string, args ...any) ([]store.Tag, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, rule, created_ns, updated_ns,
		COALESCE((SELECT group_concat(ref, ',') FROM tag_refs r WHERE r.tag = t.name), '')
		FROM tags t `+where+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tags: %w", err)
	}
	defer rows.Close()
	out := []store.Tag{}
	for rows.Next() {
		var t store.Tag
		var rule, refs string
		var c, u int64
		if err := rows.Scan(&t.Name, &rule, &c, &u, &refs); err != nil {
			return nil, fmt.Errorf("sqlite: tags: %w", err)
		}
		t.Rule, t.Created, t.Updated = json.RawMessage(rule), fromNS(c), fromNS(u)
		t.Refs = []string{}
		if refs != "" {
			t.Refs = sortedSet(strings.Split(refs, ","))
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// GetTag implements store.Store.
func (s *Store) GetTag(ctx context.Context, name string) (store.Tag, error) {
	return getTag(ctx, s.r, name)
}

// ListTags implements store.Store.
func (s *Store) ListTags(ctx context.Context) ([]store.Tag, error) {
	return loadTags(ctx, s.r, "")
}

// DeleteTag implements store.Store.
func (s *Store) DeleteTag(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		pols, err := names(ctx, tx, "SELECT policy FROM policy_tags WHERE tag = ? ORDER BY policy", name)
		if err != nil {
			return fmt.Errorf("sqlite: delete tag %q: %w", name, err)
		}
		if len(pols) > 0 {
			return fmt.Errorf("%w: tag %q is required by policies %s", store.ErrInUse, name, strings.Join(pols, ", "))
		}
		users, err := names(ctx, tx, "SELECT tag FROM tag_refs WHERE ref = ? AND tag != ? ORDER BY tag", name, name)
		if err != nil {
			return fmt.Errorf("sqlite: delete tag %q: %w", name, err)
		}
		if len(users) > 0 {
			return fmt.Errorf("%w: tag %q is referred to by tags %s", store.ErrInUse, name, strings.Join(users, ", "))
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM tag_refs WHERE tag = ?", name); err != nil {
			return fmt.Errorf("sqlite: delete tag %q: %w", name, err)
		}
		r, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE name = ?", name)
		if err != nil {
			return fmt.Errorf("sqlite: delete tag %q: %w", name, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: tag %q", store.ErrNotFound, name)
		}
		return nil
	})
}
