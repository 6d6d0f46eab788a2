// Package leases defines a DHCP lease and the small store interface the
// DHCP server needs. The checkin server's store implements it (SQLite,
// PostgreSQL) so that leases are durable and shared between replicas;
// Memory is the in-process implementation for tests and for running
// without a store. A journal-file store that the DHCP tests and the
// harness benchmark use is in leasetest: the product keeps its leases in
// the checkin server's store, in the same transactions and replicas as
// everything else.
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

// Queuer is implemented by stores that can queue a lease change and
// report its durability later, so that one goroutine handling many
// requests commits them together and then answers them all: fewer
// goroutines woken per lease than a PutLease call each.
type Queuer interface {
	// QueueLease queues l for writing as PutLease would write it; an
	// error (a bad lease, a closed store, an ErrConflict found at once)
	// means nothing was queued. wait blocks until the lease is durable
	// or ctx ends and returns what PutLease would have, ErrConflict
	// included when the store checks only as it writes (SQLite).
	QueueLease(l Lease) (wait func(ctx context.Context) error, err error)
}

// Table is an in-memory lease set: leases by MAC and the MAC holding each
// address, with the one-address-one-lease rule. Memory keeps one, and so
// does the journal store of the tests and the harness benchmark
// (leasetest.File). Callers lock around it; NewTable makes one.
type Table struct {
	m    map[string]Lease      // by MAC
	byIP map[netip.Addr]string // address → MAC
}

// NewTable returns an empty Table.
func NewTable() Table {
	return Table{m: map[string]Lease{}, byIP: map[netip.Addr]string{}}
}

// Conflict reports whether another MAC holds l's address with a lease
// that has not expired at now.
func (t *Table) Conflict(l Lease, now time.Time) bool {
	other, ok := t.byIP[l.IP]
	return ok && other != l.MAC && t.m[other].Expires.After(now)
}

// Put stores l, replacing the MAC's previous lease and dropping an
// (expired) other holder of the same address: one address, one lease.
func (t *Table) Put(l Lease) {
	if old, ok := t.m[l.MAC]; ok {
		delete(t.byIP, old.IP)
	}
	if other, ok := t.byIP[l.IP]; ok && other != l.MAC {
		delete(t.m, other)
	}
	t.m[l.MAC] = l
	t.byIP[l.IP] = l.MAC
}

// Del removes mac's lease and reports whether there was one.
func (t *Table) Del(mac string) bool {
	old, ok := t.m[mac]
	if ok {
		delete(t.byIP, old.IP)
		delete(t.m, mac)
	}
	return ok
}

// Get returns mac's lease or ErrNotFound.
func (t *Table) Get(mac string) (Lease, error) {
	l, ok := t.m[mac]
	if !ok {
		return Lease{}, ErrNotFound
	}
	return l, nil
}

// Len is the number of leases.
func (t *Table) Len() int { return len(t.m) }

// List returns every lease sorted by address.
func (t *Table) List() []Lease {
	out := make([]Lease, 0, len(t.m))
	for _, l := range t.m {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

// Memory is a Store kept in memory. Its zero value is ready to use.
type Memory struct {
	mu  sync.Mutex
	t   Table
	Now func() time.Time // defaults to time.Now
}

var _ Store = (*Memory)(nil)

func (s *Memory) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Memory) table() *Table {
	if s.t.m == nil {
		s.t = NewTable()
	}
	return &s.t
}

// PutLease implements Store.
func (s *Memory) PutLease(_ context.Context, l Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table()
	if t.Conflict(l, s.now()) {
		return ErrConflict
	}
	t.Put(l)
	return nil
}

// GetLease implements Store.
func (s *Memory) GetLease(_ context.Context, mac string) (Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table().Get(mac)
}

// ListLeases implements Store; the result is sorted by address.
func (s *Memory) ListLeases(context.Context) ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table().List(), nil
}

// DeleteLease implements Store; deleting a missing lease is not an error.
func (s *Memory) DeleteLease(_ context.Context, mac string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table().Del(mac)
	return nil
}
