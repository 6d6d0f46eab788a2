// Package core is the checkin server's logic, free of HTTP: it answers
// node checkins with a command (the decision table below), stores
// registrations and evaluates their tags, binds nodes to policies,
// renders per-node iPXE scripts with boot tokens, holds long-poll
// checkins, and carries out admin operations on nodes, tags, policies
// and commands, and power actions through the nodes' BMCs (power.go). The
// HTTP adapter (package httpapi) sits on top.
//
// Decision table for a checkin, first match wins:
//
//  1. the request carries a boot token and the node's current token is
//     a different one → refused (ErrTokenMismatch; HTTP 403); it carries
//     none and the token mode wants one (TokenIssued: a token was issued
//     for the node; TokenAlways: always) → refused (ErrTokenMissing;
//     HTTP 403);
//  2. first_checkin=true, an unknown node, or a node silent for longer
//     than the register timeout (120 s) → register;
//  3. a queued admin command (reboot, poweroff, register) → that command,
//     delivered once;
//  4. a node bound to a policy: poweroff target → poweroff; target not
//     booted yet → reboot; target booted and the node is back in the
//     microkernel → the target failed: the node is marked failed and gets
//     acknowledge (it stays in the microkernel, its boot script is the
//     microkernel again, and an admin unbinds it to retry); failed →
//     acknowledge;
//  5. an unbound node that matches an enabled policy with room is bound
//     → reboot (poweroff for a poweroff target);
//  6. otherwise acknowledge — held up to wait= seconds when the node asks,
//     and answered early when a command is queued or a policy changes.
//
// Queued commands come before the binding so that an admin's poweroff or
// reboot reaches a bound node too.
//
// State: the core keeps every node's identity, binding and tags, the
// tokens, tags and policies in memory, loaded from the store at start and
// updated after each acknowledged store write, so a checkin costs no
// database read; checkin times are written in batches (FlushInterval).
// The store stays the authority for everything that must be atomic
// (identity merges, MAC uniqueness, max_count). When other processes
// write to the same store (replicas on PostgreSQL), the store's change
// feed (store.Watcher) keeps this cache current: see watch.go.
package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/metrics"
	"github.com/razor-mk/razor-mk/server/mkimage"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/rules"
	"github.com/razor-mk/razor-mk/server/store"
)

// Errors; callers use errors.Is. Store errors (store.ErrNotFound,
// store.ErrExists, store.ErrInUse…) pass through wrapped.
var (
	// ErrTokenMismatch: the request's boot token is not the node's
	// current one.
	ErrTokenMismatch = errors.New("core: boot token does not match")
	// ErrTokenMissing: the request carries no boot token, and the node
	// mode requires one (a token was issued for the node under
	// TokenIssued; always under TokenAlways).
	ErrTokenMissing = errors.New("core: boot token missing")
	// ErrInvalid: bad input; the error is an *InputError naming the field.
	ErrInvalid = errors.New("core: invalid input")
)

// InputError names the field of a request that is wrong.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InputError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Node states, as reported by the admin API and the razor_nodes metric.
const (
	StateActive   = "active"   // unbound, checking in
	StateInactive = "inactive" // unbound, silent past the register timeout
	StateBound    = "bound"    // bound, target not booted yet
	StateBooted   = "booted"   // bound, target booted
	StateFailed   = "failed"   // bound, came back to the microkernel after its target
)

// TokenMode says when a node request must carry the node's boot token
// (razor.token= on the microkernel's command line).
type TokenMode string

// Token modes.
const (
	// TokenIssued (the default): once the server has issued a token for
	// a node (it booted the microkernel through /boot.ipxe), requests for
	// that node must carry the current one; a node never issued a token
	// (an original microkernel booted elsewhere) needs none.
	TokenIssued TokenMode = "issued"
	// TokenAlways: every request must carry a current token.
	TokenAlways TokenMode = "always"
	// TokenOff: a request without a token is accepted; a token that is
	// present must still be the current one.
	TokenOff TokenMode = "off"
)

// ParseTokenMode checks a --node-token value.
func ParseTokenMode(s string) (TokenMode, error) {
	switch m := TokenMode(s); m {
	case TokenIssued, TokenAlways, TokenOff:
		return m, nil
	case "":
		return TokenIssued, nil
	}
	return "", fmt.Errorf("core: node token mode %q: want off, issued or always", s)
}

