package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/razor-mk/razor-mk/server/store"
)

func testCommandsCancelExpire(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustRegister(t, s, reg("", 0, map[string]string{"n": "a"}, macA)).Node
	b := mustRegister(t, s, reg("", 0, map[string]string{"n": "b"}, macB)).Node
	queue := func(id, name string, sec int) store.Command {
		t.Helper()
		c, err := s.QueueCommand(ctx, id, name, at(sec))
		if err != nil {
			t.Fatalf("QueueCommand(%s, %s) = %v", id, name, err)
		}
		return c
	}
	c1, c2, c3 := queue(a.ID, "reboot", 1), queue(a.ID, "poweroff", 2), queue(b.ID, "register", 3)
	if _, err := s.PopCommand(ctx, a.ID, at(4)); err != nil {
		t.Fatalf("PopCommand = %v", err)
	}
	if _, err := s.CancelCommand(ctx, a.ID, c1.ID); !errors.Is(err, store.ErrDelivered) {
		t.Errorf("CancelCommand(delivered) = %v, want ErrDelivered", err)
	}
	if _, err := s.CancelCommand(ctx, b.ID, c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CancelCommand(another node's command) = %v, want ErrNotFound", err)
	}
	if _, err := s.CancelCommand(ctx, "node999999", c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CancelCommand(unknown node) = %v, want ErrNotFound", err)
	}
	got, err := s.CancelCommand(ctx, a.ID, c2.ID)
	if err != nil || got.ID != c2.ID || got.Name != "poweroff" || !got.Queued.Equal(at(2)) {
		t.Errorf("CancelCommand = %+v, %v; want poweroff %d", got, err, c2.ID)
	}
	if _, err := s.CancelCommand(ctx, a.ID, c2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CancelCommand(again) = %v, want ErrNotFound", err)
	}
	if n, _ := s.GetNode(ctx, a.ID); n.Pending != 0 {
		t.Errorf("after cancel, Pending = %d, want 0", n.Pending)
	}
	if _, err := s.PopCommand(ctx, a.ID, at(5)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PopCommand after cancel = %v, want ErrNotFound", err)
	}
	c4 := queue(a.ID, "reboot", 10)
	// Expiry takes pending commands queued before the cut only.
	exp, err := s.ExpireCommands(ctx, at(10))
	if err != nil {
		t.Fatalf("ExpireCommands = %v", err)
	}
	want := []store.Command{{ID: c3.ID, NodeID: b.ID, Name: "register", Queued: at(3)}}
	if diff := cmp.Diff(want, exp, timeEq); diff != "" {
		t.Errorf("ExpireCommands (-want +got):\n%s", diff)
	}
	if n, _ := s.GetNode(ctx, b.ID); n.Pending != 0 {
		t.Errorf("after expiry, b's Pending = %d, want 0", n.Pending)
	}
	if exp, err := s.ExpireCommands(ctx, at(10)); err != nil || len(exp) != 0 {
		t.Errorf("ExpireCommands(again) = %v, %v; want none", exp, err)
	}
	if got, err := s.PopCommand(ctx, a.ID, at(11)); err != nil || got.ID != c4.ID {
		t.Errorf("PopCommand = %+v, %v; want the unexpired %d", got, err, c4.ID)
	}
}
