package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// nodeCols are a node's columns over nodeFrom; the last state is the
// later one of the last registration's and the last checkin's.
const nodeCols = `n.seq, n.rev, COALESCE(n.uuid, ''),
	CASE WHEN COALESCE(k.checkin_ns, 0) > n.registered_ns THEN k.last_state ELSE n.last_state END,
	n.created_ns, n.registered_ns,
	COALESCE(k.checkin_ns, 0), COALESCE(n.policy, ''), n.bound_ns, n.boot_state, n.boot_state_ns,
	(SELECT count(*) FROM commands c WHERE c.node_seq = n.seq AND c.delivered_ns = 0),
	COALESCE((SELECT group_concat(m.mac, ',') FROM node_macs m WHERE m.node_seq = n.seq), '')`

const nodeFrom = " FROM nodes n LEFT JOIN node_checkins k ON k.node_seq = n.seq "

// loadNodes runs SELECT nodeCols [, facts] nodeFrom <where> and scans
// the rows.
func loadNodes(ctx context.Context, q querier, withFacts bool, where string, args ...any) ([]store.Node, error) {
	cols := nodeCols
	if withFacts {
		cols += ", n.facts"
	}
	rows, err := q.QueryContext(ctx, "SELECT "+cols+nodeFrom+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: nodes: %w", err)
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		var (
			n                                             store.Node
			seq                                           int64
			created, registered, checkin, bound, bootedAt int64
			state, macs, facts                            string
		)
		dest := []any{&seq, &n.Rev, &n.UUID, &n.LastState, &created, &registered, &checkin,
			&n.Policy, &bound, &state, &bootedAt, &n.Pending, &macs}
		if withFacts {
			dest = append(dest, &facts)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: nodes: %w", err)
		}
		n.ID = store.NodeID(seq)
		n.Created, n.Registered, n.LastCheckin = fromNS(created), fromNS(registered), fromNS(checkin)
		n.BoundAt, n.BootState, n.BootStateAt = fromNS(bound), store.BootState(state), fromNS(bootedAt)
		n.MACs = []string{}
		if macs != "" {
			n.MACs = strings.Split(macs, ",")
			slices.Sort(n.MACs)
		}
		if withFacts {
			if err := json.Unmarshal([]byte(facts), &n.Facts); err != nil {
				return nil, fmt.Errorf("sqlite: node %s: facts: %w", n.ID, err)
			}
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: nodes: %w", err)
	}
	return out, nil
}

func getNode(ctx context.Context, q querier, seq int64, withFacts bool) (store.Node, error) {
	ns, err := loadNodes(ctx, q, withFacts, "WHERE n.seq = ?", seq)
	if err != nil {
		return store.Node{}, err
	}
	if len(ns) == 0 {
		return store.Node{}, fmt.Errorf("%w: node %s", store.ErrNotFound, store.NodeID(seq))
	}
	return ns[0], nil
}

// Queries of the register path, prepared once (see prepared).
const (
	qNodeByUUID  = "SELECT seq FROM nodes WHERE uuid = ?"
	qMACOwner    = "SELECT node_seq FROM node_macs WHERE mac = ?"
	qNodeIdent   = "SELECT COALESCE(uuid, ''), created_ns, COALESCE(policy, '') FROM nodes WHERE seq = ?"
	qMACsOf      = "SELECT mac FROM node_macs WHERE node_seq = ? ORDER BY mac"
	qNextRev     = "UPDATE meta SET value = value + 1 WHERE key = 'rev' RETURNING value"
	qSetRev      = "UPDATE nodes SET rev = ? WHERE seq = ?"
	qDeleteMAC   = "DELETE FROM node_macs WHERE mac = ?"
	qInsertMAC   = "INSERT INTO node_macs (mac, node_seq) VALUES (?, ?)"
	qDeleteNode  = "DELETE FROM nodes WHERE seq = ?"
	qNodeBySeq   = "SELECT " + nodeCols + nodeFrom + "WHERE n.seq = ?"
	qNodeFactsBy = "SELECT " + nodeCols + ", n.facts" + nodeFrom + "WHERE n.seq = ?"
	qUpdateReg   = `UPDATE nodes SET rev = ?, facts = ?, last_state = ?, registered_ns = ?,
		uuid = COALESCE(NULLIF(?, ''), uuid) WHERE seq = ?`
	qInsertNode = `INSERT INTO nodes (rev, uuid, facts, last_state, created_ns, registered_ns)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`
	// qTouch records a checkin of an existing node unless a later one is
	// recorded already.
	qTouch = `INSERT INTO node_checkins (node_seq, checkin_ns, last_state)
		SELECT seq, ?, ? FROM nodes WHERE seq = ?
		ON CONFLICT (node_seq) DO UPDATE SET checkin_ns = excluded.checkin_ns, last_state = excluded.last_state
		WHERE excluded.checkin_ns > node_checkins.checkin_ns`
)

// prepared lists the statements Open prepares on the writer connection.
var prepared = []string{qNodeByUUID, qMACOwner, qNodeIdent, qMACsOf, qNextRev, qSetRev, qDeleteMAC,
	qInsertMAC, qDeleteNode, qNodeBySeq, qNodeFactsBy, qUpdateReg, qInsertNode, qTouch,
	qLeaseDropExpired, qLeasePut, qInsertEvents, qSavepoint, qRelease, qRollbackTo}

// ident is what identity matching needs of a node.
type ident struct {
	seq     int64
	uuid    string
	created int64
	policy  string
	macs    []string
}

// candidates returns, by sequence number, the nodes that carry uuid or
// any of macs, as far as identity matching needs them. It runs one small
// indexed query per key rather than one query with OR and IN, which
// would scan.
func candidates(ctx context.Context, q querier, uuid string, macs []string) (map[int64]*ident, error) {
	found := map[int64]*ident{}
	var seqs []int64
	add := func(query, key string) error {
		var seq int64
		err := q.QueryRowContext(ctx, query, key).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlite: lookup %s: %w", key, err)
		}
		if _, ok := found[seq]; !ok {
			found[seq] = &ident{seq: seq}
			seqs = append(seqs, seq)
		}
		return nil
	}
	if uuid != "" {
		if err := add(qNodeByUUID, uuid); err != nil {
			return nil, err
		}
	}
	for _, m := range macs {
		if err := add(qMACOwner, m); err != nil {
			return nil, err
		}
	}
	for _, seq := range seqs {
		id := found[seq]
		if err := q.QueryRowContext(ctx, qNodeIdent, seq).Scan(&id.uuid, &id.created, &id.policy); err != nil {
			return nil, fmt.Errorf("sqlite: node %s: %w", store.NodeID(seq), err)
		}
		ms, err := names(ctx, q, qMACsOf, seq)
		if err != nil {
			return nil, fmt.Errorf("sqlite: MACs of %s: %w", store.NodeID(seq), err)
		}
		id.macs = ms
	}
	return found, nil
}

