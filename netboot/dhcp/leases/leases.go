// Package leases defines a DHCP lease and the small store interface the
// DHCP server needs. The checkin server's store implements it (SQLite,
// PostgreSQL) so that leases are durable and shared between replicas;
// Memory is the in-process implementation for tests and for running
// without a store.
package leases

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Errors; callers use errors.Is.
var (
	// ErrNotFound: no lease for that MAC.
	ErrNotFound = errors.New("leases: not found")
	// ErrConflict: the address is held by another MAC under an unexpired
	// lease.
	ErrConflict = errors.New("leases: address held by another client")
)

// Lease binds an IPv4 address to a client MAC until Expires.
type Lease struct {
	// MAC is the client hardware address, upper-case, colon-separated
	// (AA:BB:CC:DD:EE:FF).
	MAC      string
	IP       netip.Addr
	Hostname string
	Expires  time.Time
}

// Store persists leases. PutLease is atomic: it inserts or replaces the
// lease of l.MAC, and fails with ErrConflict if another MAC holds l.IP with
// a lease that has not expired at the time of the call; a lease is durable
// when PutLease returns nil. A MAC holds at most one lease.
type Store interface {
	PutLease(ctx context.Context, l Lease) error
	GetLease(ctx context.Context, mac string) (Lease, error)
	ListLeases(ctx context.Context) ([]Lease, error)
	DeleteLease(ctx context.Context, mac string) error
}

// Memory is a Store kept in memory. Its zero value is ready to use.
type Memory struct {
	mu  sync.Mutex
	m   map[string]Lease
	Now func() time.Time // defaults to time.Now
}

var _ Store = (*Memory)(nil)

func (s *Memory) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// PutLease implements Store.
func (s *Memory) PutLease(_ context.Context, l Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for mac, o := range s.m {
		if mac != l.MAC && o.IP == l.IP && o.Expires.After(now) {
			return ErrConflict
		}
	}
	if s.m == nil {
		s.m = make(map[string]Lease)
	}
	// One address, one lease: drop an expired holder of the same address.
	for mac, o := range s.m {
		if mac != l.MAC && o.IP == l.IP {
			delete(s.m, mac)
		}
	}
	s.m[l.MAC] = l
	return nil
}

// GetLease implements Store.
func (s *Memory) GetLease(_ context.Context, mac string) (Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[mac]
	if !ok {
		return Lease{}, ErrNotFound
	}
	return l, nil
}

// ListLeases implements Store; the result is sorted by address.
func (s *Memory) ListLeases(context.Context) ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Lease, 0, len(s.m))
	for _, l := range s.m {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out, nil
}

// DeleteLease implements Store; deleting a missing lease is not an error.
func (s *Memory) DeleteLease(_ context.Context, mac string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, mac)
	return nil
}
