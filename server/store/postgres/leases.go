package postgres

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
)

// PutLease implements leases.Store: in one transaction it drops an
// expired holder of the address and upserts the MAC's lease; the unique
// address makes a concurrent PutLease of the same address by another MAC
// wait and then fail with leases.ErrConflict.
func (s *Store) PutLease(ctx context.Context, l leases.Lease) error {
	if err := store.ValidateLease(l); err != nil {
		return err
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