// match applies store.Match to candidates.
func match(uuid string, macs []string, cands map[int64]*ident) (*ident, bool) {
	ns := make([]store.Node, 0, len(cands))
	for _, c := range cands {
		ns = append(ns, store.Node{ID: store.NodeID(c.seq), UUID: c.uuid, MACs: c.macs, Created: fromNS(c.created)})
	}
	n, ok := store.Match(uuid, macs, ns)
	if !ok {
		return nil, false
	}
	seq, _ := store.NodeSeq(n.ID)
	return cands[seq], true
}

// RegisterNode implements store.Store.
func (s *Store) RegisterNode(ctx context.Context, r store.Registration) (store.RegisterResult, error) {
	var res store.RegisterResult
	if r.UUID == "" && len(r.MACs) == 0 {
		return res, errors.New("sqlite: register: no uuid and no MAC")
	}
	facts, err := json.Marshal(r.Facts)
	if err != nil {
		return res, fmt.Errorf("sqlite: register: facts: %w", err)
	}
	if r.Facts == nil {
		facts = []byte("{}")
	}
	macs := store.MergeMACs(nil, r.MACs)
	err = s.write(ctx, func(tx *sql.Tx) error {
		q := s.prep(tx)
		res = store.RegisterResult{}
		cands, err := candidates(ctx, q, r.UUID, macs)
		if err != nil {
			return err
		}
		rev, err := nextRev(ctx, q)
		if err != nil {
			return err
		}
		at := ns(r.At)
		var seq int64
		var have []string
		if n, ok := match(r.UUID, macs, cands); ok {
			seq, have = n.seq, n.macs
			if _, err := q.ExecContext(ctx, qUpdateReg, rev, string(facts), r.LastState, at, r.UUID, seq); err != nil {
				return fmt.Errorf("sqlite: register: update node %s: %w", store.NodeID(seq), err)
			}
		} else {
			var uuid any
			if r.UUID != "" {
				uuid = r.UUID
			}
			if err := q.QueryRowContext(ctx, qInsertNode, rev, uuid, string(facts), r.LastState, at, at).Scan(&seq); err != nil {
				return fmt.Errorf("sqlite: register: insert node: %w", err)
			}
			res.Created = true
		}
		// A MAC is never held by two nodes: take these from the others.
		var others []int64
		for _, m := range macs {
			if slices.Contains(have, m) {
				continue
			}
			held := false
			for o, c := range cands {
				if o != seq && slices.Contains(c.macs, m) {
					held = true
					if !slices.Contains(others, o) {
						others = append(others, o)
					}
				}
			}
			// cands holds every node with one of these MACs, read in this
			// transaction: a MAC no candidate holds has no row to delete.
			if held {
				if _, err := q.ExecContext(ctx, qDeleteMAC, m); err != nil {
					return fmt.Errorf("sqlite: register: release MAC %s: %w", m, err)
				}
			}
			if _, err := q.ExecContext(ctx, qInsertMAC, m, seq); err != nil {
				return fmt.Errorf("sqlite: register: MAC %s: %w", m, err)
			}
		}
		slices.Sort(others)
		for _, o := range others {
			c := cands[o]
			left := slices.DeleteFunc(slices.Clone(c.macs), func(m string) bool { return slices.Contains(macs, m) })
			if len(left) == 0 && c.uuid == "" && c.policy == "" {
				if _, err := q.ExecContext(ctx, qDeleteNode, o); err != nil {
					return fmt.Errorf("sqlite: register: delete duplicate %s: %w", store.NodeID(o), err)
				}
				res.Deleted = append(res.Deleted, store.NodeID(o))
				continue
			}
			orev, err := nextRev(ctx, q)
			if err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, qSetRev, orev, o); err != nil {
				return fmt.Errorf("sqlite: register: %w", err)
			}
			on, err := getNode(ctx, q, o, false)
			if err != nil {
				return err
			}
			res.Changed = append(res.Changed, on)
		}
		// The facts are the ones just written: not read back; a new node
		// is not read back at all.
		if res.Created {
			res.Node = store.Node{ID: store.NodeID(seq), Rev: rev, UUID: r.UUID, MACs: append([]string{}, macs...),
				LastState: r.LastState, Created: fromNS(at), Registered: fromNS(at)}
		} else {
			res.Node, err = getNode(ctx, q, seq, false)
		}
		res.Node.Facts = maps.Clone(r.Facts)
		if res.Node.Facts == nil {
			res.Node.Facts = map[string]string{}
		}
		return err
	})
	return res, err
}

