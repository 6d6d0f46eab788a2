package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/server/store"
)

// nodeCols selects a node from a relation named n (the nodes table, or a
// CTE returning its rows).
const nodeCols = `n.seq, n.rev, COALESCE(n.uuid, ''), n.last_state, n.created, n.registered, n.checkin,
	COALESCE(n.policy, ''), n.bound, n.boot_state, n.boot_state_at,
	(SELECT count(*) FROM commands c WHERE c.node_seq = n.seq AND c.delivered IS NULL),
	COALESCE((SELECT array_agg(m.mac ORDER BY m.mac COLLATE "C") FROM node_macs m WHERE m.node_seq = n.seq), '{}')`

// scanNode reads a row of nodeCols [, n.facts].
func scanNode(row pgx.Row, withFacts bool) (store.Node, error) {
	var (
		n                                      store.Node
		seq, pending                           int64
		created, registered, checkin, bound, b pgtype.Timestamptz
		state                                  string
		facts                                  []byte
	)
	dest := []any{&seq, &n.Rev, &n.UUID, &n.LastState, &created, &registered, &checkin,
		&n.Policy, &bound, &state, &b, &pending, &n.MACs}
	if withFacts {
		dest = append(dest, &facts)
	}
	if err := row.Scan(dest...); err != nil {
		return n, err
	}
	n.ID = store.NodeID(seq)
	n.Created, n.Registered, n.LastCheckin = fromTS(created), fromTS(registered), fromTS(checkin)
	n.BoundAt, n.BootState, n.BootStateAt = fromTS(bound), store.BootState(state), fromTS(b)
	n.Pending = int(pending)
	if n.MACs == nil {
		n.MACs = []string{}
	}
	if withFacts {
		if err := json.Unmarshal(facts, &n.Facts); err != nil {
			return n, fmt.Errorf("node %s: facts: %w", n.ID, err)
		}
		if n.Facts == nil {
			n.Facts = map[string]string{}
		}
	}
	return n, nil
}

