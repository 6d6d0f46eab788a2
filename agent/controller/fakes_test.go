package controller

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/wire"
)

// fakeClock is a Clock whose time moves only when the test says so. Every
// After call is handed to the test (next), so the test sees each sleep
// the controller asks for, in order, and decides when it ends.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	reqs    chan time.Duration
	done    chan struct{}
	pending time.Duration // the sleep step last saw, -1 for none; test goroutine only
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t *testing.T) *fakeClock {
	f := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), reqs: make(chan time.Duration), done: make(chan struct{}), pending: -1}
	t.Cleanup(func() { close(f.done) })
	return f
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	ch := make(chan time.Time, 1)
	f.waiters = append(f.waiters, fakeWaiter{at: f.now.Add(d), ch: ch})
	f.mu.Unlock()
	select {
	case f.reqs <- d:
	case <-f.done:
	}
	return ch
}

// next waits (in real time, bounded) for the controller's next sleep and
// returns its length; the controller stays asleep until advance.
func (f *fakeClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.reqs:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not go to sleep within 10 s")
		return 0
	}
}

// advance moves time by d and wakes the sleepers that are due.
func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			w.ch <- f.now
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
}

// step ends the controller's current sleep (if the test has seen one),
// then waits for its next sleep and checks that it is want. When step
// returns the controller is asleep, so the test may look at what it did.
func (f *fakeClock) step(t *testing.T, want time.Duration) {
	t.Helper()
	if f.pending >= 0 {
		f.advance(f.pending)
	}
	got := f.next(t)
	if got != want {
		t.Fatalf("controller slept %v, want %v", got, want)
	}
	f.pending = got
}

// fakeServer is a Razor node API on httptest: it answers each checkin
// with the next scripted reply (the last one repeats) and records every
// request.
type fakeServer struct {
	*httptest.Server
	mu        sync.Mutex
	replies   []scripted
	checkins  []wire.CheckinRequest
	registers []wire.RegisterRequest
	regStatus int // HTTP status of register replies; 0 means 200
}

type scripted struct {
	status int    // 0 means 200
	body   string // raw reply; "" means encode reply
	reply  wire.Reply
}

func newFakeServer(t *testing.T, replies ...scripted) *fakeServer {
	s := &fakeServer{replies: replies}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.DefaultCheckinPath, func(w http.ResponseWriter, r *http.Request) {
		req, err := wire.ParseCheckinQuery(r.URL.Query())
		if err != nil {
			t.Errorf("server: bad checkin query %q: %v", r.URL.RawQuery, err)
		}
		s.mu.Lock()
		s.checkins = append(s.checkins, req)
		sc := s.replies[0]
		if len(s.replies) > 1 {
			s.replies = s.replies[1:]
		}
		s.mu.Unlock()
		body := []byte(sc.body)
		if sc.body == "" {
			body, _ = json.Marshal(sc.reply)
		}
		if sc.status != 0 {
			w.WriteHeader(sc.status)
		}
		w.Write(body)
	})
	mux.HandleFunc("POST "+wire.DefaultRegisterPath, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := wire.ParseRegister(r.Header.Get("Content-Type"), body)
		if err != nil {
			t.Errorf("server: bad register body %s: %v", body, err)
		}
		s.mu.Lock()
		s.registers = append(s.registers, req)
		st := s.regStatus
		s.mu.Unlock()
		if st != 0 {
			w.WriteHeader(st)
			w.Write([]byte(`{"errcode":1,"result":"store down"}`))
			return
		}
		w.Write([]byte(`{"errcode":0,"result":"Ok","http_err_code":200,"response":{"@uuid":"x"}}`))
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) counts() (checkins, registers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.checkins), len(s.registers)
}

func (s *fakeServer) lastCheckin() wire.CheckinRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkins[len(s.checkins)-1]
}

func (s *fakeServer) lastRegister() wire.RegisterRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registers[len(s.registers)-1]
}

func (s *fakeServer) setReplies(r ...scripted) {
	s.mu.Lock()
	s.replies = r
	s.mu.Unlock()
}

func (s *fakeServer) discover() DiscoverFunc {
	return func(context.Context) (discover.Server, error) {
		return discover.Server{URI: s.URL, CheckinPath: wire.DefaultCheckinPath, RegisterPath: wire.DefaultRegisterPath, Source: "test"}, nil
	}
}

// fakeFacts is a FactsFunc whose facts the test changes.
type fakeFacts struct {
	mu    sync.Mutex
	facts map[string]string
}

func (f *fakeFacts) set(k, v string) {
	f.mu.Lock()
	f.facts[k] = v
	f.mu.Unlock()
}

func (f *fakeFacts) gather(context.Context) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.facts))
	for k, v := range f.facts {
		out[k] = v
	}
	return out, nil
}

// fakePower records power commands.
type fakePower struct {
	mu   sync.Mutex
	cmds []wire.Command
}

func (p *fakePower) do(_ context.Context, cmd wire.Command) error {
	p.mu.Lock()
	p.cmds = append(p.cmds, cmd)
	p.mu.Unlock()
	return nil
}

func (p *fakePower) got() []wire.Command {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wire.Command(nil), p.cmds...)
}

func ack(cfg *wire.ClientConfig) scripted { return scripted{reply: wire.OK(wire.Acknowledge, cfg)} }
func cmd(c wire.Command, cfg *wire.ClientConfig) scripted {
	return scripted{reply: wire.OK(c, cfg)}
}
