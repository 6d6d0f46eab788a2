package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
)

// QueueCommand implements store.Store.
func (s *Store) QueueCommand(ctx context.Context, nodeID, name string, at time.Time) (store.Command, error) {
	seq, ok := nodeSeq(nodeID)
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
	seq, ok := nodeSeq(nodeID)
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
	seq, ok := nodeSeq(nodeID)
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

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, keys []string, token string, at time.Time) error {
	if len(keys) == 0 {
		return errors.New("postgres: token: no keys")
	}
	// Sorted and distinct: one upsert may not touch a row twice, and
	// concurrent upserts lock rows in the same order.
	ks := sortedSet(cleanAll(keys))
	err := s.do(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO tokens (key, token, issued) SELECT k, $2, $3 FROM unnest($1::text[]) AS k
			ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, issued = EXCLUDED.issued`, ks, clean(token), at)
		if err != nil {
			return fmt.Errorf("postgres: token for %v: %w", ks, err)
		}
		return nil
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangeTokens, Keys: ks})
	}
	return err
}

// GetToken implements store.Store.
func (s *Store) GetToken(ctx context.Context, keys []string) (store.Token, error) {
	var t store.Token
	if len(keys) == 0 {
		return t, fmt.Errorf("%w: no keys", store.ErrNotFound)
	}
	err := s.do(ctx, func(q querier) error {
		var issued pgtype.Timestamptz
		err := q.QueryRow(ctx, `SELECT key, token, issued FROM tokens WHERE key = ANY($1::text[])
			ORDER BY issued DESC, key COLLATE "C" LIMIT 1`, cleanAll(keys)).Scan(&t.Key, &t.Token, &issued)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no token for %v", store.ErrNotFound, keys)
		}
		if err != nil {
			return fmt.Errorf("postgres: token: %w", err)
		}
		t.Issued = fromTS(issued)
		return nil
	})
	return t, err
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	var out []store.Token
	err := s.do(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT key, token, issued FROM tokens ORDER BY key COLLATE "C"`)
		if err != nil {
			return fmt.Errorf("postgres: tokens: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Token, error) {
			var t store.Token
			var issued pgtype.Timestamptz
			err := row.Scan(&t.Key, &t.Token, &issued)
			t.Issued = fromTS(issued)
			return t, err
		})
		if err != nil {
			return fmt.Errorf("postgres: tokens: %w", err)
		}
		return nil
	})
	return out, err
}

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
	if t.Name == "" {
		return t, errors.New("postgres: tag without a name")
	}
	if !json.Valid(t.Rule) {
		return t, fmt.Errorf("postgres: tag %q: rule is not JSON", t.Name)
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

// CreatePolicy implements store.Store.
func (s *Store) CreatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	return s.putPolicy(ctx, p, true)
}

// UpdatePolicy implements store.Store.
func (s *Store) UpdatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	return s.putPolicy(ctx, p, false)
}

func (s *Store) putPolicy(ctx context.Context, p store.Policy, create bool) (store.Policy, error) {
	if p.Name == "" {
		return p, errors.New("postgres: policy without a name")
	}
	target, err := json.Marshal(p.Target)
	if err != nil {
		return p, fmt.Errorf("postgres: policy %q: target: %w", p.Name, err)
	}
	name := clean(p.Name)
	tags := sortedSet(cleanAll(p.Tags))
	var out store.Policy
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, tagLockKeys(tags...)); err != nil {
			return fmt.Errorf("postgres: policy %q: %w", name, err)
		}
		var tag pgconn.CommandTag
		var err error
		at := p.Updated
		if create {
			tag, err = tx.Exec(ctx, `INSERT INTO policies (name, rank, enabled, max_count, target, created, updated)
				VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING`, name, p.Order, p.Enabled, p.MaxCount, string(target), at)
		} else {
			tag, err = tx.Exec(ctx, `UPDATE policies SET rank = $2, enabled = $3, max_count = $4, target = $5, updated = $6
				WHERE name = $1`, name, p.Order, p.Enabled, p.MaxCount, string(target), at)
		}
		if err != nil {
			return fmt.Errorf("postgres: policy %q: %w", name, err)
		}
		switch {
		case tag.RowsAffected() == 0 && create:
			return fmt.Errorf("%w: policy %q", store.ErrExists, name)
		case tag.RowsAffected() == 0:
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM policy_tags WHERE policy = $1", name)
		b.Queue("INSERT INTO policy_tags (policy, tag) SELECT $1, t FROM unnest($2::text[]) AS t", name, tags)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: policy %q: tags: %w", name, err)
		}
		out, err = getPolicy(ctx, tx, name)
		return err
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangePolicies})
	}
	return out, err
}

const policyCols = `p.name, p.rank, p.enabled, p.max_count, p.target, p.created, p.updated,
	(SELECT count(*) FROM nodes n WHERE n.policy = p.name),
	COALESCE((SELECT array_agg(t.tag ORDER BY t.tag COLLATE "C") FROM policy_tags t WHERE t.policy = p.name), '{}')`

