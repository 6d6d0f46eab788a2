package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/pgtest"
)

// replicas opens n stores on one new database, as n razor-netboot
// processes would.
func replicas(t *testing.T, n int) []*Store {
	t.Helper()
	url := pgtest.NewDatabase(t)
	out := make([]*Store, n)
	for i := range out {
		s, err := Open(context.Background(), url, Options{MaxConns: 8})
		if err != nil {
			t.Fatalf("Open #%d = %v", i, err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// Clients of two DHCP servers ask for addresses of one small pool at
// once; no address is leased to two clients.
func TestReplicasLeases(t *testing.T) {
	ctx := context.Background()
	rs := replicas(t, 2)
	const addrs, clients = 16, 48
	exp := time.Now().Add(time.Hour)
	var mu sync.Mutex
	won := map[string]netip.Addr{} // MAC → address
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := rs[c%len(rs)]
			mac := fmt.Sprintf("52:54:00:00:20:%02X", c)
			for a := range addrs {
				ip := netip.AddrFrom4([4]byte{10, 20, 0, byte(10 + (a+c)%addrs)})
				err := s.PutLease(ctx, leases.Lease{MAC: mac, IP: ip, Expires: exp})
				if err == nil {
					mu.Lock()
					won[mac] = ip
					mu.Unlock()
					return
				}
				if !errors.Is(err, leases.ErrConflict) {
					t.Errorf("PutLease(%s, %v) = %v", mac, ip, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	holder := map[netip.Addr]string{}
	for mac, ip := range won {
		if o, ok := holder[ip]; ok {
			t.Errorf("address %v leased to %s and %s", ip, o, mac)
		}
		holder[ip] = mac
	}
	if len(won) != addrs {
		t.Errorf("%d clients got an address, want %d (the pool size)", len(won), addrs)
	}
	for i, s := range rs {
		ls, err := s.ListLeases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != len(won) {
			t.Errorf("replica %d: ListLeases() = %d leases, want %d", i, len(ls), len(won))
		}
		for _, l := range ls {
			if won[l.MAC] != l.IP {
				t.Errorf("replica %d: stored lease %s → %v, but PutLease acknowledged %v", i, l.MAC, l.IP, won[l.MAC])
			}
		}
	}
}

// Binds and command pops spread over three replicas: max_count holds and
// each command is delivered once.
func TestReplicasBindAndCommands(t *testing.T) {
	ctx := context.Background()
	rs := replicas(t, 3)
	const max, nodes = 7, 60
	if _, err := rs[0].CreatePolicy(ctx, store.Policy{Name: "few", Enabled: true, MaxCount: max, Target: store.Target{Kind: store.TargetLocal}, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, nodes)
	for i := range ids {
		res, err := rs[i%3].RegisterNode(ctx, store.Registration{MACs: []string{fmt.Sprintf("5254000300%02X", i)}, LastState: "idle", At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.Node.ID
	}
	var bound, noRoom atomic.Int32
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := rs[i%3].Bind(ctx, id, []string{"few"}, time.Now())
			switch {
			case err == nil:
				bound.Add(1)
			case errors.Is(err, store.ErrNoRoom):
				noRoom.Add(1)
			default:
				t.Errorf("Bind(%s) = %v", id, err)
			}
		}()
	}
	wg.Wait()
	if bound.Load() != max || noRoom.Load() != nodes-max {
		t.Errorf("concurrent Bind on 3 replicas: %d bound, %d no room; want %d and %d", bound.Load(), noRoom.Load(), max, nodes-max)
	}
	if p, _ := rs[1].GetPolicy(ctx, "few"); p.Count != max {
		t.Errorf("GetPolicy(few).Count = %d, want %d", p.Count, max)
	}

	const cmds = 60
	for i := range cmds {
		if _, err := rs[i%3].QueueCommand(ctx, ids[0], "reboot", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := rs[w%3].PopCommand(ctx, ids[0], time.Now())
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("PopCommand = %v", err)
					return
				}
				mu.Lock()
				seen[c.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != cmds {
		t.Errorf("PopCommand on 3 replicas delivered %d distinct commands, want %d", len(seen), cmds)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("command %d delivered %d times", id, n)
		}
	}
}

// The same machines register through two replicas at once, with MACs
// that move between them: every MAC ends on exactly one node, and every
// acknowledged registration is there.
func TestReplicasRegister(t *testing.T) {
	ctx := context.Background()
	rs := replicas(t, 2)
	const machines, rounds = 12, 8
	shared := []string{"52540004FF01", "52540004FF02", "52540004FF03", "52540004FF04"}
	var wg sync.WaitGroup
	for w := range machines * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := w % machines
			uuid := fmt.Sprintf("00000000-0000-4000-8000-%012X", m+1)
			for r := range rounds {
				macs := []string{fmt.Sprintf("5254000400%02X", m), shared[(m+r)%len(shared)]}
				res, err := rs[w%2].RegisterNode(ctx, store.Registration{UUID: uuid, MACs: macs, LastState: "idle",
					Facts: map[string]string{"round": fmt.Sprint(r)}, At: time.Now()})
				if err != nil {
					t.Errorf("RegisterNode = %v", err)
					return
				}
				if res.Node.UUID != uuid {
					t.Errorf("RegisterNode(%s) = node with uuid %s", uuid, res.Node.UUID)
				}
			}
		}()
	}
	wg.Wait()
	nodes, err := rs[1].ListNodes(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != machines {
		t.Errorf("ListNodes() = %d nodes, want %d", len(nodes), machines)
	}
	owner := map[string]string{}
	for _, n := range nodes {
		for _, m := range n.MACs {
			if o, ok := owner[m]; ok {
				t.Errorf("MAC %s on %s and %s", m, o, n.ID)
			}
			owner[m] = n.ID
		}
	}
}

// PostgreSQL restarts under load: calls during the outage fail with
// ErrUnavailable (quickly, not hanging), the store and its change feed
// reconnect by themselves, and every registration acknowledged before,
// during or after the outage is there.
func TestRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a PostgreSQL server")
	}
	ctx := context.Background()
	srv := pgtest.New(t, pgtest.Options{})
	url, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url, Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	changes := watch(t, s)
	if c := next(t, changes); c.Kind != store.ChangeReset {
		t.Fatalf("Watch: first change = %+v, want a reset", c)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]string{} // MAC → node id
		failures atomic.Int32
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		seq      atomic.Int64
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mac := fmt.Sprintf("5254%08X", seq.Add(1))
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				t0 := time.Now()
				res, err := s.RegisterNode(cctx, store.Registration{MACs: []string{mac}, LastState: "idle", At: time.Now(),
					Facts: map[string]string{"w": fmt.Sprint(w)}})
				cancel()
				if err != nil {
					failures.Add(1)
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("RegisterNode during restart = %v, want ErrUnavailable", err)
					}
					if d := time.Since(t0); d > 8*time.Second {
						t.Errorf("RegisterNode took %v to fail", d)
					}
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[mac] = res.Node.ID
				mu.Unlock()
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("registrations before the restart", func() bool { return count() >= 50 })
	if err := srv.Kill(); err != nil { // a crash: immediate shutdown
		t.Fatal(err)
	}
	waitFor("failures during the outage", func() bool { return failures.Load() >= 6 })
	if _, err := s.ListNodes(ctx, false); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ListNodes while the server is down = %v, want ErrUnavailable", err)
	}
	before := count()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("registrations after the restart", func() bool { return count() >= before+50 })
	// The change feed came back by itself and said it may have missed
	// changes.
	if c := next(t, changes); c.Kind != store.ChangeReset {
		t.Errorf("Watch after the restart: change %+v, want a reset", c)
	}
	close(stop)
	wg.Wait()

	nodes, err := s.ListNodes(ctx, false)
	if err != nil {
		t.Fatalf("ListNodes after restart = %v", err)
	}
	have := map[string]string{}
	for _, n := range nodes {
		for _, m := range n.MACs {
			have[m] = n.ID
		}
	}
	lost := 0
	for mac, id := range acked {
		if have[mac] != id {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged registrations lost across the restart", lost, len(acked))
	}
	t.Logf("%d registrations acknowledged, %d failed during the outage", len(acked), failures.Load())
}
