package core

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/razor-mk/razor-mk/server/rules"
	"github.com/razor-mk/razor-mk/server/store"
)

// The cache holds what a checkin needs — every node's identity, binding
// and tags, the boot tokens, the tags' rules and the policies — so that
// answering a checkin reads no database. Writes go to the store first and
// are applied here when the store has acknowledged them; node revisions
// order concurrent updates.

// counters are a node's mutable numbers, shared by every version of its
// entry so that an update racing a checkin loses nothing.
type counters struct {
	checkin atomic.Int64 // Unix ns of the latest checkin or registration
	pending atomic.Int32 // commands queued and not delivered
	// persisted and state are the checkin time and last state last
	// queued for writing to the store.
	persisted atomic.Int64
	state     atomic.Pointer[string]
}

// entry is one node's cached view; node and tags are immutable once the
// entry is published.
type entry struct {
	node   store.Node // without facts
	tags   []string
	tagGen uint64
	c      *counters
}

// owner records which node holds a MAC, at which revision.
type owner struct {
	id  string
	rev int64
}

type cache struct {
	mu     sync.RWMutex
	byID   map[string]*entry
	byMAC  map[string]owner
	byUUID map[string]owner
	tokens map[string]store.Token
}

func newCache() *cache {
	return &cache{
		byID:   map[string]*entry{},
		byMAC:  map[string]owner{},
		byUUID: map[string]owner{},
		tokens: map[string]store.Token{},
	}
}

// put publishes n (facts are dropped). tags nil keeps the cached tags.
// An update older than the cached revision is ignored.
func (c *cache) put(n store.Node, tags []string, tagGen uint64) {
	n.Facts = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.byID[n.ID]
	if old != nil && old.node.Rev > n.Rev {
		return
	}
	e := &entry{node: n, tags: tags, tagGen: tagGen}
	if old != nil {
		e.c = old.c
		if tags == nil {
			e.tags, e.tagGen = old.tags, old.tagGen
		}
		c.unindex(old)
	} else {
		e.c = &counters{}
		e.c.pending.Store(int32(n.Pending))
	}
	var last int64
	for _, t := range []time.Time{n.Registered, n.LastCheckin} {
		if !t.IsZero() {
			last = max(last, t.UnixNano())
		}
	}
	for {
		cur := e.c.checkin.Load()
		if cur >= last || e.c.checkin.CompareAndSwap(cur, last) {
			break
		}
	}
	for _, m := range n.MACs {
		if o, ok := c.byMAC[m]; ok && o.id != n.ID && o.rev > n.Rev {
			continue
		}
		c.byMAC[m] = owner{n.ID, n.Rev}
	}
	if n.UUID != "" {
		if o, ok := c.byUUID[n.UUID]; !ok || o.id == n.ID || o.rev < n.Rev {
			c.byUUID[n.UUID] = owner{n.ID, n.Rev}
		}
	}
	c.byID[n.ID] = e
}

// unindex drops the index entries that point at e's node.
func (c *cache) unindex(e *entry) {
	for _, m := range e.node.MACs {
		if c.byMAC[m].id == e.node.ID {
			delete(c.byMAC, m)
		}
	}
	if e.node.UUID != "" && c.byUUID[e.node.UUID].id == e.node.ID {
		delete(c.byUUID, e.node.UUID)
	}
}

func (c *cache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byID[id]; e != nil {
		c.unindex(e)
		delete(c.byID, id)
	}
}

func (c *cache) get(id string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byID[id]
}

// find resolves identity like the store does (store.Match).
func (c *cache) find(uuid string, macs []string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var one *entry
	var cands []store.Node
	add := func(id string) {
		e := c.byID[id]
		if e == nil || slices.ContainsFunc(cands, func(n store.Node) bool { return n.ID == id }) {
			return
		}
		one = e
		cands = append(cands, e.node)
	}
	if uuid != "" {
		if o, ok := c.byUUID[uuid]; ok {
			add(o.id)
		}
	}
	for _, m := range macs {
		if o, ok := c.byMAC[m]; ok {
			add(o.id)
		}
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		if _, ok := store.Match(uuid, macs, cands); ok {
			return one
		}
		return nil
	}
	n, ok := store.Match(uuid, macs, cands)
	if !ok {
		return nil
	}
	return c.byID[n.ID]
}

// all returns every entry.
func (c *cache) all() []*entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*entry, 0, len(c.byID))
	for _, e := range c.byID {
		out = append(out, e)
	}
	return out
}

// setTags replaces a node's tags if gen is newer than what it has.
func (c *cache) setTags(id string, tags []string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.byID[id]
	if old == nil || old.tagGen >= gen {
		return
	}
	e := *old
	e.tags, e.tagGen = tags, gen
	c.byID[id] = &e
}

func (c *cache) putToken(keys []string, tok string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.tokens[k] = store.Token{Key: k, Token: tok, Issued: at}
	}
}

// token returns the newest token under any of keys, or "".
func (c *cache) token(keys []string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var best store.Token
	for _, k := range keys {
		if t, ok := c.tokens[k]; ok && (best.Token == "" || t.Issued.After(best.Issued)) {
			best = t
		}
	}
	return best.Token
}

// tagSet is a generation of the tags' rules.
type tagSet struct {
	gen  uint64
	tags []rules.Tag
}

// policySet is the policies in binding order.
type policySet struct {
	list   []store.Policy
	byName map[string]store.Policy
}

func newPolicySet(ps []store.Policy) *policySet {
	s := &policySet{list: ps, byName: make(map[string]store.Policy, len(ps))}
	for _, p := range ps {
		s.byName[p.Name] = p
	}
	return s
}

// candidates returns, in order, the enabled policies with room whose
// tags the node has all of.
func (s *policySet) candidates(tags []string) []string {
	var out []string
	for _, p := range s.list {
		if !p.Enabled || (p.MaxCount > 0 && p.Count >= p.MaxCount) {
			continue
		}
		if !subset(p.Tags, tags) {
			continue
		}
		out = append(out, p.Name)
	}
	return out
}

// subset reports whether every element of need is in have (sorted).
func subset(need, have []string) bool {
	for _, n := range need {
		if _, ok := slices.BinarySearch(have, n); !ok {
			return false
		}
	}
	return true
}
