// Package replicas tests several razor-netboot processes on one
// PostgreSQL database: real `razor-netboot serve --store postgres://…`
// processes, a real PostgreSQL server (pgtest), and simulated nodes that
// speak the node API to whichever replica they pick for each request, as
// behind a load balancer.
package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/syncbuf"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/store/pgtest"
	"github.com/razor-mk/razor-mk/server/store/postgres"
	"github.com/razor-mk/razor-mk/wire"
)

const adminToken = "replica-test-token"

// replica is one razor-netboot serve process.
type replica struct {
	url   string
	cmd   *exec.Cmd
	logs  *syncbuf.Buffer
	done  chan struct{}
	admin *adminapi.Client
}

func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startReplicas starts n servers on the database at dbURL, all at once
// (so their migrations race), and waits until each answers /healthz.
func startReplicas(t *testing.T, bin, dbURL string, n int) []*replica {
	t.Helper()
	rs := make([]*replica, n)
	for i := range rs {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cmd := exec.Command(bin, "serve", "--dhcp", "off", "--tftp", "off", "--store", dbURL,
			"--data-dir", t.TempDir(), "--http-addr", addr, "--admin-token", adminToken,
			"--rate-limit", "0", "--log-level", "warn", "--flush-interval", "200ms")
		r := &replica{url: "http://" + addr, cmd: cmd, logs: &syncbuf.Buffer{}, done: make(chan struct{})}
		r.admin = &adminapi.Client{Server: r.url, Token: adminToken}
		cmd.Stdout, cmd.Stderr = r.logs, r.logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			cmd.Wait()
			close(r.done)
		}()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-r.done
			if t.Failed() {
				t.Logf("replica %s log:\n%s", r.url, tail(r.logs.String(), 40))
			}
		})
		rs[i] = r
	}
	for _, r := range rs {
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get(r.url + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if r.exited() || time.Now().After(deadline) {
				t.Fatalf("replica %s did not start: %v\n%s", r.url, err, r.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return rs
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// machine is a simulated node.
type machine struct {
	macs  []string // normalised
	uuid  string
	facts map[string]string
}

func newMachine(batch, i int, cpus int) machine {
	m := machine{
		macs:  []string{fmt.Sprintf("52540A%02X%04X", batch, 2*i), fmt.Sprintf("52540A%02X%04X", batch, 2*i+1)},
		uuid:  fmt.Sprintf("00000000-0000-4000-80%02X-%012X", batch, i+1),
		facts: map[string]string{"processorcount": fmt.Sprint(cpus), "memorysize_mb": "2048", "is_virtual": "true", "virtual": "kvm"},
	}
	return m
}

func (m machine) hwid() string { return wire.JoinHWID(m.macs) }

// outcome is what the simulated nodes saw, for the assertions.
type outcome struct {
	mu         sync.Mutex
	registered map[string]int    // uuid → acknowledged registrations
	poweroffs  map[string]int    // uuid → poweroff commands received
	booted     map[string]string // uuid → replica that served the target
	failures   atomic.Int64      // answers that were errors (5xx, errcode)
	codes      map[int]int       // HTTP status of the error answers (0: no answer)
	successes  atomic.Int64
	// after is a time (unix ns); firstReg the first registration (which
	// needs the database) acknowledged after it.
	after, firstReg atomic.Int64
}

func newOutcome() *outcome {
	return &outcome{registered: map[string]int{}, poweroffs: map[string]int{}, booted: map[string]string{}, codes: map[int]int{}}
}

// client speaks the node API.
var client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// replyError is an error answer of the node API.
type replyError struct {
	what string
	code int
	body []byte
}

func (e *replyError) Error() string { return fmt.Sprintf("%s: HTTP %d: %s", e.what, e.code, e.body) }

func checkin(ctx context.Context, base string, m machine, first bool, token string) (wire.Command, error) {
	q := wire.CheckinRequest{HWID: m.hwid(), UUID: m.uuid, LastState: "idle", FirstCheckin: first, Token: token}.Query()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.DefaultCheckinPath+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	body, code, err := send(req)
	if err != nil {
		return "", err
	}
	r, _, err := wire.ParseReply(body)
	if err != nil || code != http.StatusOK || r.ErrCode != 0 {
		return "", &replyError{"checkin", code, body}
	}
	return r.Command(), nil
}

func register(ctx context.Context, base string, m machine, token string) error {
	body, err := wire.RegisterRequest{HWID: m.hwid(), UUID: m.uuid, Facts: m.facts, LastState: "idle", Token: token}.Encode()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.DefaultRegisterPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentTypeJSON)
	data, code, err := send(req)
	if err != nil {
		return err
	}
	var r struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(data, &r) != nil || code != http.StatusOK || r.ErrCode != 0 {
		return &replyError{"register", code, data}
	}
	return nil
}

func bootScript(ctx context.Context, base string, m machine) (string, error) {
	q := url.Values{"mac": {wire.ColonMAC(m.macs[0])}, "uuid": {m.uuid}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/boot.ipxe?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	body, code, err := send(req)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", &replyError{"boot.ipxe", code, body}
	}
	return string(body), nil
}

func send(req *http.Request) ([]byte, int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return body, resp.StatusCode, err
}

// tokenRE finds the boot token on a microkernel script's command line.
var tokenRE = regexp.MustCompile(`razor\.token=([0-9a-f]+)`)

// targetMarker is in the kernel URL of the test policy's target: a boot
// script carrying it means the node was served its target.
const targetMarker = "target.invalid"

// run simulates machine m as the agent would behave, each request to a
// random replica, until ctx ends: first checkin → register → checkins;
// reboot → fetch /boot.ipxe (iPXE) and either leave (target served) or
// come back to the microkernel; poweroff is counted and ignored, so that
// a second delivery would show.
func run(ctx context.Context, rs []*replica, m machine, o *outcome) {
	pick := func() string { return rs[rand.IntN(len(rs))].url }
	first := true
	token := "" // booted elsewhere at first: no token issued yet
	fail := func(err error) {
		o.failures.Add(1)
		code := 0
		if re := (*replyError)(nil); errors.As(err, &re) {
			code = re.code
		}
		o.mu.Lock()
		o.codes[code]++
		o.mu.Unlock()
		select { // the agent backs off
		case <-time.After(time.Duration(50+rand.IntN(100)) * time.Millisecond):
		case <-ctx.Done():
		}
	}
	ok := func() { o.successes.Add(1) }
	for i := 0; i < 100000 && ctx.Err() == nil; i++ {
		cmd, err := checkin(ctx, pick(), m, first, token)
		if err != nil {
			if ctx.Err() == nil {
				fail(err)
			}
			continue
		}
		ok()
		switch cmd {
		case wire.Register:
			if err := register(ctx, pick(), m, token); err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				continue
			}
			ok()
			if now, a := time.Now().UnixNano(), o.after.Load(); a != 0 && now > a {
				o.firstReg.CompareAndSwap(0, now)
			}
			first = false
			o.mu.Lock()
			o.registered[m.uuid]++
			o.mu.Unlock()
		case wire.Reboot:
			base := pick()
			script, err := bootScript(ctx, base, m)
			if err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				continue
			}
			if strings.Contains(script, targetMarker) {
				o.mu.Lock()
				o.booted[m.uuid] = base
				o.mu.Unlock()
				return // installed: it leaves the microkernel for good
			}
			// Back in the microkernel with the boot token of its command
			// line, as the agent does.
			if m := tokenRE.FindStringSubmatch(script); m != nil {
				token = m[1]
			}
			first = true
		case wire.Poweroff:
			o.mu.Lock()
			o.poweroffs[m.uuid]++
			o.mu.Unlock()
		}
		select {
		case <-time.After(time.Duration(20+rand.IntN(40)) * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// TestReplicas runs three replicas on one database under a spread load:
// no acknowledged registration lost, a MAC never on two nodes, a policy
// never bound beyond max_count, an admin command delivered exactly once,
// DHCP leases never given to two clients. Then PostgreSQL is killed
// under load and started again: the replicas answer errors meanwhile,
// reconnect by themselves and lose nothing acknowledged.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three razor-netboot processes")
	}
	ctx := context.Background()
	srv := pgtest.New(t, pgtest.Options{})
	dbURL, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin := testlab.Binary(t, "razor-netboot")
	rs := startReplicas(t, bin, dbURL, 3)

	// The admin talks to replica 0 only; nodes talk to all three.
	if _, err := rs[0].admin.CreateTag(ctx, "two", json.RawMessage(`["=", ["fact", "processorcount"], "2"]`)); err != nil {
		t.Fatal(err)
	}
	const maxCount = 5
	if _, err := rs[0].admin.CreatePolicy(ctx, adminapi.Policy{Name: "install", Order: 1, Tags: []string{"two"}, MaxCount: maxCount,
		Target: adminapi.Target{Kind: "kernel", Kernel: "http://" + targetMarker + "/vmlinuz", Initrd: "http://" + targetMarker + "/initrd"}}); err != nil {
		t.Fatal(err)
	}

	t.Run("Load", func(t *testing.T) {
		const twos, fours = 24, 24
		var machines []machine
		for i := range twos + fours {
			cpus := 2
			if i >= twos {
				cpus = 4
			}
			machines = append(machines, newMachine(1, i, cpus))
		}
		o := newOutcome()
		lctx, stop := context.WithTimeout(ctx, 60*time.Second)
		defer stop()
		var wg sync.WaitGroup
		for _, m := range machines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(lctx, rs, m, o)
			}()
		}
		// Queue one poweroff for each 4-CPU machine once it is known,
		// through the replicas in turn.
		queued := map[string]int64{} // uuid → command id
		for len(queued) < fours && lctx.Err() == nil {
			nodes, err := rs[0].admin.Nodes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				if _, done := queued[n.UUID]; done || machineByUUID(machines, n.UUID).facts["processorcount"] != "4" {
					continue
				}
				c, err := rs[len(queued)%3].admin.QueueCommand(ctx, n.ID, "poweroff")
				if err != nil {
					t.Fatalf("QueueCommand(%s) = %v", n.ID, err)
				}
				queued[n.UUID] = c.ID
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Let the load run until the policy is full and served, and every
		// poweroff delivered; then a little longer.
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			o.mu.Lock()
			done := len(o.booted) >= maxCount && len(o.poweroffs) >= fours
			o.mu.Unlock()
			if done {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
		stop()
		wg.Wait()

		o.mu.Lock()
		defer o.mu.Unlock()
		t.Logf("%d answers, %d errors; %d machines registered, %d booted their target, %d got a poweroff",
			o.successes.Load(), o.failures.Load(), len(o.registered), len(o.booted), len(o.poweroffs))
		if o.failures.Load() > 0 {
			t.Errorf("%d requests failed while PostgreSQL was up", o.failures.Load())
		}
		nodes := checkStore(t, rs, machines, o)
		// max_count: never more nodes bound, nor targets served, than 5.
		bound := 0
		for _, n := range nodes {
			if n.Policy == "install" {
				bound++
			}
		}
		if bound != maxCount || len(o.booted) != maxCount {
			t.Errorf("policy install (max_count %d): %d nodes bound, %d targets served; want %d and %d", maxCount, bound, len(o.booted), maxCount, maxCount)
		}
		for _, r := range rs {
			p, err := r.admin.Policy(ctx, "install")
			if err != nil || p.Bound != maxCount {
				t.Errorf("replica %s: policy install bound = %d, %v; want %d", r.url, p.Bound, err, maxCount)
			}
		}
		// Each admin command delivered exactly once, whichever replica
		// queued it and whichever the node checked in at.
		if len(queued) != fours {
			t.Errorf("queued %d poweroffs, want %d", len(queued), fours)
		}
		for uuid := range queued {
			if n := o.poweroffs[uuid]; n != 1 {
				t.Errorf("machine %s received its poweroff %d times, want once", uuid, n)
			}
		}
		for uuid, n := range o.poweroffs {
			if _, ok := queued[uuid]; !ok {
				t.Errorf("machine %s received %d poweroffs, none queued", uuid, n)
			}
		}
	})

	t.Run("Leases", func(t *testing.T) {
		// Full-mode DHCP on two replicas shares the lease table: two
		// stores on the servers' database hand out one small pool.
		a, err := postgres.Open(ctx, dbURL, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := postgres.Open(ctx, dbURL, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		stores := []leases.Store{a, b}
		const pool, clients = 8, 32
		var mu sync.Mutex
		got := map[string]netip.Addr{}
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mac := fmt.Sprintf("52:54:00:0b:00:%02x", c)
				for a := range pool {
					ip := netip.AddrFrom4([4]byte{10, 11, 0, byte(100 + (a+c)%pool)})
					err := stores[c%2].PutLease(ctx, leases.Lease{MAC: mac, IP: ip, Expires: time.Now().Add(time.Hour)})
					if err == nil {
						mu.Lock()
						got[mac] = ip
						mu.Unlock()
						return
					}
					if !errors.Is(err, leases.ErrConflict) {
						t.Errorf("PutLease = %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		holder := map[netip.Addr]string{}
		for mac, ip := range got {
			if o, ok := holder[ip]; ok {
				t.Errorf("address %v leased to %s and %s", ip, o, mac)
			}
			holder[ip] = mac
		}
		if len(got) != pool {
			t.Errorf("%d clients got a lease from a pool of %d", len(got), pool)
		}
	})

	t.Run("PostgresRestart", func(t *testing.T) {
		// New machines keep arriving (one every 100 ms), so that
		// registrations go on before, during and after the outage.
		var machines []machine
		for i := range 60 {
			machines = append(machines, newMachine(2, i, 8))
		}
		o := newOutcome()
		lctx, stop := context.WithTimeout(ctx, 90*time.Second)
		defer stop()
		var wg sync.WaitGroup
		for i, m := range machines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-time.After(time.Duration(i) * 100 * time.Millisecond):
				case <-lctx.Done():
					return
				}
				run(lctx, rs, m, o)
			}()
		}
		waitUntil(t, "registrations before the outage", func() bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			return len(o.registered) >= 10
		})
		if err := srv.Kill(); err != nil { // as a crash would
			t.Fatal(err)
		}
		killed := time.Now()
		waitUntil(t, "error answers during the outage", func() bool { return o.failures.Load() >= 20 })
		time.Sleep(500 * time.Millisecond)
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		restarted := time.Now()
		o.after.Store(restarted.UnixNano())
		waitUntil(t, "a registration after the restart", func() bool { return o.firstReg.Load() != 0 })
		waitUntil(t, "every machine registered", func() bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			return len(o.registered) == len(machines)
		})
		time.Sleep(time.Second)
		stop()
		wg.Wait()
		t.Logf("outage of %v: %d error answers, %d good ones; first registration %v after the restart",
			restarted.Sub(killed).Round(time.Millisecond), o.failures.Load(), o.successes.Load(),
			time.Unix(0, o.firstReg.Load()).Sub(restarted).Round(time.Millisecond))
		for _, r := range rs {
			if r.exited() {
				t.Errorf("replica %s exited during the outage:\n%s", r.url, tail(r.logs.String(), 20))
			}
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		// The replicas said the store was unavailable (503), so agents
		// back off; they neither hung nor dropped connections.
		for code, n := range o.codes {
			if code != http.StatusServiceUnavailable {
				t.Errorf("%d error answers with HTTP status %d during the outage, want only 503", n, code)
			}
		}
		checkStore(t, rs, machines, o)
	})
}

func machineByUUID(ms []machine, uuid string) machine {
	for _, m := range ms {
		if m.uuid == uuid {
			return m
		}
	}
	return machine{}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkStore asserts, through each replica's admin API, that every
// machine with an acknowledged registration is one node holding all its
// MACs, that no MAC is on two nodes, and that the replicas agree.
func checkStore(t *testing.T, rs []*replica, machines []machine, o *outcome) []adminapi.Node {
	t.Helper()
	ctx := context.Background()
	var first []adminapi.Node
	for i, r := range rs {
		nodes, err := r.admin.Nodes(ctx)
		if err != nil {
			t.Fatalf("replica %s: nodes: %v", r.url, err)
		}
		if i == 0 {
			first = nodes
		} else if len(nodes) != len(first) {
			t.Errorf("replica %s lists %d nodes, replica %s %d", r.url, len(nodes), rs[0].url, len(first))
		}
	}
	byUUID := map[string]adminapi.Node{}
	owner := map[string]string{}
	for _, n := range first {
		if _, dup := byUUID[n.UUID]; dup && n.UUID != "" {
			t.Errorf("two nodes with uuid %s", n.UUID)
		}
		byUUID[n.UUID] = n
		for _, m := range n.MACs {
			if o, ok := owner[m]; ok {
				t.Errorf("MAC %s on nodes %s and %s", m, o, n.ID)
			}
			owner[m] = n.ID
		}
	}
	for _, m := range machines {
		if o.registered[m.uuid] == 0 {
			continue
		}
		n, ok := byUUID[m.uuid]
		if !ok {
			t.Errorf("machine %s: registration acknowledged %d times, but no node has its uuid", m.uuid, o.registered[m.uuid])
			continue
		}
		for _, mac := range m.macs {
			if owner[wire.ColonMAC(mac)] != n.ID {
				t.Errorf("machine %s: MAC %s on %q, want its node %s", m.uuid, mac, owner[wire.ColonMAC(mac)], n.ID)
			}
		}
	}
	return first
}
