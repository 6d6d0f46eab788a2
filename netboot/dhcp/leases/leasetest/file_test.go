package leasetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

func lease(mac, ip string, exp time.Time) leases.Lease {
	return leases.Lease{MAC: mac, IP: netip.MustParseAddr(ip), Expires: exp}
}

// testStore runs the leases.Store contract against any implementation.
func testStore(t *testing.T, s leases.Store, now time.Time) {
	ctx := context.Background()
	a := lease("AA:00:00:00:00:01", "10.0.0.10", now.Add(time.Hour))
	if err := s.PutLease(ctx, a); err != nil {
		t.Fatalf("PutLease(%v) = %v, want nil", a, err)
	}
	b := lease("AA:00:00:00:00:02", "10.0.0.10", now.Add(time.Hour))
	if err := s.PutLease(ctx, b); !errors.Is(err, leases.ErrConflict) {
		t.Fatalf("PutLease(%v) = %v, want ErrConflict", b, err)
	}
	// An expired holder gives the address up.
	c := lease("AA:00:00:00:00:03", "10.0.0.11", now.Add(-time.Minute))
	if err := s.PutLease(ctx, c); err != nil {
		t.Fatalf("PutLease(%v) = %v, want nil", c, err)
	}
	d := lease("AA:00:00:00:00:04", "10.0.0.11", now.Add(time.Hour))
	if err := s.PutLease(ctx, d); err != nil {
		t.Fatalf("PutLease(%v) = %v, want nil", d, err)
	}
	if _, err := s.GetLease(ctx, c.MAC); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("GetLease(%s) error = %v, want leases.ErrNotFound (replaced holder)", c.MAC, err)
	}
	// Moving a MAC to a new address frees the old one.
	a2 := lease(a.MAC, "10.0.0.12", now.Add(time.Hour))
	if err := s.PutLease(ctx, a2); err != nil {
		t.Fatalf("PutLease(%v) = %v, want nil", a2, err)
	}
	if err := s.PutLease(ctx, b); err != nil {
		t.Fatalf("PutLease(%v) after move = %v, want nil", b, err)
	}
	got, err := s.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []leases.Lease{b, d, a2}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) })); diff != "" {
		t.Errorf("ListLeases() = %v, want %v (-want +got):\n%s", got, want, diff)
	}
	if err := s.DeleteLease(ctx, b.MAC); err != nil {
		t.Fatalf("DeleteLease(%s) = %v", b.MAC, err)
	}
	if err := s.DeleteLease(ctx, b.MAC); err != nil {
		t.Fatalf("DeleteLease(%s) twice = %v, want nil", b.MAC, err)
	}
	if _, err := s.GetLease(ctx, b.MAC); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("GetLease(%s) after delete error = %v, want ErrNotFound", b.MAC, err)
	}
}

func TestMemoryContract(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testStore(t, &leases.Memory{Now: func() time.Time { return now }}, now)
}

func TestFileContractAndReopen(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "leases.journal")
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	testStore(t, s, now)
	before, _ := s.ListLeases(context.Background())
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.PutLease(context.Background(), lease("AA:00:00:00:00:09", "10.0.0.99", now)); !errors.Is(err, ErrClosed) {
		t.Errorf("PutLease after Close = %v, want ErrClosed", err)
	}
	// A crash mid-append leaves a torn line: it is dropped on open.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"op":"put","mac":"AA:00:00:00:00:0`)
	f.Close()
	s2, err := OpenFile(path, nil)
	if err != nil {
		t.Fatalf("OpenFile(torn journal) = %v", err)
	}
	defer s2.Close()
	after, _ := s2.ListLeases(context.Background())
	if diff := cmp.Diff(before, after, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) })); diff != "" {
		t.Errorf("leases after reopen differ (-before +after):\n%s", diff)
	}
}

func TestFileBadJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leases.journal")
	os.WriteFile(path, []byte(`{"op":"put","mac":"AA","ip":"10.0.0.1"}`+"\n"+`{"op":"zap","mac":"AA"}`+"\n"), 0o600)
	_, err := OpenFile(path, nil)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("OpenFile(bad op) = %v, want an error naming line 2", err)
	}
}

func TestFileConcurrentGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leases.journal")
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000 // past the compaction threshold
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each MAC gets two leases in turn, so the journal holds
			// superseded records to compact.
			mac := fmt.Sprintf("AA:00:00:00:%02X:%02X", i/256, i%256)
			ip := netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)})
			errs <- s.PutLease(context.Background(), leases.Lease{MAC: mac, IP: ip, Expires: exp})
			ip2 := netip.AddrFrom4([4]byte{10, 2, byte(i / 256), byte(i % 256)})
			errs <- s.PutLease(context.Background(), leases.Lease{MAC: mac, IP: ip2, Expires: exp})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutLease = %v", err)
		}
	}
	s.Close()
	got := reopen(t, path)
	if len(got) != n {
		t.Fatalf("ListLeases() after reopen = %d leases, want %d", len(got), n)
	}
	for _, l := range got {
		if l.IP.As4()[1] != 2 {
			t.Fatalf("lease %v kept its first address, want the second", l)
		}
	}
}

// TestFileQueueLease: leases queued from one goroutine are committed
// together and durable once their waits return; a conflict queues
// nothing.
func TestFileQueueLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leases.journal")
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	var waits []func(context.Context) error
	for i := range 50 {
		w, err := s.QueueLease(lease(fmt.Sprintf("AA:00:00:00:00:%02X", i), fmt.Sprintf("10.0.0.%d", i+1), exp))
		if err != nil {
			t.Fatalf("QueueLease(%d) = %v", i, err)
		}
		waits = append(waits, w)
	}
	if _, err := s.QueueLease(lease("BB:00:00:00:00:01", "10.0.0.1", exp)); !errors.Is(err, leases.ErrConflict) {
		t.Errorf("QueueLease(address held by another MAC) = %v, want ErrConflict", err)
	}
	if _, err := s.QueueLease(leases.Lease{MAC: "BB:00:00:00:00:02", IP: netip.MustParseAddr("fe80::1"), Expires: exp}); err == nil || !strings.Contains(err.Error(), "not IPv4") {
		t.Errorf("QueueLease(IPv6) = %v, want an error naming the address", err)
	}
	for i, w := range waits {
		if err := w(context.Background()); err != nil {
			t.Fatalf("wait %d = %v", i, err)
		}
	}
	s.Close()
	if got := reopen(t, path); len(got) != 50 {
		t.Errorf("ListLeases() after reopen = %d leases, want the 50 queued (and not the conflicting one)", len(got))
	}
}

// reopen opens the journal at path again and lists its leases.
func reopen(t *testing.T, path string) []leases.Lease {
	t.Helper()
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListLeases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}
