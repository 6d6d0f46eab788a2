package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/razor-mk/razor-mk/server/store"
)

// ErrNotEmpty: Import's target already holds data.
var ErrNotEmpty = errors.New("postgres: target store is not empty")

// ImportStats counts what Import copied.
type ImportStats struct {
	Nodes, MACs, Bound, Tags, Policies, Commands, Tokens, Leases int
	AdminTokens, BMCCredentials                                  int
}

// ImportOptions tune Import.
type ImportOptions struct {
	// NodeSeqFloor and CommandIDFloor are the highest node sequence
	// number and command id the source ever assigned, where it knows
	// (SQLite's sqlite_sequence): new ids continue after them, so that
	// the id of a deleted node is not given to another. By default new
	// ids continue after the highest imported one.
	NodeSeqFloor, CommandIDFloor int64
}

// Import copies everything src holds — nodes with their facts, MACs,
// bindings and boot states, tags, policies, commands (pending and
// delivered), boot tokens, admin tokens, sealed BMC credentials and DHCP
// leases — into this store, keeping
// node and command ids, revisions and times. It runs in one
// transaction, and only into an empty store (ErrNotEmpty otherwise), so
// a failed or repeated import changes nothing. src should not be in use
// meanwhile: its data are read with one call per kind.
func (s *Store) Import(ctx context.Context, src store.Store, o ImportOptions) (ImportStats, error) {
	var st ImportStats
	nodes, err := src.ListNodes(ctx, true)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read nodes: %w", err)
	}
	tags, err := src.ListTags(ctx)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read tags: %w", err)
	}
	policies, err := src.ListPolicies(ctx)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read policies: %w", err)
	}
	tokens, err := src.ListTokens(ctx)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read tokens: %w", err)
	}
	adminToks, err := src.ListAdminTokens(ctx)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read admin tokens: %w", err)
	}
	var adminRows [][]any
	for _, t := range adminToks {
		adminRows = append(adminRows, []any{clean(t.Name), string(t.Role), t.Hash[:], t.Created, ts(t.Revoked)})
	}
	creds, err := src.ListBMCCredentials(ctx)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read BMC credentials: %w", err)
	}
	var credRows [][]any
	for _, c := range creds {
		// The sealed passwords are copied as they are: the key file
		// (secret.key in the data directory) goes with them.
		credRows = append(credRows, []any{clean(c.Scope), clean(c.Host), c.Port, clean(c.Username), c.Sealed, c.Updated})
	}
	leaseList, err := src.ListLeases(ctx)
	if err != nil {
		return st, fmt.Errorf("postgres: import: read leases: %w", err)
	}
	var nodeRows, macRows, cmdRows [][]any
	for _, n := range nodes {
		seq, ok := store.NodeSeq(n.ID)
		if !ok {
			return st, fmt.Errorf("postgres: import: node id %q is not of the form node<N>", n.ID)
		}
		facts, err := json.Marshal(n.Facts)
		if err != nil {
			return st, fmt.Errorf("postgres: import: node %s: facts: %w", n.ID, err)
		}
		if n.Facts == nil {
			facts = []byte("{}")
		}
		var uuid, policy any
		if n.UUID != "" {
			uuid = clean(n.UUID)
		}
		if n.Policy != "" {
			policy = clean(n.Policy)
			st.Bound++
		}
		nodeRows = append(nodeRows, []any{seq, n.Rev, uuid, string(facts), clean(n.LastState), n.Created, n.Registered,
			ts(n.LastCheckin), policy, ts(n.BoundAt), clean(string(n.BootState)), ts(n.BootStateAt)})
		for _, m := range n.MACs {
			macRows = append(macRows, []any{clean(m), seq})
		}
		cmds, err := src.ListCommands(ctx, n.ID)
		if err != nil {
			return st, fmt.Errorf("postgres: import: read commands of %s: %w", n.ID, err)
		}
		for _, c := range cmds {
			cmdRows = append(cmdRows, []any{c.ID, seq, clean(c.Name), c.Queued, ts(c.Delivered)})
		}
	}
	var tagRows, refRows, polRows, polTagRows, tokRows, leaseRows [][]any
	for _, t := range tags {
		tagRows = append(tagRows, []any{clean(t.Name), string(t.Rule), t.Created, t.Updated})
		for _, r := range t.Refs {
			refRows = append(refRows, []any{clean(t.Name), clean(r)})
		}
	}
	for _, p := range policies {
		target, err := json.Marshal(p.Target)
		if err != nil {
			return st, fmt.Errorf("postgres: import: policy %q: target: %w", p.Name, err)
		}
		polRows = append(polRows, []any{clean(p.Name), p.Order, p.Enabled, p.MaxCount, string(target), p.Created, p.Updated})
		for _, t := range p.Tags {
			polTagRows = append(polTagRows, []any{clean(p.Name), clean(t)})
		}
	}
	for _, t := range tokens {
		tokRows = append(tokRows, []any{clean(t.Key), clean(t.Token), t.Issued})
	}
	for _, l := range leaseList {
		leaseRows = append(leaseRows, []any{clean(l.MAC), netip.PrefixFrom(l.IP, l.IP.BitLen()), clean(l.Hostname), l.Expires})
	}

	err = s.tx(ctx, func(tx pgx.Tx) error {
		var counts [6]int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM tags), (SELECT count(*) FROM policies),
			(SELECT count(*) FROM commands), (SELECT count(*) FROM tokens), (SELECT count(*) FROM leases)`).Scan(
			&counts[0], &counts[1], &counts[2], &counts[3], &counts[4], &counts[5]); err != nil {
			return fmt.Errorf("postgres: import: %w", err)
		}
		var held []string
		for i, what := range []string{"nodes", "tags", "policies", "commands", "tokens", "leases"} {
			if counts[i] > 0 {
				held = append(held, fmt.Sprintf("%d %s", counts[i], what))
			}
		}
		if len(held) > 0 {
			return fmt.Errorf("%w: it holds %s; import copies into an empty database only", ErrNotEmpty, strings.Join(held, ", "))
		}
		// Order matters for the foreign keys: tags before their refs,
		// policies before the nodes bound to them, nodes before MACs and
		// commands.
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"tags", []string{"name", "rule", "created", "updated"}, tagRows},
			{"tag_refs", []string{"tag", "ref"}, refRows},
			{"policies", []string{"name", "rank", "enabled", "max_count", "target", "created", "updated"}, polRows},
			{"policy_tags", []string{"policy", "tag"}, polTagRows},
			{"nodes", []string{"seq", "rev", "uuid", "facts", "last_state", "created", "registered", "checkin",
				"policy", "bound", "boot_state", "boot_state_at"}, nodeRows},
			{"node_macs", []string{"mac", "node_seq"}, macRows},
			{"commands", []string{"id", "node_seq", "name", "queued", "delivered"}, cmdRows},
			{"tokens", []string{"key", "token", "issued"}, tokRows},
			{"leases", []string{"mac", "ip", "hostname", "expires"}, leaseRows},
			{"admin_tokens", []string{"name", "role", "hash", "created", "revoked"}, adminRows},
			{"bmc_credentials", []string{"scope", "host", "port", "username", "sealed", "updated"}, credRows},
		} {
			if len(c.rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("postgres: import: %s: %w", c.table, err)
			}
		}
		// New ids and revisions continue after the imported ones.
		b := &pgx.Batch{}
		b.Queue(`SELECT setval(pg_get_serial_sequence('nodes', 'seq'), GREATEST(max(seq), $1))
			FROM nodes HAVING GREATEST(max(seq), $1) > 0`, o.NodeSeqFloor)
		b.Queue(`SELECT setval(pg_get_serial_sequence('commands', 'id'), GREATEST(max(id), $1))
			FROM commands HAVING GREATEST(max(id), $1) > 0`, o.CommandIDFloor)
		b.Queue("SELECT setval('node_rev', max(rev)) FROM nodes HAVING max(rev) > 0")
		err := tx.SendBatch(ctx, b).Close()
		if err != nil {
			return fmt.Errorf("postgres: import: sequences: %w", err)
		}
		return nil
	})
	if err != nil {
		return ImportStats{}, err
	}
	s.announce(store.Change{Kind: store.ChangeReset})
	st.Nodes, st.MACs, st.Tags, st.Policies = len(nodeRows), len(macRows), len(tagRows), len(polRows)
	st.Commands, st.Tokens, st.Leases, st.AdminTokens = len(cmdRows), len(tokRows), len(leaseRows), len(adminRows)
	st.BMCCredentials = len(credRows)
	return st, nil
}
