package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
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
	seq, ok := nodeSeq(nodeID)
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

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, keys []string, token string, at time.Time) error {
	if len(keys) == 0 {
		return errors.New("sqlite: token: no keys")
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (key, token, issued_ns) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET token = excluded.token, issued_ns = excluded.issued_ns`,
				k, token, ns(at)); err != nil {
				return fmt.Errorf("sqlite: token for %s: %w", k, err)
			}
		}
		return nil
	})
}

// GetToken implements store.Store.
func (s *Store) GetToken(ctx context.Context, keys []string) (store.Token, error) {
	var t store.Token
	if len(keys) == 0 {
		return t, fmt.Errorf("%w: no keys", store.ErrNotFound)
	}
	var issued int64
	err := s.r.QueryRowContext(ctx, "SELECT key, token, issued_ns FROM tokens WHERE key IN ("+placeholders(len(keys))+
		") ORDER BY issued_ns DESC, key LIMIT 1", anys(keys)...).Scan(&t.Key, &t.Token, &issued)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: no token for %v", store.ErrNotFound, keys)
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: token: %w", err)
	}
	t.Issued = fromNS(issued)
	return t, nil
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT key, token, issued_ns FROM tokens ORDER BY key")
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	out := []store.Token{}
	for rows.Next() {
		var t store.Token
		var issued int64
		if err := rows.Scan(&t.Key, &t.Token, &issued); err != nil {
			return nil, fmt.Errorf("sqlite: tokens: %w", err)
		}
		t.Issued = fromNS(issued)
		out = append(out, t)
	}
	return out, rows.Err()
}

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
	if t.Name == "" {
		return t, errors.New("sqlite: tag without a name")
	}
	if !json.Valid(t.Rule) {
		return t, fmt.Errorf("sqlite: tag %q: rule is not JSON", t.Name)
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
		return p, errors.New("sqlite: policy without a name")
	}
	target, err := json.Marshal(p.Target)
	if err != nil {
		return p, fmt.Errorf("sqlite: policy %q: target: %w", p.Name, err)
	}
	tags := sortedSet(p.Tags)
	var out store.Policy
	err = s.write(ctx, func(tx *sql.Tx) error {
		have, err := exists(ctx, tx, "SELECT 1 FROM policies WHERE name = ?", p.Name)
		if err != nil {
			return fmt.Errorf("sqlite: policy %q: %w", p.Name, err)
		}
		switch {
		case create && have:
			return fmt.Errorf("%w: policy %q", store.ErrExists, p.Name)
		case !create && !have:
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, p.Name)
		}
		at := ns(p.Updated)
		if create {
			_, err = tx.ExecContext(ctx, `INSERT INTO policies (name, rank, enabled, max_count, target, created_ns, updated_ns)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Name, p.Order, p.Enabled, p.MaxCount, string(target), at, at)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE policies SET rank = ?, enabled = ?, max_count = ?, target = ?, updated_ns = ?
				WHERE name = ?`, p.Order, p.Enabled, p.MaxCount, string(target), at, p.Name)
		}
		if err != nil {
			return fmt.Errorf("sqlite: policy %q: %w", p.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM policy_tags WHERE policy = ?", p.Name); err != nil {
			return fmt.Errorf("sqlite: policy %q: %w", p.Name, err)
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, "INSERT INTO policy_tags (policy, tag) VALUES (?, ?)", p.Name, t); err != nil {
				return fmt.Errorf("sqlite: policy %q: tag %q: %w", p.Name, t, err)
			}
		}
		out, err = getPolicy(ctx, tx, p.Name)
		return err
	})
	return out, err
}

func getPolicy(ctx context.Context, q querier, name string) (store.Policy, error) {
	ps, err := loadPolicies(ctx, q, "WHERE name = ?", name)
	if err != nil {
		return store.Policy{}, err
	}
	if len(ps) == 0 {
		return store.Policy{}, fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
	}
	return ps[0], nil
}

func loadPolicies(ctx context.Context, q querier, where string, args ...any) ([]store.Policy, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, rank, enabled, max_count, target, created_ns, updated_ns,
		(SELECT count(*) FROM nodes n WHERE n.policy = p.name),
		COALESCE((SELECT group_concat(tag, ',') FROM policy_tags t WHERE t.policy = p.name), '')
		FROM policies p `+where+" ORDER BY rank, name", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: policies: %w", err)
	}
	defer rows.Close()
	out := []store.Policy{}
	for rows.Next() {
		var p store.Policy
		var target, tags string
		var c, u int64
		if err := rows.Scan(&p.Name, &p.Order, &p.Enabled, &p.MaxCount, &target, &c, &u, &p.Count, &tags); err != nil {
			return nil, fmt.Errorf("sqlite: policies: %w", err)
		}
		if err := json.Unmarshal([]byte(target), &p.Target); err != nil {
			return nil, fmt.Errorf("sqlite: policy %q: target: %w", p.Name, err)
		}
		p.Created, p.Updated = fromNS(c), fromNS(u)
		p.Tags = []string{}
		if tags != "" {
			p.Tags = sortedSet(strings.Split(tags, ","))
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, name string) (store.Policy, error) {
	return getPolicy(ctx, s.r, name)
}

// ListPolicies implements store.Store.
func (s *Store) ListPolicies(ctx context.Context) ([]store.Policy, error) {
	return loadPolicies(ctx, s.r, "")
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM nodes WHERE policy = ?", name).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: delete policy %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: policy %q has %d bound nodes", store.ErrInUse, name, n)
		}
		r, err := tx.ExecContext(ctx, "DELETE FROM policies WHERE name = ?", name)
		if err != nil {
			return fmt.Errorf("sqlite: delete policy %q: %w", name, err)
		}
		if c, _ := r.RowsAffected(); c == 0 {
			return fmt.Errorf("%w: policy %q", store.ErrNotFound, name)
		}
		return nil
	})
}

