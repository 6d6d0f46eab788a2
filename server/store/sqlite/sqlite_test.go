package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "razor.db"), Options{})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		return s
	})
}

// A registration survives closing and reopening the file, and the schema
// is not applied twice.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "razor.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.RegisterNode(ctx, store.Registration{MACs: []string{"525400000001"}, Facts: map[string]string{"a": "b"}, LastState: "idle", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close twice = %v", err)
	}
	if _, err := s.GetNode(ctx, res.Node.ID); err == nil {
		t.Errorf("GetNode after Close = nil error")
	}
	if _, err := s.QueueCommand(ctx, res.Node.ID, "reboot", time.Now()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("QueueCommand after Close = %v, want ErrClosed", err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	defer s.Close()
	n, err := s.GetNode(ctx, res.Node.ID)
	if err != nil || n.Facts["a"] != "b" {
		t.Errorf("GetNode after reopen = %+v, %v", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "", Options{}); err == nil {
		t.Errorf("Open(\"\") = nil error")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "missing", "dir", "razor.db"), Options{}); err == nil {
		t.Errorf("Open(missing dir) = nil error")
	}
}

// Group commit: many concurrent writers are committed in few
// transactions, and each is acknowledged.
func BenchmarkRegisterParallel(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "razor.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(32)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mac := []string{"52" + hex10(n.Add(1))}
			if _, err := s.RegisterNode(ctx, store.Registration{MACs: mac, Facts: map[string]string{"a": "b"}, LastState: "idle", At: time.Now()}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func hex10(i int64) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 10)
	for j := range b {
		b[j] = digits[(i>>(4*j))&0xF]
	}
	return string(b)
}

// A schema-1 database is migrated: checkin times move to node_checkins.
func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "razor.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, q := range []string{string(v1), "PRAGMA user_version = 1",
		fmt.Sprintf(`INSERT INTO nodes (rev, facts, last_state, created_ns, registered_ns, checkin_ns) VALUES (1, '{"a":"b"}', 'idle', 1, 1, %d)`, at.UnixNano()),
		`INSERT INTO node_macs (mac, node_seq) VALUES ('525400000001', 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open(schema 1) = %v", err)
	}
	defer s.Close()
	n, err := s.GetNode(ctx, "node1")
	if err != nil || !n.LastCheckin.Equal(at) || n.Facts["a"] != "b" || len(n.MACs) != 1 {
		t.Errorf("GetNode after migration = %+v, %v; want the checkin at %v", n, err, at)
	}
}

// TestQueueLease: leases queued together commit in the writer's next
// transaction; a conflict comes back through its wait and spoils none of
// the others; a closed store queues nothing.
func TestQueueLease(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "razor.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	var waits []func(context.Context) error
	for i := range 20 {
		w, err := s.QueueLease(leases.Lease{MAC: fmt.Sprintf("AA:00:00:00:00:%02X", i), IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Expires: exp})
		if err != nil {
			t.Fatalf("QueueLease(%d) = %v", i, err)
		}
		waits = append(waits, w)
	}
	clash, err := s.QueueLease(leases.Lease{MAC: "BB:00:00:00:00:01", IP: netip.MustParseAddr("10.0.0.1"), Expires: exp})
	if err != nil {
		t.Fatalf("QueueLease(clash) = %v, want the conflict from its wait", err)
	}
	for i, w := range waits {
		if err := w(ctx); err != nil {
			t.Errorf("wait %d = %v", i, err)
		}
	}
	if err := clash(ctx); !errors.Is(err, leases.ErrConflict) {
		t.Errorf("wait(clash) = %v, want ErrConflict", err)
	}
	if ls, _ := s.ListLeases(ctx); len(ls) != 20 {
		t.Errorf("ListLeases() = %d leases, want 20", len(ls))
	}
	if _, err := s.QueueLease(leases.Lease{MAC: "CC:00:00:00:00:01"}); err == nil {
		t.Errorf("QueueLease(no address) = nil error")
	}
	s.Close()
	if _, err := s.QueueLease(leases.Lease{MAC: "CC:00:00:00:00:01", IP: netip.MustParseAddr("10.0.0.99"), Expires: exp}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("QueueLease after Close = %v, want ErrClosed", err)
	}
}

// Events go in eventsPerInsert rows to a statement; the ids AppendEvents
// returns are those stored, across chunks and batches.
func TestAppendEventsChunks(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "razor.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []int{1, eventsPerInsert, 2*eventsPerInsert + 7} {
		evs := make([]store.Event, n)
		for i := range evs {
			evs[i] = store.Event{At: time.Now(), Type: "dhcp.discover", MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", n, i), Attrs: map[string]string{"i": fmt.Sprint(i)}}
		}
		evs[0].Attrs = nil
		got, err := s.AppendEvents(ctx, evs)
		if err != nil {
			t.Fatalf("AppendEvents(%d) = %v", n, err)
		}
		listed, err := s.ListEvents(ctx, store.EventQuery{After: got[0].ID - 1, Limit: n})
		if err != nil || len(listed) != n {
			t.Fatalf("ListEvents after %d = %d events, %v", n, len(listed), err)
		}
		for i := range got {
			if got[i].ID != listed[i].ID || got[i].MAC != listed[i].MAC || listed[i].Attrs["i"] != evs[i].Attrs["i"] {
				t.Fatalf("event %d of %d: appended %+v, stored %+v", i, n, got[i], listed[i])
			}
		}
	}
}

// The writer commits queued leases ahead of the other writes queued with
// them, which go restPerCommit to a transaction: a lease queued behind
// many slow writes is committed after the first slice of them at most.
func TestLeasesCommitFirst(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "razor.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gate := make(chan struct{})
	held, err := s.queue(ctx, func(*sql.Tx) error { <-gate; return nil })
	if err != nil {
		t.Fatal(err)
	}
	var order atomic.Int64
	const slow = 3 * restPerCommit
	var ops []*op
	for range slow {
		o, err := s.queue(ctx, func(tx *sql.Tx) error {
			time.Sleep(5 * time.Millisecond)
			order.Add(1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, o)
	}
	time.Sleep(20 * time.Millisecond) // the writer is held by the gate
	wait, err := s.QueueLease(leases.Lease{MAC: "AA:00:00:00:00:01", IP: netip.MustParseAddr("10.0.0.1"), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err := <-held.done; err != nil {
		t.Fatal(err)
	}
	if err := wait(ctx); err != nil {
		t.Fatalf("lease wait = %v", err)
	}
	if n := order.Load(); n > restPerCommit {
		t.Errorf("lease committed after %d of the %d slow writes queued before it, want at most %d", n, slow, restPerCommit)
	}
	for _, o := range ops {
		if err := <-o.done; err != nil {
			t.Errorf("slow write = %v", err)
		}
	}
	if n := order.Load(); n != slow {
		t.Errorf("%d slow writes ran, want %d", n, slow)
	}
}
