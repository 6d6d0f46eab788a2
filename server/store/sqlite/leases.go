package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
)

// PutLease implements leases.Store.
func (s *Store) PutLease(ctx context.Context, l leases.Lease) error {
	if err := store.ValidateLease(l); err != nil {
		return err
	}
	return s.write(ctx, s.putLease(l))
}

// QueueLease implements leases.Queuer: the lease joins the writer's next
// transaction; wait returns its result (ErrConflict included) once that
// transaction has committed.
func (s *Store) QueueLease(l leases.Lease) (func(context.Context) error, error) {
	if err := store.ValidateLease(l); err != nil {
		return nil, err
	}
	o, err := s.queueOp(&op{ctx: context.Background(), fn: s.putLease(l), whole: true, lease: true})
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

// The statements of a lease write, prepared once (see prepared). A
// lease write is the DHCP server's hot path (one per ACK): two
// statements and no savepoint, where it was a savepoint, a check, a
// delete and an upsert (half the writer's time under perfdhcp).
const (
	// qLeaseDropExpired drops other MACs' expired leases of the address.
	qLeaseDropExpired = "DELETE FROM leases WHERE ip = ?1 AND mac != ?2 AND expires_ns <= ?3"
	// qLeasePut writes the MAC's lease unless another MAC still holds
	// the address (then it changes no row).
	qLeasePut = `INSERT INTO leases (mac, ip, hostname, expires_ns) SELECT ?1, ?2, ?3, ?4
			WHERE NOT EXISTS (SELECT 1 FROM leases WHERE ip = ?2 AND mac != ?1)
			ON CONFLICT (mac) DO UPDATE SET ip = excluded.ip, hostname = excluded.hostname, expires_ns = excluded.expires_ns`
)

// putLease is the write of one lease: refused when another MAC holds the
// address unexpired, else it replaces the MAC's lease and any expired
// holder of the address. It needs no savepoint (op.whole): when refused,
// it has only dropped expired leases of the address, which any write of
// the address would drop.
func (s *Store) putLease(l leases.Lease) func(tx *sql.Tx) error {
	ip := l.IP.String()
	return func(tx *sql.Tx) error {
		ctx := context.Background()
		q := s.prep(tx)
		if _, err := q.ExecContext(ctx, qLeaseDropExpired, ip, l.MAC, ns(s.now())); err != nil {
			return fmt.Errorf("sqlite: lease %s: %w", ip, err)
		}
		res, err := q.ExecContext(ctx, qLeasePut, l.MAC, ip, l.Hostname, ns(l.Expires))
		if err != nil {
			return fmt.Errorf("sqlite: lease %s: %w", ip, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: lease %s: %w", ip, err)
		} else if n == 0 {
			return fmt.Errorf("%w: %s", leases.ErrConflict, ip)
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
