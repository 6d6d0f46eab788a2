package core

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
	"github.com/razor-mk/razor-mk/wire"
)

// feed is a store shared with another process whose changes the test
// announces by hand.
type feed struct {
	*sqlite.Store
	ch chan announced
}

type announced struct {
	change store.Change
	done   chan struct{}
}

var _ store.Watcher = (*feed)(nil)

func (f *feed) Watch(ctx context.Context, fn func(store.Change)) error {
	for {
		select {
		case a := <-f.ch:
			fn(a.change)
			close(a.done)
		case <-ctx.Done():
			return nil
		}
	}
}

// announce hands c to the core and waits until it is applied.
func (f *feed) announce(t *testing.T, c store.Change) {
	t.Helper()
	a := announced{c, make(chan struct{})}
	select {
	case f.ch <- a:
	case <-time.After(10 * time.Second):
		t.Fatalf("core is not following changes (announcing %+v)", c)
	}
	<-a.done
}

// Two processes on one store: "other" writes, the core under test
// follows through its Watcher.
func TestFollowOtherReplica(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "razor.db")
	open := func() *sqlite.Store {
		s, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	other := open()
	f := &feed{Store: open(), ch: make(chan announced)}
	c, err := New(ctx, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	checkin := func(hwid, token string) (wire.Command, error) {
		d, err := c.Checkin(ctx, wire.CheckinRequest{HWID: hwid, LastState: "idle", Token: token})
		return d.Command, err
	}
	now := time.Now()

	// A node registered at the other replica is known here.
	res, err := other.RegisterNode(ctx, store.Registration{MACs: []string{"525400000001"}, Facts: map[string]string{"processorcount": "2"}, LastState: "idle", At: now})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Node.ID
	if cmd, _ := checkin("525400000001", ""); cmd != wire.Register {
		t.Fatalf("Checkin(unknown here) = %s, want register", cmd)
	}
	f.announce(t, store.Change{Kind: store.ChangeNode, ID: id})
	if cmd, err := checkin("525400000001", ""); cmd != wire.Acknowledge || err != nil {
		t.Errorf("Checkin after the other replica's registration = %s, %v; want acknowledge", cmd, err)
	}

	// A command queued there is delivered here, once, and wakes a
	// long-poll held here.
	if _, err := other.QueueCommand(ctx, id, "poweroff", now); err != nil {
		t.Fatal(err)
	}
	polled := make(chan wire.Command, 1)
	go func() {
		d, _ := c.Checkin(ctx, wire.CheckinRequest{HWID: "525400000001", LastState: "idle", Wait: 30 * time.Second})
		polled <- d.Command
	}()
	deadline := time.Now().Add(10 * time.Second)
	for c.Waiting() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	f.announce(t, store.Change{Kind: store.ChangeNode, ID: id})
	select {
	case cmd := <-polled:
		if cmd != wire.Poweroff {
			t.Errorf("long-poll after the other replica queued poweroff = %s", cmd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll not woken by the other replica's command")
	}
	if cmd, _ := checkin("525400000001", ""); cmd != wire.Acknowledge {
		t.Errorf("Checkin after delivery = %s, want acknowledge (delivered once)", cmd)
	}

	// A boot token issued there is honoured here.
	if err := other.PutToken(ctx, []string{"525400000001"}, "tok2", now); err != nil {
		t.Fatal(err)
	}
	if _, err := checkin("525400000001", "tok1"); err != nil {
		t.Fatalf("Checkin with a token before any is known = %v", err)
	}
	f.announce(t, store.Change{Kind: store.ChangeTokens, Keys: []string{"525400000001"}})
	if _, err := checkin("525400000001", "tok2"); err != nil {
		t.Errorf("Checkin with the other replica's token = %v", err)
	}
	if _, err := checkin("525400000001", "tok1"); !errors.Is(err, ErrTokenMismatch) {
		t.Errorf("Checkin with a stale token = %v, want ErrTokenMismatch", err)
	}
	// A newer token issued there and not yet announced: the store
	// decides, so the node booted through the other replica is not
	// refused here meanwhile; its old token is.
	if err := other.PutToken(ctx, []string{"525400000001"}, "tok3", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := checkin("525400000001", "tok3"); err != nil {
		t.Errorf("Checkin with the other replica's unannounced token = %v", err)
	}
	if _, err := checkin("525400000001", "tok2"); !errors.Is(err, ErrTokenMismatch) {
		t.Errorf("Checkin with the token it replaced = %v, want ErrTokenMismatch", err)
	}

	// A tag and policy created there bind the node here.
	const curTok = "tok3"
	if _, err := other.CreateTag(ctx, store.Tag{Name: "two", Rule: json.RawMessage(`["=",["fact","processorcount"],"2"]`), Updated: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreatePolicy(ctx, store.Policy{Name: "p", Enabled: true, Tags: []string{"two"}, Target: store.Target{Kind: store.TargetLocal}, Updated: now}); err != nil {
		t.Fatal(err)
	}
	if cmd, _ := checkin("525400000001", curTok); cmd != wire.Acknowledge {
		t.Errorf("Checkin before the policy is announced = %s, want acknowledge", cmd)
	}
	f.announce(t, store.Change{Kind: store.ChangeTags, ID: "two"})
	f.announce(t, store.Change{Kind: store.ChangePolicies})
	if cmd, _ := checkin("525400000001", curTok); cmd != wire.Reboot {
		t.Errorf("Checkin after the other replica's policy = %s, want reboot (bound)", cmd)
	}

	// Deleted there: unknown here.
	if _, err := other.Unbind(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := other.DeleteNode(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.announce(t, store.Change{Kind: store.ChangeNodeDeleted, ID: id})
	if cmd, _ := checkin("525400000001", curTok); cmd != wire.Register {
		t.Errorf("Checkin after the other replica deleted the node = %s, want register", cmd)
	}

	// A reset reloads everything: a node registered there unannounced.
	if _, err := other.RegisterNode(ctx, store.Registration{MACs: []string{"525400000002"}, LastState: "idle", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.announce(t, store.Change{Kind: store.ChangeReset})
	if cmd, _ := checkin("525400000002", ""); cmd != wire.Acknowledge {
		t.Errorf("Checkin after a reset = %s, want acknowledge", cmd)
	}
}