// Options configure New. Zero values take the defaults given.
type Options struct {
	Logger  *slog.Logger     // default: discard
	Metrics *metrics.Metrics // default: none
	Now     func() time.Time // default: time.Now
	// RegisterTimeout: a node silent longer than this is asked to
	// register again (default 120 s, the original's register_timeout).
	RegisterTimeout time.Duration
	// FlushInterval: how often checkin times are written (default 1 s).
	FlushInterval time.Duration
	// PersistEvery: a node's checkin time is written at most this often
	// (default 30 s); in memory it is always current.
	PersistEvery time.Duration
	// MaxWaiters bounds the long-poll checkins held at once (default
	// 10000); beyond it a checkin is answered at once.
	MaxWaiters int
	// ServerURL is this server as nodes reach it, http://IP:PORT; it goes
	// on the microkernel's command line (razor.server=) and into target
	// templates.
	ServerURL string
	// Images finds the microkernel; nil serves an error script.
	Images *mkimage.Finder
	// KernelArgs are appended to the microkernel's command line.
	KernelArgs string
	// CheckinSkew, when set, goes on the microkernel's command line as
	// razor.checkin_skew=, so that the first checkin after boot already
	// uses the operator's mk_checkin_skew.
	CheckinSkew *int
	// BootRetry is how long an error script waits before rebooting
	// (default 15 s).
	BootRetry time.Duration
	// Rand is the source of boot tokens (default crypto/rand).
	Rand io.Reader
	// NodeToken says when node requests need a boot token (default
	// TokenIssued).
	NodeToken TokenMode
	// SecureURL and CASHA256, when TLS is on: the microkernel is told
	// razor.server=SecureURL (https://IP:PORT) and razor.ca_sha256= the
	// CA to pin, so that our agent speaks HTTPS only.
	SecureURL string
	CASHA256  string
	// TagEvalTimeout bounds evaluating a saved tag (and the tags that
	// reference it) over every node; a rule that takes longer is refused
	// as too expensive (default DefaultTagEvalTimeout).
	TagEvalTimeout time.Duration
	// Events records the nodes' events (default: none).
	Events *events.Recorder
	// CommandExpiry: a queued command not delivered within this long is
	// dropped (default: never).
	CommandExpiry time.Duration
	// Power switches nodes through their BMCs (power.IPMI); nil: power
	// actions answer ErrNoPower.
	Power power.Controller
	// Secrets seals the BMC passwords (secretbox.File); nil: credentials
	// cannot be set (ErrNoPower).
	Secrets Sealer
}

// Core is the checkin server's logic. Create it with New and run Run.
type Core struct {
	st   store.Store
	opts Options
	log  *slog.Logger
	m    *metrics.Metrics
	now  func() time.Time
	ev   *events.Recorder

	cache    *cache
	tags     atomic.Pointer[tagSet]
	policies atomic.Pointer[policySet]
	adminMu  sync.Mutex // serialises tag and policy changes

	dirtyMu sync.Mutex
	dirty   map[string]store.Checkin

	waiters *waiters
}