// GetNode implements store.Store.
func (s *Store) GetNode(ctx context.Context, id string) (store.Node, error) {
	seq, ok := store.NodeSeq(id)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: node %q", store.ErrNotFound, id)
	}
	return getNode(ctx, s.r, seq, true)
}

// FindNode implements store.Store.
func (s *Store) FindNode(ctx context.Context, uuid string, macs []string) (store.Node, error) {
	cands, err := candidates(ctx, s.r, uuid, macs)
	if err != nil {
		return store.Node{}, err
	}
	n, ok := match(uuid, macs, cands)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: no node with uuid %q or MACs %v", store.ErrNotFound, uuid, macs)
	}
	return getNode(ctx, s.r, n.seq, true)
}

// ListNodes implements store.Store.
func (s *Store) ListNodes(ctx context.Context, withFacts bool) ([]store.Node, error) {
	ns, err := loadNodes(ctx, s.r, withFacts, "ORDER BY n.created_ns, n.seq")
	if ns == nil && err == nil {
		ns = []store.Node{}
	}
	return ns, err
}

var _ store.FactLister = (*Store)(nil)

// ListNodesFacts implements store.FactLister: every node's ID, revision
// and the named facts only, oldest first. SQLite picks the facts
// out of each node's JSON, so that evaluating a few rules over many
// nodes neither decodes every fact nor gathers every node's MACs and
// commands.
func (s *Store) ListNodesFacts(ctx context.Context, names []string) ([]store.Node, error) {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	expr := "'{}'"
	if len(names) > 0 {
		expr = "(SELECT json_group_object(key, value) FROM json_each(n.facts) WHERE key IN (?" + strings.Repeat(",?", len(names)-1) + "))"
	}
	rows, err := s.r.QueryContext(ctx, "SELECT n.seq, n.rev, "+expr+" FROM nodes n ORDER BY n.created_ns, n.seq", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: nodes: %w", err)
	}
	defer rows.Close()
	out := []store.Node{}
	for rows.Next() {
		var (
			n     store.Node
			seq   int64
			facts string
		)
		if err := rows.Scan(&seq, &n.Rev, &facts); err != nil {
			return nil, fmt.Errorf("sqlite: nodes: %w", err)
		}
		n.ID = store.NodeID(seq)
		if err := json.Unmarshal([]byte(facts), &n.Facts); err != nil {
			return nil, fmt.Errorf("sqlite: node %s: facts: %w", n.ID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: nodes: %w", err)
	}
	return out, nil
}

// DeleteNode implements store.Store.
func (s *Store) DeleteNode(ctx context.Context, id string) error {
	seq, ok := store.NodeSeq(id)
	if !ok {
		return fmt.Errorf("%w: node %q", store.ErrNotFound, id)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "DELETE FROM nodes WHERE seq = ?", seq)
		if err != nil {
			return fmt.Errorf("sqlite: delete node %s: %w", id, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: node %s", store.ErrNotFound, id)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM bmc_credentials WHERE scope = ?", store.NodeScope(id)); err != nil {
			return fmt.Errorf("sqlite: delete node %s: credential: %w", id, err)
		}
		return nil
	})
}

// TouchNodes implements store.Store.
func (s *Store) TouchNodes(ctx context.Context, cs []store.Checkin) error {
	if len(cs) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		q := s.prep(tx)
		for _, c := range cs {
			seq, ok := store.NodeSeq(c.NodeID)
			if !ok {
				continue
			}
			at := ns(c.At)
			if _, err := q.ExecContext(ctx, qTouch, at, c.LastState, seq); err != nil {
				return fmt.Errorf("sqlite: touch %s: %w", c.NodeID, err)
			}
		}
		return nil
	})
}