func loadPolicies(ctx context.Context, q querier, where string, args ...any) ([]store.Policy, error) {
	rows, err := q.Query(ctx, "SELECT "+policyCols+" FROM policies p "+where+` ORDER BY p.rank, p.name COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: policies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Policy, error) {
		var p store.Policy
		var target string
		var count int64
		var c, u pgtype.Timestamptz
		if err := row.Scan(&p.Name, &p.Order, &p.Enabled, &p.MaxCount, &target, &c, &u, &count, &p.Tags); err != nil {
			return p, err
		}
		if err := json.Unmarshal([]byte(target), &p.Target); err != nil {
			return p, fmt.Errorf("policy %q: target: %w", p.Name, err)
		}
		p.Count, p.Created, p.Updated = int(count), fromTS(c), fromTS(u)
		if p.Tags == nil {
			p.Tags = []string{}
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: policies: %w", err)
	}
	return out, nil
}

func getPolicy(ctx context.Context, q querier, name string) (store.Policy, error) {
	ps, err := loadPolicies(ctx, q, "WHERE p.name = $1", name)
	if err != nil {
		return store.Policy{}, err
	}
	if len(ps) == 0 {
		return store.Policy{}, fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
	}
	return ps[0], nil
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, name string) (store.Policy, error) {
	var p store.Policy
	err := s.do(ctx, func(q querier) (err error) {
		p, err = getPolicy(ctx, q, clean(name))
		return err
	})
	return p, err
}

// ListPolicies implements store.Store.
func (s *Store) ListPolicies(ctx context.Context) ([]store.Policy, error) {
	var ps []store.Policy
	err := s.do(ctx, func(q querier) (err error) {
		ps, err = loadPolicies(ctx, q, "")
		return err
	})
	return ps, err
}

// DeletePolicy implements store.Store. The policy's row lock keeps a
// concurrent Bind from binding to it meanwhile.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	name = clean(name)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM policies WHERE name = $1 FOR UPDATE", name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
		}
		if err != nil {
			return fmt.Errorf("postgres: delete policy %q: %w", name, err)
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM nodes WHERE policy = $1", name).Scan(&n); err != nil {
			return fmt.Errorf("postgres: delete policy %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: policy %q has %d bound nodes", store.ErrInUse, name, n)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM policies WHERE name = $1", name); err != nil {
			return fmt.Errorf("postgres: delete policy %q: %w", name, err)
		}
		return nil
	})
	if err == nil {
		s.announce(store.Change{Kind: store.ChangePolicies})
	}
	return err
}

// PutLease implements leases.Store: in one transaction it drops an
// expired holder of the address and upserts the MAC's lease; the unique
// address makes a concurrent PutLease of the same address by another MAC
// wait and then fail with leases.ErrConflict.
func (s *Store) PutLease(ctx context.Context, l leases.Lease) error {
	if l.MAC == "" || !l.IP.IsValid() {
		return fmt.Errorf("postgres: lease needs a MAC and an address: %+v", l)
	}
	mac, ip := clean(l.MAC), l.IP.String()
	return s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("DELETE FROM leases WHERE ip = $1::inet AND mac <> $2 AND expires <= $3", ip, mac, s.now())
		b.Queue(`INSERT INTO leases (mac, ip, hostname, expires) VALUES ($1, $2::inet, $3, $4)
			ON CONFLICT (mac) DO UPDATE SET ip = EXCLUDED.ip, hostname = EXCLUDED.hostname, expires = EXCLUDED.expires`,
			mac, ip, clean(l.Hostname), l.Expires)
		err := tx.SendBatch(ctx, b).Close()
		if code, constraint := pgCode(err); code == "23505" && constraint == "leases_ip_unique" {
			return fmt.Errorf("%w: %s", leases.ErrConflict, ip)
		}
		if err != nil {
			return fmt.Errorf("postgres: lease %s: %w", ip, err)
		}
		return nil
	})
}

func loadLeases(ctx context.Context, q querier, where string, args ...any) ([]leases.Lease, error) {
	rows, err := q.Query(ctx, "SELECT mac, host(ip), hostname, expires FROM leases "+where+" ORDER BY ip", args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leases.Lease, error) {
		var l leases.Lease
		var ip string
		var exp pgtype.Timestamptz
		if err := row.Scan(&l.MAC, &ip, &l.Hostname, &exp); err != nil {
			return l, err
		}
		var err error
		if l.IP, err = netip.ParseAddr(ip); err != nil {
			return l, fmt.Errorf("lease of %s: %w", l.MAC, err)
		}
		l.Expires = fromTS(exp)
		return l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", err)
	}
	return out, nil
}

// GetLease implements leases.Store.
func (s *Store) GetLease(ctx context.Context, mac string) (leases.Lease, error) {
	var ls []leases.Lease
	err := s.do(ctx, func(q querier) (err error) {
		ls, err = loadLeases(ctx, q, "WHERE mac = $1", clean(mac))
		return err
	})
	if err != nil {
		return leases.Lease{}, err
	}
	if len(ls) == 0 {
		return leases.Lease{}, fmt.Errorf("%w: %s", leases.ErrNotFound, mac)
	}
	return ls[0], nil
}

// ListLeases implements leases.Store; sorted by address.
func (s *Store) ListLeases(ctx context.Context) ([]leases.Lease, error) {
	var ls []leases.Lease
	err := s.do(ctx, func(q querier) (err error) {
		ls, err = loadLeases(ctx, q, "")
		return err
	})
	return ls, err
}

// DeleteLease implements leases.Store; deleting a missing lease is not an
// error.
func (s *Store) DeleteLease(ctx context.Context, mac string) error {
	return s.do(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, "DELETE FROM leases WHERE mac = $1", clean(mac)); err != nil {
			return fmt.Errorf("postgres: delete lease %s: %w", mac, err)
		}
		return nil
	})
}