// loadNodes runs SELECT nodeCols [, facts] FROM nodes n <where>.
func loadNodes(ctx context.Context, q querier, withFacts bool, where string, args ...any) ([]store.Node, error) {
	cols := nodeCols
	if withFacts {
		cols += ", n.facts"
	}
	rows, err := q.Query(ctx, "SELECT "+cols+" FROM nodes n "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	defer rows.Close()
	out := []store.Node{}
	for rows.Next() {
		n, err := scanNode(rows, withFacts)
		if err != nil {
			return nil, fmt.Errorf("postgres: nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	return out, nil
}

func getNode(ctx context.Context, q querier, seq int64, withFacts bool) (store.Node, error) {
	ns, err := loadNodes(ctx, q, withFacts, "WHERE n.seq = $1", seq)
	if err != nil {
		return store.Node{}, err
	}
	if len(ns) == 0 {
		return store.Node{}, fmt.Errorf("%w: node %s", store.ErrNotFound, store.NodeID(seq))
	}
	return ns[0], nil
}

// candidateWhere selects the nodes carrying the UUID $2 or any MAC of $1.
const candidateWhere = `n.seq IN (SELECT node_seq FROM node_macs WHERE mac = ANY($1::text[])
	UNION SELECT seq FROM nodes WHERE uuid = $2)`

// ident is what identity matching needs of a node.
type ident struct {
	seq     int64
	uuid    string
	created time.Time
	policy  string
	macs    []string
}

// match applies store.Match to candidates.
func match(uuid string, macs []string, cands []ident) (ident, bool) {
	ns := make([]store.Node, len(cands))
	for i, c := range cands {
		ns[i] = store.Node{ID: store.NodeID(c.seq), UUID: c.uuid, MACs: c.macs, Created: c.created}
	}
	n, ok := store.Match(uuid, macs, ns)
	if !ok {
		return ident{}, false
	}
	i := slices.IndexFunc(cands, func(c ident) bool { return store.NodeID(c.seq) == n.ID })
	return cands[i], true
}

// RegisterNode implements store.Store.
//
// Registrations that share a MAC or the UUID are serialised by advisory
// locks on those keys; the nodes involved are then row-locked in id
// order and read afresh, so the merge works on committed, stable data.
// A registration that involves at most one existing node (nearly all)
// runs as one statement (razor_register); the others merge in Go with
// store.Match.
func (s *Store) RegisterNode(ctx context.Context, r store.Registration) (store.RegisterResult, error) {
	var res store.RegisterResult
	if r.UUID == "" && len(r.MACs) == 0 {
		return res, errors.New("postgres: register: no uuid and no MAC")
	}
	facts := []byte("{}")
	if r.Facts != nil {
		var err error
		if facts, err = json.Marshal(r.Facts); err != nil {
			return res, fmt.Errorf("postgres: register: facts: %w", err)
		}
	}
	macs := store.MergeMACs(nil, r.MACs)
	keyNames := make([]string, 0, len(macs)+1)
	for _, m := range macs {
		keyNames = append(keyNames, "mac:"+m)
	}
	if r.UUID != "" {
		keyNames = append(keyNames, "uuid:"+r.UUID)
	}
	keys := lockKeys("node", keyNames...)
	state := clean(r.LastState)
	res, fast, err := s.registerSimple(ctx, keys, macs, r, facts, state)
	if err != nil || fast {
		if err == nil {
			s.announce(store.Change{Kind: store.ChangeNode, ID: res.Node.ID})
		}
		return res, err
	}
	err = s.pipelined(ctx, func(tx *ptx) error {
		res = store.RegisterResult{}
		b := &pgx.Batch{}
		b.Queue(lockSQL, keys)
		b.Queue("SELECT n.seq FROM nodes n WHERE "+candidateWhere+" ORDER BY n.seq FOR UPDATE", macs, r.UUID)
		b.Queue(`SELECT n.seq, COALESCE(n.uuid, ''), n.created, COALESCE(n.policy, ''),
			COALESCE((SELECT array_agg(m.mac ORDER BY m.mac COLLATE "C") FROM node_macs m WHERE m.node_seq = n.seq), '{}')
			FROM nodes n WHERE `+candidateWhere+" ORDER BY n.seq", macs, r.UUID)
		cands, err := func() ([]ident, error) {
			br, err := tx.send(ctx, b)
			if err != nil {
				return nil, fmt.Errorf("begin: %w", err)
			}
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return nil, fmt.Errorf("lock keys: %w", err)
			}
			if _, err := br.Exec(); err != nil {
				return nil, fmt.Errorf("lock nodes: %w", err)
			}
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ident, error) {
				var c ident
				var created pgtype.Timestamptz
				err := row.Scan(&c.seq, &c.uuid, &created, &c.policy, &c.macs)
				c.created = fromTS(created)
				return c, err
			})
		}()
		if err != nil {
			return fmt.Errorf("postgres: register: %w", err)
		}

		b = &pgx.Batch{}
		m, found := match(r.UUID, macs, cands)
		var newMACs []string // the MACs this node does not hold yet
		for _, mac := range macs {
			if !found || !slices.Contains(m.macs, mac) {
				newMACs = append(newMACs, mac)
			}
		}
		claim := `m AS (INSERT INTO node_macs (mac, node_seq) SELECT x, (SELECT seq FROM n) FROM unnest($1::text[]) AS x
			ON CONFLICT (mac) DO UPDATE SET node_seq = EXCLUDED.node_seq)`
		if found {
			b.Queue(`WITH n AS (UPDATE nodes SET rev = nextval('node_rev'), facts = $2, last_state = $3, registered = $4,
				uuid = COALESCE(NULLIF($5, ''), uuid) WHERE seq = $6 RETURNING *), `+claim+`
				SELECT `+nodeCols+", n.facts FROM n", newMACs, string(facts), state, r.At, r.UUID, m.seq)
		} else {
			b.Queue(`WITH n AS (INSERT INTO nodes (rev, uuid, facts, last_state, created, registered)
				VALUES (nextval('node_rev'), NULLIF($5, ''), $2, $3, $4, $4) RETURNING *), `+claim+`
				SELECT `+nodeCols+", n.facts FROM n", newMACs, string(facts), state, r.At, r.UUID)
		}
		// A MAC is never held by two nodes: the others lose the claimed
		// ones; a duplicate left with nothing is removed.
		type other struct {
			seq    int64
			delete bool
		}
		var others []other
		for _, c := range cands {
			if found && c.seq == m.seq {
				continue
			}
			lost := slices.ContainsFunc(c.macs, func(x string) bool { return slices.Contains(newMACs, x) })
			if !lost {
				continue
			}
			left := slices.DeleteFunc(slices.Clone(c.macs), func(x string) bool { return slices.Contains(macs, x) })
			o := other{seq: c.seq, delete: len(left) == 0 && c.uuid == "" && c.policy == ""}
			if o.delete {
				b.Queue("DELETE FROM nodes WHERE seq = $1", c.seq)
			} else {
				b.Queue("UPDATE nodes AS n SET rev = nextval('node_rev') WHERE n.seq = $1 RETURNING "+nodeCols, c.seq)
			}
			others = append(others, o)
		}
		br, err := tx.sendCommit(ctx, b)
		if err != nil {
			return fmt.Errorf("postgres: register: %w", err)
		}
		defer br.Close()
		if res.Node, err = scanNode(br.QueryRow(), true); err != nil {
			return fmt.Errorf("postgres: register: %w", err)
		}
		res.Created = !found
		res.Node.MACs = store.MergeMACs(m.macs, macs)
		if !found {
			res.Node.MACs = macs
		}
		for _, o := range others {
			if o.delete {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("postgres: register: delete duplicate %s: %w", store.NodeID(o.seq), err)
				}
				res.Deleted = append(res.Deleted, store.NodeID(o.seq))
				continue
			}
			n, err := scanNode(br.QueryRow(), false)
			if err != nil {
				return fmt.Errorf("postgres: register: node %s: %w", store.NodeID(o.seq), err)
			}
			res.Changed = append(res.Changed, n)
		}
		if err := tx.commit(br); err != nil {
			return fmt.Errorf("postgres: register: commit: %w", err)
		}
		return nil
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeNode, ID: res.Node.ID})
		for _, n := range res.Changed {
			s.announce(store.Change{Kind: store.ChangeNode, ID: n.ID})
		}
		for _, id := range res.Deleted {
			s.announce(store.Change{Kind: store.ChangeNodeDeleted, ID: id})
		}
	}
	return res, err
}

