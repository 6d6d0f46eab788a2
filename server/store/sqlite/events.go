package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// AppendEvents implements store.EventLog.
func (s *Store) AppendEvents(ctx context.Context, evs []store.Event) ([]store.Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]store.Event, len(evs))
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i, e := range evs {
			attrs, err := json.Marshal(e.Attrs)
			if err != nil {
				return fmt.Errorf("sqlite: event %s: %w", e.Type, err)
			}
			if e.Attrs == nil {
				attrs = []byte("{}")
			}
			if err := tx.QueryRowContext(ctx, "INSERT INTO events (at_ns, type, node, mac, attrs) VALUES (?, ?, ?, ?, ?) RETURNING id",
				ns(e.At), e.Type, e.Node, e.MAC, string(attrs)).Scan(&e.ID); err != nil {
				return fmt.Errorf("sqlite: event %s: %w", e.Type, err)
			}
			e.At = fromNS(ns(e.At))
			out[i] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListEvents implements store.EventLog.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	where := []string{"id > ?"}
	args := []any{q.After}
	if !q.Since.IsZero() {
		where = append(where, "at_ns >= ?")
		args = append(args, ns(q.Since))
	}
	var who []string
	if q.Node != "" {
		who = append(who, "node = ?")
		args = append(args, q.Node)
	}
	if len(q.MACs) > 0 {
		who = append(who, "mac IN ("+placeholders(len(q.MACs))+")")
		args = append(args, anys(q.MACs)...)
	}
	if len(who) > 0 {
		where = append(where, "("+strings.Join(who, " OR ")+")")
	}
	if len(q.Types) > 0 {
		var ts []string
		for _, t := range q.Types {
			ts = append(ts, "type = ? OR substr(type, 1, ?) = ?")
			args = append(args, t, len(t)+1, t+".")
		}
		where = append(where, "("+strings.Join(ts, " OR ")+")")
	}
	args = append(args, q.EventLimit())
	query := "SELECT id, at_ns, type, node, mac, attrs FROM events WHERE " + strings.Join(where, " AND ") + " ORDER BY id LIMIT ?"
	if q.Newest {
		query = "SELECT * FROM (SELECT id, at_ns, type, node, mac, attrs FROM events WHERE " + strings.Join(where, " AND ") +
			" ORDER BY id DESC LIMIT ?) ORDER BY id"
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	defer rows.Close()
	out := []store.Event{}
	for rows.Next() {
		var e store.Event
		var at int64
		var attrs string
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.Node, &e.MAC, &attrs); err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		e.At = fromNS(at)
		if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
			return nil, fmt.Errorf("sqlite: event %d: attrs: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneEvents implements store.EventLog.
func (s *Store) PruneEvents(ctx context.Context, r store.Retention, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		run := func(q string, args ...any) error {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("sqlite: prune events: %w", err)
			}
			c, _ := res.RowsAffected()
			n += c
			return nil
		}
		if r.MaxAge > 0 {
			if err := run("DELETE FROM events WHERE at_ns < ?", ns(now.Add(-r.MaxAge))); err != nil {
				return err
			}
		}
		if r.PerNode > 0 {
			if err := run(`DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (
				PARTITION BY CASE WHEN node != '' THEN node ELSE mac END ORDER BY id DESC) AS rn FROM events) WHERE rn > ?)`, r.PerNode); err != nil {
				return err
			}
		}
		if r.Total > 0 {
			if err := run("DELETE FROM events WHERE id NOT IN (SELECT id FROM events ORDER BY id DESC LIMIT ?)", r.Total); err != nil {
				return err
			}
		}
		return nil
	})
	return int(n), err
}