// New loads the store's state and returns a Core.
func New(ctx context.Context, st store.Store, o Options) (*Core, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RegisterTimeout <= 0 {
		o.RegisterTimeout = 120 * time.Second
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.PersistEvery <= 0 {
		o.PersistEvery = 30 * time.Second
	}
	if o.MaxWaiters <= 0 {
		o.MaxWaiters = 10000
	}
	if o.TagEvalTimeout <= 0 {
		o.TagEvalTimeout = DefaultTagEvalTimeout
	}
	if o.BootRetry <= 0 {
		o.BootRetry = 15 * time.Second
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.NodeToken == "" {
		o.NodeToken = TokenIssued
	}
	if _, err := ParseTokenMode(string(o.NodeToken)); err != nil {
		return nil, err
	}
	c := &Core{
		st: st, opts: o, log: o.Logger, m: o.Metrics, now: o.Now, ev: o.Events,
		cache:   newCache(),
		dirty:   map[string]store.Checkin{},
		waiters: newWaiters(o.MaxWaiters, o.Metrics),
	}
	if err := c.loadPolicies(ctx); err != nil {
		return nil, err
	}
	if err := c.loadTags(ctx); err != nil {
		return nil, err
	}
	nodes, err := st.ListNodes(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("core: load nodes: %w", err)
	}
	ts := c.tags.Load()
	for _, n := range nodes {
		c.cache.put(n, c.evaluate(ts, n.ID, n.Facts), ts.gen)
	}
	toks, err := st.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("core: load tokens: %w", err)
	}
	for _, t := range toks {
		c.cache.putToken([]string{t.Key}, t.Token, t.Issued)
	}
	c.log.Info("store loaded", "nodes", len(nodes), "tags", len(ts.tags), "policies", len(c.policies.Load().list), "tokens", len(toks))
	return c, nil
}

// Run writes batched checkin times every FlushInterval until ctx ends,
// then releases held long-polls and writes the last batch. With a store
// shared between processes (store.Watcher) it also follows their changes.
func (c *Core) Run(ctx context.Context) error {
	if w, ok := c.st.(store.Watcher); ok {
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.follow(ctx, w)
		}()
		defer func() { <-done }()
	}
	t := time.NewTicker(c.opts.FlushInterval)
	defer t.Stop()
	var expire <-chan time.Time
	if c.opts.CommandExpiry > 0 {
		et := time.NewTicker(c.expiryInterval())
		defer et.Stop()
		expire = et.C
		c.expireCommands(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			c.waiters.shutdown()
			c.flush(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
			c.flush(ctx)
		case <-expire:
			c.expireCommands(ctx)
		}
	}
}

// Shutdown answers every held long-poll at once and refuses new ones; the
// HTTP server calls it before draining its connections.
func (c *Core) Shutdown() { c.waiters.shutdown() }

// Flush writes the batched checkin times now.
func (c *Core) Flush(ctx context.Context) error { return c.flush(ctx) }

func (c *Core) flush(ctx context.Context) error {
	c.dirtyMu.Lock()
	if len(c.dirty) == 0 {
		c.dirtyMu.Unlock()
		return nil
	}
	batch := make([]store.Checkin, 0, len(c.dirty))
	for _, ch := range c.dirty {
		batch = append(batch, ch)
	}
	c.dirty = make(map[string]store.Checkin, len(batch))
	c.dirtyMu.Unlock()
	if err := c.st.TouchNodes(ctx, batch); err != nil {
		c.m.FlushError()
		c.log.Warn("writing checkin times failed", "nodes", len(batch), "err", err)
		return fmt.Errorf("core: flush checkins: %w", err)
	}
	return nil
}

// touch records a checkin in memory and queues it for the next flush.
func (c *Core) touch(e *entry, at time.Time, lastState string) {
	ns := at.UnixNano()
	for {
		cur := e.c.checkin.Load()
		if cur >= ns || e.c.checkin.CompareAndSwap(cur, ns) {
			break
		}
	}
	// A node's checkin time is written at most every PersistEvery (and
	// when its last state changes): the store needs it only to tell, after
	// a restart, which nodes went silent, and a node checking in
	// several times a second must not cost a write each time.
	last := e.c.persisted.Load()
	if st := e.c.state.Load(); st != nil && *st == lastState && ns-last < c.opts.PersistEvery.Nanoseconds() {
		return
	}
	if !e.c.persisted.CompareAndSwap(last, ns) {
		return // a concurrent checkin of the same node queues it
	}
	e.c.state.Store(&lastState)
	c.dirtyMu.Lock()
	c.dirty[e.node.ID] = store.Checkin{NodeID: e.node.ID, At: at, LastState: lastState}
	c.dirtyMu.Unlock()
}

func (c *Core) loadPolicies(ctx context.Context) error {
	ps, err := c.st.ListPolicies(ctx)
	if err != nil {
		return fmt.Errorf("core: load policies: %w", err)
	}
	c.policies.Store(newPolicySet(ps))
	return nil
}

// loadTags reads the tags and parses their rules into a new generation.
func (c *Core) loadTags(ctx context.Context) error {
	ts, err := c.st.ListTags(ctx)
	if err != nil {
		return fmt.Errorf("core: load tags: %w", err)
	}
	set := &tagSet{tags: make([]rules.Tag, 0, len(ts))}
	if old := c.tags.Load(); old != nil {
		set.gen = old.gen + 1
	}
	for _, t := range ts {
		r, err := rules.Parse(t.Rule)
		if err != nil {
			// A stored rule that no longer parses matches nothing.
			c.log.Error("stored tag rule does not parse", "tag", t.Name, "err", err)
			r = nil
		}
		set.tags = append(set.tags, rules.Tag{Name: t.Name, Rule: r})
	}
	c.tags.Store(set)
	return nil
}

// evaluate returns a node's tags; on a rule error it logs and falls back
// to the system tags.
func (c *Core) evaluate(ts *tagSet, id string, facts map[string]string) []string {
	tags, err := rules.Evaluate(ts.tags, facts)
	if err != nil {
		c.log.Warn("tag evaluation failed", "node", id, "err", err)
		return rules.SystemTags(facts)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags
}

// retag reloads the tags and recomputes every node's tags.
func (c *Core) retag(ctx context.Context) error {
	if err := c.loadTags(ctx); err != nil {
		return err
	}
	ts := c.tags.Load()
	nodes, err := c.st.ListNodes(ctx, true)
	if err != nil {
		return fmt.Errorf("core: retag: %w", err)
	}
	for _, n := range nodes {
		tags := c.evaluate(ts, n.ID, n.Facts)
		if e := c.cache.get(n.ID); e != nil && e.tags != nil {
			if added, removed := tagChanges(e.tags, tags); len(added)+len(removed) > 0 {
				c.record(events.TagsChanged, n.ID, n.MACs, map[string]string{"added": strings.Join(added, ","), "removed": strings.Join(removed, ","), "tags": strings.Join(tags, ",")})
			}
		}
		c.cache.setTags(n.ID, tags, ts.gen)
	}
	c.waiters.wakeAll()
	return nil
}

// newToken returns a fresh boot token.
func (c *Core) newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(c.opts.Rand, b); err != nil {
		return "", fmt.Errorf("core: token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// state derives a node's state.
func (c *Core) state(n store.Node, last time.Time, now time.Time) string {
	if n.Policy != "" {
		switch n.BootState {
		case store.BootBooted:
			return StateBooted
		case store.BootFailed:
			return StateFailed
		}
		return StateBound
	}
	if now.Sub(last) > c.opts.RegisterTimeout {
		return StateInactive
	}
	return StateActive
}

// NodeStates counts the nodes by state (for the razor_nodes metric).
func (c *Core) NodeStates() map[string]int {
	out := map[string]int{StateActive: 0, StateInactive: 0, StateBound: 0, StateBooted: 0, StateFailed: 0}
	now := c.now()
	for _, e := range c.cache.all() {
		out[c.state(e.node, time.Unix(0, e.c.checkin.Load()), now)]++
	}
	return out
}

// waiters tracks held long-poll checkins by node.
type waiters struct {
	mu     sync.Mutex
	byNode map[string]map[chan struct{}]struct{}
	n, max int
	closed bool
	m      *metrics.Metrics
}

func newWaiters(max int, m *metrics.Metrics) *waiters {
	return &waiters{byNode: map[string]map[chan struct{}]struct{}{}, max: max, m: m}
}

// add registers a waiter for node id; false when at the limit or shut
// down.
func (w *waiters) add(id string) (chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.n >= w.max {
		return nil, false
	}
	ch := make(chan struct{}, 1)
	set := w.byNode[id]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		w.byNode[id] = set
	}
	set[ch] = struct{}{}
	w.n++
	w.m.Waiters(1)
	return ch, true
}

func (w *waiters) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if set := w.byNode[id]; set != nil {
		if _, ok := set[ch]; ok {
			delete(set, ch)
			w.n--
			w.m.Waiters(-1)
		}
		if len(set) == 0 {
			delete(w.byNode, id)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wake signals node id's waiters.
func (w *waiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.byNode[id] {
		signal(ch)
	}
}

// wakeAll signals every waiter (a policy or tag changed: some may bind).
func (w *waiters) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, set := range w.byNode {
		for ch := range set {
			signal(ch)
		}
	}
}

// shutdown refuses new waiters and releases the held ones.
func (w *waiters) shutdown() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wakeAll()
}

func (w *waiters) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// count returns the number of held waiters.
func (w *waiters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Waiting returns the number of long-poll checkins being held.
func (c *Core) Waiting() int { return c.waiters.count() }
