package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/server/store"
)

// strings1 runs a query returning one text column.
func strings1(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
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
	name := clean(t.Name)
	refs := sortedSet(cleanAll(t.Refs))
	var out store.Tag
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The refs must exist before the tag does: a new tag cannot
		// refer to itself.
		missing, err := strings1(ctx, tx, `SELECT r FROM unnest($1::text[]) AS r
			WHERE NOT EXISTS (SELECT 1 FROM tags WHERE name = r) ORDER BY r COLLATE "C" LIMIT 1`, refs)
		if err != nil {
			return fmt.Errorf("postgres: tag %q: %w", name, err)
		}
		var tag pgconn.CommandTag
		at := t.Updated
		if create {
			tag, err = tx.Exec(ctx, `INSERT INTO tags (name, rule, created, updated) VALUES ($1, $2, $3, $3)
				ON CONFLICT (name) DO NOTHING`, name, string(t.Rule), at)
		} else {
			tag, err = tx.Exec(ctx, "UPDATE tags SET rule = $2, updated = $3 WHERE name = $1", name, string(t.Rule), at)
		}
		if err != nil {
			return fmt.Errorf("postgres: tag %q: %w", name, err)
		}
		switch {
		case tag.RowsAffected() == 0 && create:
			return fmt.Errorf("%w: tag %q", store.ErrExists, name)
		case tag.RowsAffected() == 0:
			return fmt.Errorf("%w: tag %q", store.ErrNotFound, name)
		case len(missing) > 0:
			return fmt.Errorf("%w: %q", store.ErrUnknownRef, missing[0])
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM tag_refs WHERE tag = $1", name)
		// The foreign key locks each referenced tag against a concurrent
		// delete.
		b.Queue("INSERT INTO tag_refs (tag, ref) SELECT $1, r FROM unnest($2::text[]) AS r", name, refs)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			if code, _ := pgCode(err); code == "23503" {
				return fmt.Errorf("%w: one of %v (deleted meanwhile)", store.ErrUnknownRef, refs)
			}
			return fmt.Errorf("postgres: tag %q: refs: %w", name, err)
		}
		out, err = getTag(ctx, tx, name)
		return err
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeTags, ID: name})
	}
	return out, err
}

const tagCols = `t.name, t.rule, t.created, t.updated,
	COALESCE((SELECT array_agg(r.ref ORDER BY r.ref COLLATE "C") FROM tag_refs r WHERE r.tag = t.name), '{}')`

func loadTags(ctx context.Context, q querier, where string, args ...any) ([]store.Tag, error) {
	rows, err := q.Query(ctx, "SELECT "+tagCols+" FROM tags t "+where+` ORDER BY t.name COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: tags: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Tag, error) {
		var t store.Tag
		var rule string
		var c, u pgtype.Timestamptz
		err := row.Scan(&t.Name, &rule, &c, &u, &t.Refs)
		t.Rule, t.Created, t.Updated = json.RawMessage(rule), fromTS(c), fromTS(u)
		if t.Refs == nil {
			t.Refs = []string{}
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: tags: %w", err)
	}
	return out, nil
}

func getTag(ctx context.Context, q querier, name string) (store.Tag, error) {
	ts, err := loadTags(ctx, q, "WHERE t.name = $1", name)
	if err != nil {
		return store.Tag{}, err
	}
	if len(ts) == 0 {
		return store.Tag{}, fmt.Errorf("%w: tag %q", store.ErrNotFound, name)
	}
	return ts[0], nil
}

// GetTag implements store.Store.
func (s *Store) GetTag(ctx context.Context, name string) (store.Tag, error) {
	var t store.Tag
	err := s.do(ctx, func(q querier) (err error) {
		t, err = getTag(ctx, q, clean(name))
		return err
	})
	return t, err
}

// ListTags implements store.Store.
func (s *Store) ListTags(ctx context.Context) ([]store.Tag, error) {
	var ts []store.Tag
	err := s.do(ctx, func(q querier) (err error) {
		ts, err = loadTags(ctx, q, "")
		return err
	})
	return ts, err
}

// tagLockKeys are the advisory locks that keep a policy from requiring
// a tag while it is being deleted (policy_tags has no foreign key, since
// policies may require system tags).
func tagLockKeys(names ...string) []int64 { return lockKeys("tag", names...) }

// DeleteTag implements store.Store.
func (s *Store) DeleteTag(ctx context.Context, name string) error {
	name = clean(name)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, tagLockKeys(name)); err != nil {
			return fmt.Errorf("postgres: delete tag %q: %w", name, err)
		}
		pols, err := strings1(ctx, tx, `SELECT policy FROM policy_tags WHERE tag = $1 ORDER BY policy COLLATE "C"`, name)
		if err != nil {
			return fmt.Errorf("postgres: delete tag %q: %w", name, err)
		}
		if len(pols) > 0 {
			return fmt.Errorf("%w: tag %q is required by policies %s", store.ErrInUse, name, strings.Join(pols, ", "))
		}
		users, err := strings1(ctx, tx, `SELECT tag FROM tag_refs WHERE ref = $1 AND tag <> $1 ORDER BY tag COLLATE "C"`, name)
		if err != nil {
			return fmt.Errorf("postgres: delete tag %q: %w", name, err)
		}
		if len(users) > 0 {
			return fmt.Errorf("%w: tag %q is referred to by tags %s", store.ErrInUse, name, strings.Join(users, ", "))
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM tag_refs WHERE tag = $1", name)
		b.Queue("DELETE FROM tags WHERE name = $1", name)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("postgres: delete tag %q: %w", name, err)
		}
		tag, err := br.Exec()
		if code, _ := pgCode(err); code == "23503" {
			return fmt.Errorf("%w: tag %q is referred to by a tag created meanwhile", store.ErrInUse, name)
		}
		if err != nil {
			return fmt.Errorf("postgres: delete tag %q: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: tag %q", store.ErrNotFound, name)
		}
		return br.Close()
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeTags, ID: name})
	}
	return err
}
