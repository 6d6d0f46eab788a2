package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// QueueCommand implements store.Store.
func (s *Store) QueueCommand(ctx context.Context, nodeID, name string, at time.Time) (store.Command, error) {
	c := store.Command{NodeID: nodeID, Name: name, Queued: fromNS(ns(at))}
	_, err := s.updateNode(ctx, nodeID, func(tx *sql.Tx, seq, _ int64) error {
		return tx.QueryRowContext(ctx, "INSERT INTO commands (node_seq, name, queued_ns) VALUES (?, ?, ?) RETURNING id",
			seq, name, ns(at)).Scan(&c.ID)
	})
	return c, err
}

// PopCommand implements store.Store.
func (s *Store) PopCommand(ctx context.Context, nodeID string, at time.Time) (store.Command, error) {
	var c store.Command
	_, err := s.updateNode(ctx, nodeID, func(tx *sql.Tx, seq, _ int64) error {
		var queued int64
		err := tx.QueryRowContext(ctx, `SELECT id, name, queued_ns FROM commands WHERE node_seq = ? AND delivered_ns = 0
			ORDER BY id LIMIT 1`, seq).Scan(&c.ID, &c.Name, &queued)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no pending command for %s", store.ErrNotFound, nodeID)
		}
		if err != nil {
			return err
		}
		c.NodeID, c.Queued, c.Delivered = nodeID, fromNS(queued), fromNS(ns(at))
		_, err = tx.ExecContext(ctx, "UPDATE commands SET delivered_ns = ? WHERE id = ?", ns(at), c.ID)
		return err
	})
	if err != nil {
		return store.Command{}, err
	}
	return c, nil
}

// ListCommands implements store.Store.
func (s *Store) ListCommands(ctx context.Context, nodeID string) ([]store.Command, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return nil, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	if _, err := getNode(ctx, s.r, seq, false); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT id, name, queued_ns, delivered_ns FROM commands WHERE node_seq = ? ORDER BY id", seq)
	if err != nil {
		return nil, fmt.Errorf("sqlite: commands of %s: %w", nodeID, err)
	}
	defer rows.Close()
	out := []store.Command{}
	for rows.Next() {
		c := store.Command{NodeID: nodeID}
		var q, d int64
		if err := rows.Scan(&c.ID, &c.Name, &q, &d); err != nil {
			return nil, fmt.Errorf("sqlite: commands of %s: %w", nodeID, err)
		}
		c.Queued, c.Delivered = fromNS(q), fromNS(d)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CancelCommand implements store.Store.
func (s *Store) CancelCommand(ctx context.Context, nodeID string, id int64) (store.Command, error) {
	c := store.Command{ID: id, NodeID: nodeID}
	_, err := s.updateNode(ctx, nodeID, func(tx *sql.Tx, seq, _ int64) error {
		var q, d int64
		err := tx.QueryRowContext(ctx, "SELECT name, queued_ns, delivered_ns FROM commands WHERE node_seq = ? AND id = ?", seq, id).Scan(&c.Name, &q, &d)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: command %d of %s", store.ErrNotFound, id, nodeID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: cancel command %d: %w", id, err)
		}
		if d != 0 {
			return fmt.Errorf("%w: command %d of %s at %s", store.ErrDelivered, id, nodeID, fromNS(d).Format(time.RFC3339))
		}
		c.Queued = fromNS(q)
		if _, err := tx.ExecContext(ctx, "DELETE FROM commands WHERE id = ?", id); err != nil {
			return fmt.Errorf("sqlite: cancel command %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return store.Command{}, err
	}
	return c, nil
}

// ExpireCommands implements store.Store.
func (s *Store) ExpireCommands(ctx context.Context, before time.Time) ([]store.Command, error) {
	var out []store.Command
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = []store.Command{}
		rows, err := tx.QueryContext(ctx, `DELETE FROM commands WHERE delivered_ns = 0 AND queued_ns < ?
			RETURNING id, node_seq, name, queued_ns`, ns(before))
		if err != nil {
			return fmt.Errorf("sqlite: expire commands: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c store.Command
			var seq, q int64
			if err := rows.Scan(&c.ID, &seq, &c.Name, &q); err != nil {
				return fmt.Errorf("sqlite: expire commands: %w", err)
			}
			c.NodeID, c.Queued = store.NodeID(seq), fromNS(q)
			out = append(out, c)
		}
		return rows.Err()
	})
	slices.SortFunc(out, func(a, b store.Command) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}