// extraRow scans more columns after the ones asked for.
type extraRow struct {
	pgx.Row
	extra []any
}

func (r extraRow) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.extra...)...) }

// registerSimple registers in one statement (razor_register, schema 2)
// when at most one existing node is involved; fast is false, with nothing
// changed, when the general merge is needed.
func (s *Store) registerSimple(ctx context.Context, keys []int64, macs []string, r store.Registration, facts []byte, state string) (res store.RegisterResult, fast bool, err error) {
	err = s.do(ctx, func(q querier) error {
		rows, err := q.Query(ctx, "SELECT * FROM razor_register($1, $2, $3, $4, $5, $6)", keys, macs, r.UUID, string(facts), state, r.At)
		if err != nil {
			return fmt.Errorf("postgres: register: %w", err)
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return fmt.Errorf("postgres: register: %w", err)
			}
			return nil
		}
		var created bool
		if res.Node, err = scanNode(extraRow{rows, []any{&created}}, false); err != nil {
			return fmt.Errorf("postgres: register: %w", err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: register: %w", err)
		}
		res.Created, fast = created, true
		return nil
	})
	if err != nil || !fast {
		return store.RegisterResult{}, false, err
	}
	if err := json.Unmarshal(facts, &res.Node.Facts); err != nil {
		return store.RegisterResult{}, false, fmt.Errorf("postgres: register: facts: %w", err)
	}
	return res, true, nil
}

// GetNode implements store.Store.
func (s *Store) GetNode(ctx context.Context, id string) (store.Node, error) {
	seq, ok := store.NodeSeq(id)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: node %q", store.ErrNotFound, id)
	}
	var n store.Node
	err := s.do(ctx, func(q querier) (err error) {
		n, err = getNode(ctx, q, seq, true)
		return err
	})
	return n, err
}