// PutLease implements leases.Store.
func (s *Store) PutLease(ctx context.Context, l leases.Lease) error {
	if err := checkLease(l); err != nil {
		return err
	}
	return s.write(ctx, s.putLease(l))
}

// QueueLease implements leases.Queuer: the lease joins the writer's next
// transaction; wait returns its result (ErrConflict included) once that
// transaction has committed.
func (s *Store) QueueLease(l leases.Lease) (func(context.Context) error, error) {
	if err := checkLease(l); err != nil {
		return nil, err
	}
	o, err := s.queue(context.Background(), s.putLease(l))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		select {
		case err := <-o.done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("sqlite: waiting for lease %s: %w", l.IP, ctx.Err())
		}
	}, nil
}

func checkLease(l leases.Lease) error {
	if l.MAC == "" || !l.IP.IsValid() {
		return fmt.Errorf("sqlite: lease needs a MAC and an address: %+v", l)
	}
	return nil
}

// putLease is the write of one lease: refused when another MAC holds the
// address unexpired, else it replaces the MAC's lease and any expired
// holder of the address.
func (s *Store) putLease(l leases.Lease) func(tx *sql.Tx) error {
	ip := l.IP.String()
	return func(tx *sql.Tx) error {
		ctx := context.Background()
		now := ns(s.now())
		held, err := exists(ctx, tx, "SELECT 1 FROM leases WHERE ip = ? AND mac != ? AND expires_ns > ?", ip, l.MAC, now)
		if err != nil {
			return fmt.Errorf("sqlite: lease %s: %w", ip, err)
		}
		if held {
			return fmt.Errorf("%w: %s", leases.ErrConflict, ip)
		}
		// One address, one lease: drop an expired holder of the address.
		if _, err := tx.ExecContext(ctx, "DELETE FROM leases WHERE ip = ? AND mac != ?", ip, l.MAC); err != nil {
			return fmt.Errorf("sqlite: lease %s: %w", ip, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (mac, ip, hostname, expires_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (mac) DO UPDATE SET ip = excluded.ip, hostname = excluded.hostname, expires_ns = excluded.expires_ns`,
			l.MAC, ip, l.Hostname, ns(l.Expires))
		if err != nil {
			return fmt.Errorf("sqlite: lease %s: %w", ip, err)
		}
		return nil
	}
}

func loadLeases(ctx context.Context, q querier, where string, args ...any) ([]leases.Lease, error) {
	rows, err := q.QueryContext(ctx, "SELECT mac, ip, hostname, expires_ns FROM leases "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	defer rows.Close()
	out := []leases.Lease{}
	for rows.Next() {
		var l leases.Lease
		var ip string
		var exp int64
		if err := rows.Scan(&l.MAC, &ip, &l.Hostname, &exp); err != nil {
			return nil, fmt.Errorf("sqlite: leases: %w", err)
		}
		if l.IP, err = netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("sqlite: lease of %s: %w", l.MAC, err)
		}
		l.Expires = fromNS(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}

// GetLease implements leases.Store.
func (s *Store) GetLease(ctx context.Context, mac string) (leases.Lease, error) {
	ls, err := loadLeases(ctx, s.r, "WHERE mac = ?", mac)
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
	ls, err := loadLeases(ctx, s.r, "")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ls, func(a, b leases.Lease) int { return a.IP.Compare(b.IP) })
	return ls, nil
}

// DeleteLease implements leases.Store; deleting a missing lease is not an
// error.
func (s *Store) DeleteLease(ctx context.Context, mac string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM leases WHERE mac = ?", mac); err != nil {
			return fmt.Errorf("sqlite: delete lease %s: %w", mac, err)
		}
		return nil
	})
}
