package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/razor-mk/razor-mk/server/store"
)

// eventLock serialises event writers across replicas: an id is taken and
// committed under it, so ids become visible in increasing order.
const eventLock = 0x72617a6f722d6576

// AppendEvents implements store.EventLog.
func (s *Store) AppendEvents(ctx context.Context, evs []store.Event) ([]store.Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]store.Event, len(evs))
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock($1)", int64(eventLock))
		for i, e := range evs {
			attrs := []byte("{}")
			if e.Attrs != nil {
				a := make(map[string]string, len(e.Attrs))
				for k, v := range e.Attrs {
					a[clean(k)] = clean(v)
				}
				var err error
				if attrs, err = json.Marshal(a); err != nil {
					return fmt.Errorf("postgres: event %s: %w", e.Type, err)
				}
			}
			e.Type, e.Node, e.MAC = clean(e.Type), clean(e.Node), clean(e.MAC)
			out[i] = e
			b.Queue("INSERT INTO events (at, type, node, mac, attrs) VALUES ($1, $2, $3, $4, $5) RETURNING id, at",
				e.At, e.Type, e.Node, e.MAC, string(attrs)).QueryRow(func(row pgx.Row) error {
				return row.Scan(&out[i].ID, &out[i].At)
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}

// ListEvents implements store.EventLog.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	args := []any{q.After}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"id > $1"}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(q.Since))
	}
	var who []string
	if q.Node != "" {
		who = append(who, "node = "+arg(clean(q.Node)))
	}
	if len(q.MACs) > 0 {
		who = append(who, "mac = ANY("+arg(cleanAll(q.MACs))+"::text[])")
	}
	if len(who) > 0 {
		where = append(where, "("+strings.Join(who, " OR ")+")")
	}
	if len(q.Types) > 0 {
		var ts []string
		for _, t := range q.Types {
			t = clean(t)
			ts = append(ts, "type = "+arg(t)+" OR left(type, "+arg(len(t)+1)+") = "+arg(t+"."))
		}
		where = append(where, "("+strings.Join(ts, " OR ")+")")
	}
	query := "SELECT id, at, type, node, mac, attrs FROM events WHERE " + strings.Join(where, " AND ") +
		" ORDER BY id LIMIT " + arg(q.EventLimit())
	if q.Newest {
		query = "SELECT * FROM (SELECT id, at, type, node, mac, attrs FROM events WHERE " + strings.Join(where, " AND ") +
			" ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args)) + ") x ORDER BY id"
	}
	var out []store.Event
	err := s.do(ctx, func(db querier) error {
		rows, err := db.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("postgres: events: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Event, error) {
			var e store.Event
			var attrs string
			if err := row.Scan(&e.ID, &e.At, &e.Type, &e.Node, &e.MAC, &attrs); err != nil {
				return e, err
			}
			e.At = e.At.UTC()
			if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
				return e, fmt.Errorf("event %d: attrs: %w", e.ID, err)
			}
			return e, nil
		})
		if err != nil {
			return fmt.Errorf("postgres: events: %w", err)
		}
		return nil
	})
	if out == nil && err == nil {
		out = []store.Event{}
	}
	return out, err
}

// PruneEvents implements store.EventLog.
func (s *Store) PruneEvents(ctx context.Context, r store.Retention, now time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		run := func(q string, args ...any) error {
			tag, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("postgres: prune events: %w", err)
			}
			n += tag.RowsAffected()
			return nil
		}
		if r.MaxAge > 0 {
			if err := run("DELETE FROM events WHERE at < $1", now.Add(-r.MaxAge)); err != nil {
				return err
			}
		}
		if r.PerNode > 0 {
			if err := run(`DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (
				PARTITION BY CASE WHEN node <> '' THEN node ELSE mac END ORDER BY id DESC) AS rn FROM events) x WHERE rn > $1)`, r.PerNode); err != nil {
				return err
			}
		}
		if r.Total > 0 {
			if err := run("DELETE FROM events WHERE id < (SELECT min(id) FROM (SELECT id FROM events ORDER BY id DESC LIMIT $1) x)", r.Total); err != nil {
				return err
			}
		}
		return nil
	})
	return int(n), err
}
