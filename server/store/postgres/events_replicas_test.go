package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// Events written by two replicas at once are seen by both, and a reader
// following "after the last id seen" (the stream) on either misses none:
// ids become visible in increasing order.
func TestReplicasEvents(t *testing.T) {
	rs := replicas(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, batches, per = 4, 10, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rs[w%2]
			for b := range batches {
				evs := make([]store.Event, per)
				for i := range evs {
					evs[i] = store.Event{At: time.Now(), Type: "test.write", Node: fmt.Sprintf("node%d", w+1),
						Attrs: map[string]string{"n": fmt.Sprint(b*per + i)}}
				}
				if _, err := r.AppendEvents(ctx, evs); err != nil {
					t.Errorf("replica %d: AppendEvents = %v", w%2, err)
					return
				}
			}
		}()
	}
	// Followers, one per replica, read while the writers write.
	total := writers * batches * per
	seen := make([][]int64, 2)
	var fw sync.WaitGroup
	stop := make(chan struct{})
	for i, r := range rs {
		fw.Add(1)
		go func() {
			defer fw.Done()
			var after int64
			for len(seen[i]) < total && ctx.Err() == nil {
				evs, err := r.ListEvents(ctx, store.EventQuery{After: after, Limit: 7})
				if err != nil {
					t.Errorf("follower %d: %v", i, err)
					return
				}
				for _, e := range evs {
					seen[i] = append(seen[i], e.ID)
					after = e.ID
				}
				if len(evs) == 0 {
					select {
					case <-stop:
						return // a skipped id never comes back
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	time.AfterFunc(5*time.Second, func() { close(stop) })
	fw.Wait()
	all, err := rs[0].ListEvents(ctx, store.EventQuery{Limit: store.MaxEventLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("replica 0 lists %d events, want %d", len(all), total)
	}
	for i := range seen {
		if len(seen[i]) != total {
			t.Errorf("follower on replica %d saw %d events, want %d (an id became visible after a later one)", i, len(seen[i]), total)
			continue
		}
		for j, id := range seen[i] {
			if id != all[j].ID {
				t.Errorf("follower on replica %d: event %d is id %d, want %d", i, j, id, all[j].ID)
				break
			}
		}
	}
	// Retention applied on one replica holds for the other.
	if _, err := rs[1].PruneEvents(ctx, store.Retention{PerNode: 3}, time.Now()); err != nil {
		t.Fatal(err)
	}
	left, err := rs[0].ListEvents(ctx, store.EventQuery{})
	if err != nil || len(left) != writers*3 {
		t.Errorf("after PerNode 3 on replica 1, replica 0 lists %d events (%v), want %d", len(left), err, writers*3)
	}
}
