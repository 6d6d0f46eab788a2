package leases

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Memory keeps one address, one lease: a live lease blocks another MAC, an
// expired one gives way, and a MAC moving to a new address frees the old.
func TestMemoryOneAddressOneLease(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &Memory{Now: func() time.Time { return now }}
	a, b := netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.11")
	if err := m.PutLease(ctx, Lease{MAC: "52:54:00:00:00:01", IP: a, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutLease(ctx, Lease{MAC: "52:54:00:00:00:02", IP: a, Expires: now.Add(time.Hour)}); !errors.Is(err, ErrConflict) {
		t.Errorf("PutLease(second MAC, live address) = %v, want ErrConflict", err)
	}
	now = now.Add(2 * time.Hour)
	if err := m.PutLease(ctx, Lease{MAC: "52:54:00:00:00:02", IP: a, Expires: now.Add(time.Hour)}); err != nil {
		t.Errorf("PutLease(second MAC, expired holder) = %v, want nil", err)
	}
	if _, err := m.GetLease(ctx, "52:54:00:00:00:01"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetLease(displaced MAC) = %v, want ErrNotFound", err)
	}
	if err := m.PutLease(ctx, Lease{MAC: "52:54:00:00:00:02", IP: b, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutLease(ctx, Lease{MAC: "52:54:00:00:00:03", IP: a, Expires: now.Add(time.Hour)}); err != nil {
		t.Errorf("PutLease(address freed by a move) = %v, want nil", err)
	}
	got, _ := m.ListLeases(ctx)
	want := []Lease{{MAC: "52:54:00:00:00:03", IP: a, Expires: now.Add(time.Hour)}, {MAC: "52:54:00:00:00:02", IP: b, Expires: now.Add(time.Hour)}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("ListLeases mismatch (-want +got):\n%s", diff)
	}
	if err := m.DeleteLease(ctx, "52:54:00:00:00:99"); err != nil {
		t.Errorf("DeleteLease(missing) = %v, want nil", err)
	}
}
