package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
	"github.com/razor-mk/razor-mk/wire"
)

type fixture struct {
	st   *sqlite.Store
	core *Core
	now  time.Time
	mu   sync.Mutex
}

func (f *fixture) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "razor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	o.Now = f.Now
	if f.core, err = New(context.Background(), st, o); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) register(t *testing.T, hwid, uuid string, facts map[string]string) NodeInfo {
	t.Helper()
	n, _, err := f.core.Register(context.Background(), wire.RegisterRequest{HWID: hwid, UUID: uuid, Facts: facts, LastState: "idle"})
	if err != nil {
		t.Fatalf("Register(%s) = %v", hwid, err)
	}
	return n
}

func (f *fixture) checkin(t *testing.T, hwid string) wire.Command {
	t.Helper()
	d, err := f.core.Checkin(context.Background(), wire.CheckinRequest{HWID: hwid, LastState: "idle"})
	if err != nil {
		t.Fatalf("Checkin(%s) = %v", hwid, err)
	}
	return d.Command
}

// Many nodes checking in at once never bind more than max_count.
func TestConcurrentBindRespectsMaxCount(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	const nodes, max = 30, 4
	for i := range nodes {
		f.register(t, fmt.Sprintf("5254000000%02X", i), "", map[string]string{"processorcount": "2"})
	}
	if _, err := f.core.CreatePolicy(ctx, store.Policy{Name: "p", Enabled: true, Tags: []string{"cpus_2"}, MaxCount: max, Target: store.Target{Kind: store.TargetLocal}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[wire.Command]int{}
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := f.checkin(t, fmt.Sprintf("5254000000%02X", i))
			mu.Lock()
			got[cmd]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[wire.Command]int{wire.Reboot: max, wire.Acknowledge: nodes - max}, got); diff != "" {
		t.Errorf("concurrent checkins (-want +got):\n%s", diff)
	}
	if p, _ := f.core.Policy(ctx, "p"); p.Count != max {
		t.Errorf("Policy(p).Count = %d, want %d", p.Count, max)
	}
	states := f.core.NodeStates()
	if states[StateBound] != max || states[StateActive] != nodes-max {
		t.Errorf("NodeStates() = %v", states)
	}
}

// Changing a tag re-evaluates every node, and may make nodes bind.
func TestRetag(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.register(t, "525400000001", "", map[string]string{"processorcount": "4"})
	if _, err := f.core.CreateTag(ctx, "big", json.RawMessage(`[">=",["num",["fact","processorcount"]],8]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.core.CreatePolicy(ctx, store.Policy{Name: "p", Enabled: true, Tags: []string{"big"}, Target: store.Target{Kind: store.TargetLocal}}); err != nil {
		t.Fatal(err)
	}
	if cmd := f.checkin(t, "525400000001"); cmd != wire.Acknowledge {
		t.Errorf("checkin before retag = %s, want acknowledge", cmd)
	}
	ti, err := f.core.UpdateTag(ctx, "big", json.RawMessage(`[">=",["num",["fact","processorcount"]],4]`))
	if err != nil || ti.Nodes != 1 {
		t.Fatalf("UpdateTag = %+v, %v; want 1 node", ti, err)
	}
	if cmd := f.checkin(t, "525400000001"); cmd != wire.Reboot {
		t.Errorf("checkin after retag = %s, want reboot (bound)", cmd)
	}
	// A cycle through references is refused and changes nothing.
	if _, err := f.core.CreateTag(ctx, "a", json.RawMessage(`["tag","big"]`)); err != nil {
		t.Fatal(err)
	}
	_, err = f.core.UpdateTag(ctx, "big", json.RawMessage(`["tag","a"]`))
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "rule" {
		t.Errorf("UpdateTag(cycle) = %v, want an InputError on rule", err)
	}
	if tg, _ := f.core.Tag(ctx, "big"); string(tg.Rule) != `[">=",["num",["fact","processorcount"]],4]` {
		t.Errorf("rule after refused cycle = %s", tg.Rule)
	}
}

// A restarted core answers from the store's state: nodes, bindings,
// tokens.
func TestRestart(t *testing.T) {
	f := newFixture(t, Options{ServerURL: "http://192.0.2.1:8026"})
	ctx := context.Background()
	f.register(t, "525400000001", "", map[string]string{"processorcount": "2"})
	if err := f.st.PutToken(ctx, []string{"525400000001"}, "tok", f.now); err != nil {
		t.Fatal(err)
	}
	f.checkin(t, "525400000001")
	f.advance(30 * time.Second)
	if err := f.core.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c2, err := New(ctx, f.st, Options{Now: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Checkin(ctx, wire.CheckinRequest{HWID: "525400000001", Token: "other"}); !errors.Is(err, ErrTokenMismatch) {
		t.Errorf("Checkin(wrong token) after restart = %v, want ErrTokenMismatch", err)
	}
	d, err := c2.Checkin(ctx, wire.CheckinRequest{HWID: "525400000001", Token: "tok"})
	if err != nil || d.Command != wire.Acknowledge || d.NodeID != "node1" {
		t.Errorf("Checkin after restart = %+v, %v; want acknowledge for node1", d, err)
	}
}

// The long-poll is bounded: beyond MaxWaiters a checkin is answered at
// once.
func TestWaitersBounded(t *testing.T) {
	f := newFixture(t, Options{MaxWaiters: 1})
	f.register(t, "525400000001", "", map[string]string{"a": "b"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan Decision, 1)
	go func() {
		d, _ := f.core.Checkin(ctx, wire.CheckinRequest{HWID: "525400000001", Wait: time.Minute})
		held <- d
	}()
	for f.core.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	d, err := f.core.Checkin(context.Background(), wire.CheckinRequest{HWID: "525400000001", Wait: time.Minute})
	if err != nil || d.Command != wire.Acknowledge || time.Since(start) > 5*time.Second {
		t.Errorf("second long-poll = %+v, %v after %v; want acknowledge at once", d, err, time.Since(start))
	}
	// A client that goes away releases its slot.
	cancel()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled long-poll not released")
	}
	if n := f.core.Waiting(); n != 0 {
		t.Errorf("Waiting() = %d after release, want 0", n)
	}
}

// Updates to the cache are ordered by revision: an older one is ignored.
func TestCacheRevisions(t *testing.T) {
	c := newCache()
	c.put(store.Node{ID: "node1", Rev: 5, MACs: []string{"A"}}, []string{"t"}, 1)
	c.put(store.Node{ID: "node1", Rev: 3, MACs: []string{"A", "B"}}, nil, 0)
	if e := c.find("", []string{"B"}); e != nil {
		t.Errorf("stale update applied: find(B) = %+v", e.node)
	}
	// node2 takes A at a newer revision; node1's stale claim does not
	// take it back.
	c.put(store.Node{ID: "node2", Rev: 7, MACs: []string{"A"}}, nil, 0)
	c.put(store.Node{ID: "node1", Rev: 6, MACs: []string{"A"}}, nil, 0)
	if e := c.find("", []string{"A"}); e == nil || e.node.ID != "node2" {
		t.Errorf("find(A) = %v, want node2", e)
	}
	if e := c.get("node1"); e == nil || e.node.Rev != 6 || len(e.tags) != 1 {
		t.Errorf("get(node1) = %+v, want rev 6 keeping its tags", e)
	}
	c.remove("node2")
	if e := c.find("", []string{"A"}); e != nil {
		t.Errorf("find(A) after removing its owner = %+v", e.node)
	}
}

func TestQueueCommandValidation(t *testing.T) {
	f := newFixture(t, Options{})
	f.register(t, "525400000001", "", map[string]string{"a": "b"})
	ctx := context.Background()
	for _, name := range []string{"", "acknowledge", "REBOOT", "halt"} {
		var ie *InputError
		if _, err := f.core.QueueCommand(ctx, "node1", name); !errors.As(err, &ie) || ie.Field != "command" {
			t.Errorf("QueueCommand(%q) = %v, want an InputError on command", name, err)
		}
	}
	for range maxPending {
		if _, err := f.core.QueueCommand(ctx, "node1", "reboot"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.core.QueueCommand(ctx, "node1", "reboot"); !errors.Is(err, ErrInvalid) {
		t.Errorf("QueueCommand beyond %d pending = %v, want ErrInvalid", maxPending, err)
	}
	if _, err := f.core.QueueCommand(ctx, "node9", "reboot"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueueCommand(unknown node) = %v, want store.ErrNotFound", err)
	}
}

// Checkin times reach the store at most every PersistEvery per node, and
// at once when the last state changes.
func TestCheckinPersistence(t *testing.T) {
	f := newFixture(t, Options{PersistEvery: 30 * time.Second})
	ctx := context.Background()
	f.register(t, "525400000001", "", map[string]string{"a": "b"})
	stored := func() (time.Time, string) {
		t.Helper()
		if err := f.core.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := f.st.GetNode(ctx, "node1")
		if err != nil {
			t.Fatal(err)
		}
		return n.LastCheckin, n.LastState
	}
	t0 := f.Now()
	checkin := func(state string) {
		if _, err := f.core.Checkin(ctx, wire.CheckinRequest{HWID: "525400000001", LastState: state}); err != nil {
			t.Fatal(err)
		}
	}
	checkin("idle")
	f.advance(time.Second)
	checkin("idle")
	if at, _ := stored(); !at.Equal(t0) {
		t.Errorf("stored checkin after 2 checkins 1 s apart = %v, want the first, %v", at, t0)
	}
	f.advance(time.Second)
	checkin("busy")
	if at, st := stored(); !at.Equal(t0.Add(2*time.Second)) || st != "busy" {
		t.Errorf("stored checkin after a state change = %v %q, want %v busy", at, st, t0.Add(2*time.Second))
	}
	f.advance(31 * time.Second)
	checkin("busy")
	if at, _ := stored(); !at.Equal(t0.Add(33 * time.Second)) {
		t.Errorf("stored checkin after 31 s = %v, want %v", at, t0.Add(33*time.Second))
	}
	// In memory it is always current: the admin API shows the latest.
	f.advance(time.Second)
	checkin("busy")
	ni, err := f.core.Node(ctx, "node1")
	if err != nil || !ni.LastCheckin.Equal(f.Now()) {
		t.Errorf("Node().LastCheckin = %v, %v; want %v", ni.LastCheckin, err, f.Now())
	}
}