// Bind implements store.Store.
func (s *Store) Bind(ctx context.Context, nodeID string, cands []string, at time.Time) (store.Node, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	var n store.Node
	err := s.write(ctx, func(tx *sql.Tx) error {
		var cur sql.NullString
		if err := tx.QueryRowContext(ctx, "SELECT policy FROM nodes WHERE seq = ?", seq).Scan(&cur); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
			}
			return fmt.Errorf("sqlite: bind %s: %w", nodeID, err)
		}
		if cur.Valid {
			return fmt.Errorf("%w: %s to %q", store.ErrBound, nodeID, cur.String)
		}
		for _, name := range cands {
			var enabled bool
			var maxCount, count int
			err := tx.QueryRowContext(ctx, `SELECT enabled, max_count, (SELECT count(*) FROM nodes WHERE policy = p.name)
				FROM policies p WHERE name = ?`, name).Scan(&enabled, &maxCount, &count)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlite: bind %s: policy %q: %w", nodeID, name, err)
			}
			if !enabled || (maxCount > 0 && count >= maxCount) {
				continue
			}
			rev, err := nextRev(ctx, s.prep(tx))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE nodes SET rev = ?, policy = ?, bound_ns = ?, boot_state = '', boot_state_ns = 0
				WHERE seq = ?`, rev, name, ns(at), seq); err != nil {
				return fmt.Errorf("sqlite: bind %s to %q: %w", nodeID, name, err)
			}
			n, err = getNode(ctx, tx, seq, false)
			return err
		}
		return fmt.Errorf("%w: node %s, candidates %v", store.ErrNoRoom, nodeID, cands)
	})
	return n, err
}

// Unbind implements store.Store.
func (s *Store) Unbind(ctx context.Context, nodeID string) (store.Node, error) {
	return s.updateNode(ctx, nodeID, func(tx *sql.Tx, seq, rev int64) error {
		_, err := tx.ExecContext(ctx, `UPDATE nodes SET rev = ?, policy = NULL, bound_ns = 0, boot_state = '', boot_state_ns = 0
			WHERE seq = ?`, rev, seq)
		return err
	})
}

// SetBootState implements store.Store.
func (s *Store) SetBootState(ctx context.Context, nodeID, policy string, state store.BootState, at time.Time) (store.Node, error) {
	return s.updateNode(ctx, nodeID, func(tx *sql.Tx, seq, rev int64) error {
		r, err := tx.ExecContext(ctx, "UPDATE nodes SET rev = ?, boot_state = ?, boot_state_ns = ? WHERE seq = ? AND policy = ?",
			rev, string(state), ns(at), seq, policy)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: node %s is not bound to %q", store.ErrStale, nodeID, policy)
		}
		return nil
	})
}

// updateNode runs fn on an existing node with a fresh revision and
// returns the node afterwards (without facts).
func (s *Store) updateNode(ctx context.Context, nodeID string, fn func(tx *sql.Tx, seq, rev int64) error) (store.Node, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	var n store.Node
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM nodes WHERE seq = ?", seq).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
			}
			return fmt.Errorf("sqlite: node %s: %w", nodeID, err)
		}
		rev, err := nextRev(ctx, s.prep(tx))
		if err != nil {
			return err
		}
		if err := fn(tx, seq, rev); err != nil {
			if errors.Is(err, store.ErrStale) {
				return err
			}
			return fmt.Errorf("sqlite: node %s: %w", nodeID, err)
		}
		n, err = getNode(ctx, tx, seq, false)
		return err
	})
	return n, err
}