// FindNode implements store.Store.
func (s *Store) FindNode(ctx context.Context, uuid string, macs []string) (store.Node, error) {
	var ns []store.Node
	err := s.do(ctx, func(q querier) (err error) {
		ns, err = loadNodes(ctx, q, true, "WHERE "+candidateWhere, macs, uuid)
		return err
	})
	if err != nil {
		return store.Node{}, err
	}
	n, ok := store.Match(uuid, macs, ns)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: no node with uuid %q or MACs %v", store.ErrNotFound, uuid, macs)
	}
	return n, nil
}

// ListNodes implements store.Store.
func (s *Store) ListNodes(ctx context.Context, withFacts bool) ([]store.Node, error) {
	var ns []store.Node
	err := s.do(ctx, func(q querier) (err error) {
		ns, err = loadNodes(ctx, q, withFacts, "ORDER BY n.created, n.seq")
		return err
	})
	return ns, err
}

var _ store.FactLister = (*Store)(nil)

// ListNodesFacts implements store.FactLister: PostgreSQL picks the named
// facts out of each node's JSON.
func (s *Store) ListNodesFacts(ctx context.Context, names []string) ([]store.Node, error) {
	if names == nil {
		names = []string{}
	}
	var out []store.Node
	err := s.do(ctx, func(q querier) error {
		out = []store.Node{}
		rows, err := q.Query(ctx, `SELECT n.seq, n.rev,
			COALESCE((SELECT json_object_agg(f.key, f.value) FROM json_each_text(n.facts) f WHERE f.key = ANY($1)), '{}'::json)
			FROM nodes n ORDER BY n.created, n.seq`, names)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				n     store.Node
				seq   int64
				facts []byte
			)
			if err := rows.Scan(&seq, &n.Rev, &facts); err != nil {
				return err
			}
			n.ID = store.NodeID(seq)
			if err := json.Unmarshal(facts, &n.Facts); err != nil {
				return fmt.Errorf("node %s: facts: %w", n.ID, err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	return out, nil
}

// DeleteNode implements store.Store.
func (s *Store) DeleteNode(ctx context.Context, id string) error {
	seq, ok := store.NodeSeq(id)
	if !ok {
		return fmt.Errorf("%w: node %q", store.ErrNotFound, id)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM nodes WHERE seq = $1", seq)
		if err != nil {
			return fmt.Errorf("postgres: delete node %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: node %s", store.ErrNotFound, id)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM bmc_credentials WHERE scope = $1", store.NodeScope(id)); err != nil {
			return fmt.Errorf("postgres: delete node %s: credential: %w", id, err)
		}
		return nil
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeNodeDeleted, ID: id})
	}
	return err
}

// TouchNodes implements store.Store. The nodes are locked in id order
// first, so that batches from several replicas cannot deadlock.
func (s *Store) TouchNodes(ctx context.Context, cs []store.Checkin) error {
	latest := map[int64]store.Checkin{}
	for _, c := range cs {
		seq, ok := store.NodeSeq(c.NodeID)
		if !ok {
			continue
		}
		if o, ok := latest[seq]; !ok || c.At.After(o.At) {
			latest[seq] = c
		}
	}
	if len(latest) == 0 {
		return nil
	}
	seqs := make([]int64, 0, len(latest))
	for seq := range latest {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	ats := make([]pgtype.Timestamptz, len(seqs))
	states := make([]string, len(seqs))
	for i, seq := range seqs {
		ats[i], states[i] = ts(latest[seq].At), clean(latest[seq].LastState)
	}
	return s.pipelined(ctx, func(tx *ptx) error {
		b := &pgx.Batch{}
		b.Queue("SELECT seq FROM nodes WHERE seq = ANY($1::bigint[]) ORDER BY seq FOR NO KEY UPDATE", seqs)
		b.Queue(`UPDATE nodes AS n SET checkin = v.at, last_state = v.st
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS v(seq, at, st)
			WHERE n.seq = v.seq AND (n.checkin IS NULL OR n.checkin < v.at)`, seqs, ats, states)
		br, err := tx.sendCommit(ctx, b)
		if err == nil {
			_, err = br.Exec()
			if err == nil {
				_, err = br.Exec()
			}
			if cerr := tx.commit(br); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("postgres: touch %d nodes: %w", len(seqs), err)
		}
		return nil
	})
}

// Bind implements store.Store. The node row is locked, then each
// candidate policy's row: binds to one policy are serialised across all
// replicas, so counting and binding cannot overshoot max_count.
func (s *Store) Bind(ctx context.Context, nodeID string, cands []string, at time.Time) (store.Node, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	var n store.Node
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cur pgtype.Text
		err := tx.QueryRow(ctx, "SELECT policy FROM nodes WHERE seq = $1 FOR NO KEY UPDATE", seq).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
		}
		if err != nil {
			return fmt.Errorf("postgres: bind %s: %w", nodeID, err)
		}
		if cur.Valid {
			return fmt.Errorf("%w: %s to %q", store.ErrBound, nodeID, cur.String)
		}
		for _, name := range cands {
			var enabled bool
			var maxCount, count int
			err := tx.QueryRow(ctx, "SELECT enabled, max_count FROM policies WHERE name = $1 FOR UPDATE", name).Scan(&enabled, &maxCount)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("postgres: bind %s: policy %q: %w", nodeID, name, err)
			}
			if !enabled {
				continue
			}
			if maxCount > 0 {
				if err := tx.QueryRow(ctx, "SELECT count(*) FROM nodes WHERE policy = $1", name).Scan(&count); err != nil {
					return fmt.Errorf("postgres: bind %s: policy %q: %w", nodeID, name, err)
				}
				if count >= maxCount {
					continue
				}
			}
			n, err = scanNode(tx.QueryRow(ctx, `UPDATE nodes AS n SET rev = nextval('node_rev'), policy = $2, bound = $3,
				boot_state = '', boot_state_at = NULL WHERE n.seq = $1 RETURNING `+nodeCols, seq, name, ts(at)), false)
			if err != nil {
				return fmt.Errorf("postgres: bind %s to %q: %w", nodeID, name, err)
			}
			return nil
		}
		return fmt.Errorf("%w: node %s, candidates %v", store.ErrNoRoom, nodeID, cands)
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeNode, ID: n.ID})
	}
	return n, err
}

