package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/razor-mk/razor-mk/server/store"
)

// watch runs s.Watch until the test ends and returns its changes.
func watch(t *testing.T, s *Store) <-chan store.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan store.Change, 1000)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(c store.Change) { ch <- c }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch() = %v after its context ended, want nil", err)
		}
	})
	return ch
}

// next returns the next change, failing after a while.
func next(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no change announced within 15 s")
		return store.Change{}
	}
}

func TestWatch(t *testing.T) {
	ctx := context.Background()
	rs := replicas(t, 2)
	a, b := rs[0], rs[1]
	changes := watch(t, b)
	if c := next(t, changes); c.Kind != store.ChangeReset {
		t.Fatalf("first change = %+v, want a reset", c)
	}
	at := time.Now()
	var n1, n2 store.RegisterResult
	register := func(res *store.RegisterResult, uuid string, macs ...string) func() error {
		return func() (err error) {
			*res, err = a.RegisterNode(ctx, store.Registration{UUID: uuid, MACs: macs, At: at})
			return err
		}
	}
	const uuid = "00000000-0000-4000-8000-000000000007"
	steps := []struct {
		do   func() error
		want []store.Change
	}{
		{register(&n1, "", "525400070001"), []store.Change{{Kind: store.ChangeNode, ID: "node1"}}},
		{register(&n2, uuid, "525400070002"), []store.Change{{Kind: store.ChangeNode, ID: "node2"}}},
		// A registration with both MACs: node1 takes node2's MAC, and
		// node2, left with nothing but a UUID, stays.
		{register(&n1, "", "525400070001", "525400070002"), []store.Change{{Kind: store.ChangeNode, ID: "node1"}, {Kind: store.ChangeNode, ID: "node2"}}},
		{func() error {
			_, err := a.CreateTag(ctx, store.Tag{Name: "t", Rule: json.RawMessage(`true`), Updated: at})
			return err
		}, []store.Change{{Kind: store.ChangeTags, ID: "t"}}},
		{func() error {
			_, err := a.CreatePolicy(ctx, store.Policy{Name: "p", Enabled: true, Tags: []string{"t"}, Target: store.Target{Kind: store.TargetLocal}, Updated: at})
			return err
		}, []store.Change{{Kind: store.ChangePolicies}}},
		{func() error {
			_, err := a.Bind(ctx, "node2", []string{"p"}, at)
			return err
		}, []store.Change{{Kind: store.ChangeNode, ID: "node2"}}},
		{func() error {
			_, err := a.QueueCommand(ctx, "node2", "reboot", at)
			return err
		}, []store.Change{{Kind: store.ChangeNode, ID: "node2"}}},
		{func() error {
			return a.PutToken(ctx, []string{"525400070002", uuid}, "tok", at)
		}, []store.Change{{Kind: store.ChangeTokens, Keys: []string{uuid, "525400070002"}}}},
		{func() error {
			_, err := a.Unbind(ctx, "node2")
			return err
		}, []store.Change{{Kind: store.ChangeNode, ID: "node2"}}},
		// b's own writes are not reported to b; a's next one is.
		{func() error {
			if _, err := b.Unbind(ctx, "node2"); err != nil {
				return err
			}
			if err := b.DeletePolicy(ctx, "p"); err != nil {
				return err
			}
			return a.DeleteNode(ctx, "node2")
		}, []store.Change{{Kind: store.ChangeNodeDeleted, ID: "node2"}}},
		// A duplicate (no UUID, no binding) left without MACs is removed.
		{register(&n2, "", "525400070003"), []store.Change{{Kind: store.ChangeNode, ID: "node3"}}},
		{register(&n1, "", "525400070001", "525400070003"), []store.Change{{Kind: store.ChangeNode, ID: "node1"}, {Kind: store.ChangeNodeDeleted, ID: "node3"}}},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		t.Logf("step %d: want %v", i, st.want)
		var got []store.Change
		for range st.want {
			got = append(got, next(t, changes))
		}
		if diff := cmp.Diff(st.want, got, sortChanges); diff != "" {
			t.Errorf("step %d: changes (-want +got):\n%s", i, diff)
		}
	}
	select {
	case c := <-changes:
		t.Errorf("unexpected change %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}

var sortChanges = cmp.Transformer("sort", func(cs []store.Change) []store.Change {
	out := append([]store.Change(nil), cs...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Kind+store.ChangeKind(out[j].ID) < out[i].Kind+store.ChangeKind(out[i].ID) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})
