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

// Events are inserted eventsPerInsert rows to a statement: a DHCP
// exchange is an event, so under load this runs thousands of rows a
// second, and one statement per row was a quarter of the server's CPU.
// The full-size statement is prepared once (see prepared).
const eventsPerInsert = 64

var qInsertEvents = insertEvents(eventsPerInsert)

func insertEvents(n int) string {
	return "INSERT INTO events (at_ns, type, node, mac, attrs) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", n), ",")
}

// AppendEvents implements store.EventLog. The events are encoded before
// they reach the writer, and written eventsPerInsert to a write, each its
// own op: a lease write queued meanwhile waits for one such write, not
// for hundreds of rows (the writer commits leases first, see writer).
// When it fails, the chunks before the failing one may be written.
func (s *Store) AppendEvents(ctx context.Context, evs []store.Event) ([]store.Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]store.Event, len(evs))
	var ops []*op
	for start := 0; start < len(evs); start += eventsPerInsert {
		chunk := evs[start:min(start+eventsPerInsert, len(evs))]
		args := make([]any, 0, 5*len(chunk))
		for _, e := range chunk {
			attrs := []byte("{}")
			if e.Attrs != nil {
				var err error
				if attrs, err = json.Marshal(e.Attrs); err != nil {
					return nil, fmt.Errorf("sqlite: event %s: %w", e.Type, err)
				}
			}
			args = append(args, ns(e.At), e.Type, e.Node, e.MAC, string(attrs))
		}
		query := qInsertEvents
		if len(chunk) < eventsPerInsert {
			query = insertEvents(len(chunk))
		}
		dst := out[start : start+len(chunk)]
		o, err := s.queue(ctx, func(tx *sql.Tx) error {
			res, err := s.prep(tx).ExecContext(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("sqlite: events: %w", err)
			}
			// One statement inserts its rows in order, and this writer
			// holds the database: the AUTOINCREMENT ids are consecutive,
			// ending at the last insert id.
			last, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("sqlite: events: %w", err)
			}
			for i, e := range chunk {
				e.ID = last - int64(len(chunk)-1-i)
				e.At = fromNS(ns(e.At))
				dst[i] = e
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	var first error
	for _, o := range ops {
		if err := <-o.done; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
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