// Unbind implements store.Store.
func (s *Store) Unbind(ctx context.Context, nodeID string) (store.Node, error) {
	return s.updateNode(ctx, nodeID, "policy = NULL, bound = NULL, boot_state = '', boot_state_at = NULL", "")
}

// SetBootState implements store.Store.
func (s *Store) SetBootState(ctx context.Context, nodeID, policy string, state store.BootState, at time.Time) (store.Node, error) {
	return s.updateNode(ctx, nodeID, "boot_state = $3, boot_state_at = $4", "AND n.policy = $2", policy, string(state), ts(at))
}

// updateNode sets columns of an existing node with a fresh revision and
// returns it (without facts). With a condition (on $2…), a node that
// exists but does not meet it gives ErrStale.
func (s *Store) updateNode(ctx context.Context, nodeID, set, cond string, args ...any) (store.Node, error) {
	seq, ok := store.NodeSeq(nodeID)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: node %q", store.ErrNotFound, nodeID)
	}
	var n store.Node
	err := s.do(ctx, func(q querier) error {
		var err error
		n, err = scanNode(q.QueryRow(ctx, "UPDATE nodes AS n SET rev = nextval('node_rev'), "+set+
			" WHERE n.seq = $1 "+cond+" RETURNING "+nodeCols, append([]any{seq}, args...)...), false)
		if !errors.Is(err, pgx.ErrNoRows) {
			if err != nil {
				return fmt.Errorf("postgres: node %s: %w", nodeID, err)
			}
			return nil
		}
		if cond == "" {
			return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
		}
		var one int
		err = q.QueryRow(ctx, "SELECT 1 FROM nodes WHERE seq = $1", seq).Scan(&one)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: node %s", store.ErrNotFound, nodeID)
		case err != nil:
			return fmt.Errorf("postgres: node %s: %w", nodeID, err)
		}
		return fmt.Errorf("%w: node %s is not bound to %q", store.ErrStale, nodeID, args[0])
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeNode, ID: n.ID})
	}
	return n, err
}

// sortedSet returns xs sorted without duplicates, never nil.
func sortedSet(xs []string) []string {
	out := slices.Clone(xs)
	slices.SortFunc(out, cmp.Compare)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}
