package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/razor-mk/razor-mk/server/store"
)

func mustAppend(t *testing.T, s store.Store, evs ...store.Event) []store.Event {
	t.Helper()
	out, err := s.AppendEvents(context.Background(), evs)
	if err != nil {
		t.Fatalf("AppendEvents(%d events) = %v", len(evs), err)
	}
	return out
}

func eventIDs(evs []store.Event) []int64 {
	out := []int64{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func listEvents(t *testing.T, s store.Store, q store.EventQuery) []store.Event {
	t.Helper()
	evs, err := s.ListEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("ListEvents(%+v) = %v", q, err)
	}
	return evs
}

func testEvents(t *testing.T, s store.Store) {
	const mac1, mac2 = "52:54:00:00:00:01", "52:54:00:00:00:02"
	in := []store.Event{
		{At: at(1), Type: "dhcp.discover", MAC: mac1, Attrs: map[string]string{"arch": "bios", "vendor_class": "PXEClient:Arch:00000:UNDI:002001"}},
		{At: at(2), Type: "dhcp.offer", MAC: mac1, Attrs: map[string]string{"ip": "192.0.2.10"}},
		{At: at(3), Type: "tftp.send", MAC: mac1, Attrs: map[string]string{"file": "undionly.kpxe", "bytes": "70000", "outcome": "complete"}},
		{At: at(4), Type: "node.registered", Node: "node1", MAC: mac1, Attrs: map[string]string{"facts": "42"}},
		{At: at(5), Type: "dhcp.discover", MAC: mac2},
		{At: at(6), Type: "boot.script", Node: "node1", MAC: mac1, Attrs: map[string]string{"kind": "microkernel", "odd": "nul\x00 and \xff"}},
	}
	got := mustAppend(t, s, in[:4]...)
	got = append(got, mustAppend(t, s, in[4:]...)...)
	for i := range got {
		if got[i].ID == 0 || (i > 0 && got[i].ID <= got[i-1].ID) {
			t.Fatalf("AppendEvents ids = %v, want increasing and non-zero", eventIDs(got))
		}
	}
	all := listEvents(t, s, store.EventQuery{})
	want := make([]store.Event, len(in))
	copy(want, in)
	for i := range want {
		want[i].ID = got[i].ID
	}
	// Stores may replace bytes text cannot hold; the rest round-trips.
	opts := cmp.Options{timeEq, cmpopts.EquateEmpty(), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == `["odd"]` }, cmp.Ignore())}
	if diff := cmp.Diff(want, all, opts); diff != "" {
		t.Errorf("ListEvents(all) mismatch (-want +got):\n%s", diff)
	}
	nodeAndMACs := eventIDs([]store.Event{got[0], got[1], got[2], got[3], got[5]})
	for _, tc := range []struct {
		name string
		q    store.EventQuery
		want []int64
	}{
		{"after", store.EventQuery{After: got[3].ID}, eventIDs(got[4:])},
		{"since", store.EventQuery{Since: at(5)}, eventIDs(got[4:])},
		{"node and its MACs", store.EventQuery{Node: "node1", MACs: []string{mac1}}, nodeAndMACs},
		{"node only", store.EventQuery{Node: "node1"}, []int64{got[3].ID, got[5].ID}},
		{"mac only", store.EventQuery{MACs: []string{mac2}}, []int64{got[4].ID}},
		{"mac, with or without a node", store.EventQuery{MACs: []string{mac1}}, nodeAndMACs},
		{"type prefix", store.EventQuery{Types: []string{"dhcp"}}, []int64{got[0].ID, got[1].ID, got[4].ID}},
		{"type exact", store.EventQuery{Types: []string{"dhcp.offer", "boot.script"}}, []int64{got[1].ID, got[5].ID}},
		{"type prefix is whole words", store.EventQuery{Types: []string{"dhc"}}, []int64{}},
		{"limit", store.EventQuery{Limit: 2}, eventIDs(got[:2])},
		{"newest", store.EventQuery{Limit: 2, Newest: true}, eventIDs(got[4:])},
		{"newest of a type", store.EventQuery{Limit: 2, Newest: true, Types: []string{"dhcp"}}, []int64{got[1].ID, got[4].ID}},
	} {
		if diff := cmp.Diff(tc.want, eventIDs(listEvents(t, s, tc.q))); diff != "" {
			t.Errorf("ListEvents(%s) ids mismatch (-want +got):\n%s", tc.name, diff)
		}
	}
	// An id is never reused, even after the newest events are pruned.
	if _, err := s.PruneEvents(context.Background(), store.Retention{Total: 1}, at(7)); err != nil {
		t.Fatalf("PruneEvents = %v", err)
	}
	next := mustAppend(t, s, store.Event{At: at(8), Type: "dhcp.request", MAC: mac2})
	if next[0].ID <= got[5].ID {
		t.Errorf("id after prune = %d, want > %d", next[0].ID, got[5].ID)
	}
}

func testEventsRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	var evs []store.Event
	// 3 nodes × 5 events, and 5 events of a MAC without a node, at 1 s
	// intervals.
	for i := range 20 {
		e := store.Event{At: at(i), Type: "test.tick", Attrs: map[string]string{"i": string(rune('a' + i))}}
		if k := i % 4; k < 3 {
			e.Node = store.NodeID(int64(k + 1))
		} else {
			e.MAC = "52:54:00:00:00:09"
		}
		evs = append(evs, e)
	}
	got := mustAppend(t, s, evs...)
	count := func(q store.EventQuery) int { return len(listEvents(t, s, q)) }

	n, err := s.PruneEvents(ctx, store.Retention{PerNode: 3}, at(20))
	if err != nil || n != 8 {
		t.Fatalf("PruneEvents(PerNode 3) = %d, %v; want 8, nil", n, err)
	}
	for _, key := range []string{"node1", "node2", "node3"} {
		left := listEvents(t, s, store.EventQuery{Node: key})
		if len(left) != 3 {
			t.Errorf("after PerNode 3, %s has %d events, want 3", key, len(left))
		}
	}
	if c := count(store.EventQuery{MACs: []string{"52:54:00:00:00:09"}}); c != 3 {
		t.Errorf("after PerNode 3, the MAC has %d events, want 3", c)
	}
	// The newest are kept.
	if left := listEvents(t, s, store.EventQuery{Node: "node1"}); left[2].ID != got[16].ID {
		t.Errorf("after PerNode 3, node1's newest = %d, want %d", left[2].ID, got[16].ID)
	}

	if n, err := s.PruneEvents(ctx, store.Retention{MaxAge: 5 * time.Second}, at(20)); err != nil || n != 7 {
		// Left after PerNode: events 8-19 but 8 of them; those at 8-14 go.
		t.Errorf("PruneEvents(MaxAge 5s at 20s) = %d, %v; want 7, nil", n, err)
	}
	left := listEvents(t, s, store.EventQuery{})
	for _, e := range left {
		if e.At.Before(at(15)) {
			t.Errorf("event %d at %v survived MaxAge", e.ID, e.At)
		}
	}
	if n, err := s.PruneEvents(ctx, store.Retention{Total: 2}, at(20)); err != nil || n != len(left)-2 {
		t.Errorf("PruneEvents(Total 2) = %d, %v; want %d, nil", n, err, len(left)-2)
	}
	if diff := cmp.Diff(eventIDs(got[18:]), eventIDs(listEvents(t, s, store.EventQuery{}))); diff != "" {
		t.Errorf("after Total 2 (-want +got):\n%s", diff)
	}
	if n, err := s.PruneEvents(ctx, store.Retention{}, at(1000)); err != nil || n != 0 {
		t.Errorf("PruneEvents(no bounds) = %d, %v; want 0, nil", n, err)
	}
}
