package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/server/store"
)

// QueueCommand implements store.Store.
func (s *Store) QueueCommand(ctx context.Context, nodeID, name string, at time.Time) (store.Command, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Command{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	c := store.Command{NodeID: nodeID, Name: clean(name)}
	err := s.do(ctx, func(q querier) error {
		var queued pgtype.Timestamptz
		err := q.QueryRow(ctx, `INSERT INTO commands (node_seq, name, queued) SELECT seq, $2, $3 FROM nodes WHERE seq = $1
			RETURNING id, queued`, seq, c.Name, at).Scan(&c.ID, &queued)
		if code, _ := pgCode(err); errors.Is(err, pgx.ErrNoRows) || code == "23503" { // foreign_key_violation: deleted meanwhile
			return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
		}
		if err != nil {
			return fmt.Errorf("postgres: queue %s for %s: %w", name, nodeID, err)
		}
		c.Queued = fromTS(queued)
		return nil
	})
	if err != nil {
		return store.Command{}, err
	}
	s.announce(store.Change{Kind: store.ChangeNode, ID: nodeID})
	return c, nil
}

// PopCommand implements store.Store. SKIP LOCKED lets concurrent pops
// (from any replica) take different commands instead of one command
// twice or none.
func (s *Store) PopCommand(ctx context.Context, nodeID string, at time.Time) (store.Command, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Command{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	c := store.Command{NodeID: nodeID}
	err := s.do(ctx, func(q querier) error {
		var queued, delivered pgtype.Timestamptz
		err := q.QueryRow(ctx, `UPDATE commands SET delivered = $2 WHERE id = (
				SELECT id FROM commands WHERE node_seq = $1 AND delivered IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING id, name, queued, delivered`, seq, ts(at)).Scan(&c.ID, &c.Name, &queued, &delivered)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no pending command for %s", store.ErrNotFound, nodeID)
		}
		if err != nil {
			return fmt.Errorf("postgres: pop command of %s: %w", nodeID, err)
		}
		c.Queued, c.Delivered = fromTS(queued), fromTS(delivered)
		return nil
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
	var out []store.Command
	err := s.do(ctx, func(q querier) error {
		// One row with a NULL id: the node has no commands; no row: no node.
		rows, err := q.Query(ctx, `SELECT c.id, c.name, c.queued, c.delivered FROM nodes n
			LEFT JOIN commands c ON c.node_seq = n.seq WHERE n.seq = $1 ORDER BY c.id`, seq)
		if err != nil {
			return fmt.Errorf("postgres: commands of %s: %w", nodeID, err)
		}
		defer rows.Close()
		node := false
		out = []store.Command{}
		for rows.Next() {
			node = true
			var id pgtype.Int8
			var name pgtype.Text
			var queued, delivered pgtype.Timestamptz
			if err := rows.Scan(&id, &name, &queued, &delivered); err != nil {
				return fmt.Errorf("postgres: commands of %s: %w", nodeID, err)
			}
			if !id.Valid {
				continue
			}
			out = append(out, store.Command{ID: id.Int64, NodeID: nodeID, Name: name.String,
				Queued: fromTS(queued), Delivered: fromTS(delivered)})
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: commands of %s: %w", nodeID, err)
		}
		if !node {
			return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CancelCommand implements store.Store.
func (s *Store) CancelCommand(ctx context.Context, nodeID string, id int64) (store.Command, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Command{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	c := store.Command{ID: id, NodeID: nodeID}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var queued, delivered pgtype.Timestamptz
		err := tx.QueryRow(ctx, "SELECT name, queued, delivered FROM commands WHERE node_seq = $1 AND id = $2 FOR UPDATE",
			seq, id).Scan(&c.Name, &queued, &delivered)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: command %d of %s", store.ErrNotFound, id, nodeID)
		}
		if err != nil {
			return fmt.Errorf("postgres: cancel command %d: %w", id, err)
		}
		if delivered.Valid {
			return fmt.Errorf("%w: command %d of %s at %s", store.ErrDelivered, id, nodeID, fromTS(delivered).Format(time.RFC3339))
		}
		c.Queued = fromTS(queued)
		if _, err := tx.Exec(ctx, "DELETE FROM commands WHERE id = $1", id); err != nil {
			return fmt.Errorf("postgres: cancel command %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return store.Command{}, err
	}
	s.announce(store.Change{Kind: store.ChangeNode, ID: nodeID})
	return c, nil
}

// ExpireCommands implements store.Store. The DELETE's row locks make
// concurrent expiries (every replica runs one) return each command once.
func (s *Store) ExpireCommands(ctx context.Context, before time.Time) ([]store.Command, error) {
	var out []store.Command
	err := s.do(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `DELETE FROM commands WHERE delivered IS NULL AND queued < $1
			RETURNING id, node_seq, name, queued`, before)
		if err != nil {
			return fmt.Errorf("postgres: expire commands: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Command, error) {
			var c store.Command
			var seq int64
			var queued pgtype.Timestamptz
			err := row.Scan(&c.ID, &seq, &c.Name, &queued)
			c.NodeID, c.Queued = store.NodeID(seq), fromTS(queued)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("postgres: expire commands: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Command) int { return cmp.Compare(a.ID, b.ID) })
	for _, c := range out {
		s.announce(store.Change{Kind: store.ChangeNode, ID: c.NodeID})
	}
	if out == nil {
		out = []store.Command{}
	}
	return out, nil
}
