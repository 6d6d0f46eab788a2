package core

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// maxChangedFacts bounds the fact names a registration event lists.
const maxChangedFacts = 20

// record queues an event of node (may be "") about the first of macs
// (normalised form; may be empty, then the node's first cached MAC).
func (c *Core) record(typ, node string, macs []string, attrs map[string]string) {
	if c.ev == nil {
		return
	}
	mac := ""
	if len(macs) > 0 {
		mac = wire.ColonMAC(macs[0])
	} else if e := c.cache.get(node); e != nil && len(e.node.MACs) > 0 {
		mac = wire.ColonMAC(e.node.MACs[0])
	}
	c.ev.Record(store.Event{At: c.now(), Type: typ, Node: node, MAC: mac, Attrs: attrs})
}

// Events returns events of the store, selected by q.
func (c *Core) Events(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	return c.st.ListEvents(ctx, q)
}

// NodeEventQuery is q narrowed to node id: its events, and the events of
// its MACs from before it was known.
func (c *Core) NodeEventQuery(ctx context.Context, id string, q store.EventQuery) (store.EventQuery, error) {
	n, err := c.lookup(ctx, id)
	if err != nil {
		return q, err
	}
	q.Node = n.ID
	q.MACs = nil
	for _, m := range n.MACs {
		q.MACs = append(q.MACs, wire.ColonMAC(m))
	}
	return q, nil
}

// NodeByMAC returns the id of the node holding mac (any spelling), or "".
func (c *Core) NodeByMAC(mac string) string {
	m, err := wire.NormalizeMAC(mac)
	if err != nil {
		return ""
	}
	if e := c.cache.find("", []string{m}); e != nil {
		return e.node.ID
	}
	return ""
}

// Recorder is the event recorder the core writes to (nil when none).
func (c *Core) Recorder() *events.Recorder { return c.ev }

// learnIP ties a boot request's address to its MAC for file-send events.
func (c *Core) learnIP(ip netip.Addr, mac, node string) {
	if c.ev != nil && ip.IsValid() && mac != "" {
		c.ev.LearnIP(ip, wire.ColonMAC(mac), node)
	}
}

// factChanges names the facts added, removed or changed, sorted and
// capped at maxChangedFacts; the count is of all of them.
func factChanges(old, cur map[string]string) (string, int) {
	var names []string
	for k, v := range cur {
		if ov, ok := old[k]; !ok || ov != v {
			names = append(names, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	n := len(names)
	if len(names) > maxChangedFacts {
		names = append(names[:maxChangedFacts], "…")
	}
	return strings.Join(names, ","), n
}

// tagChanges says which tags were added and removed.
func tagChanges(old, cur []string) (added, removed []string) {
	for _, t := range cur {
		if !slices.Contains(old, t) {
			added = append(added, t)
		}
	}
	for _, t := range old {
		if !slices.Contains(cur, t) {
			removed = append(removed, t)
		}
	}
	return added, removed
}

// registeredAttrs are a registration event's details.
func registeredAttrs(created bool, old, cur map[string]string) map[string]string {
	a := map[string]string{"facts": strconv.Itoa(len(cur)), "created": strconv.FormatBool(created)}
	if !created {
		names, n := factChanges(old, cur)
		a["changed"] = strconv.Itoa(n)
		if n > 0 {
			a["changed_facts"] = names
		}
	}
	return a
}

// Now is the core's clock.
func (c *Core) Now() time.Time { return c.now() }

// lookup finds a node, with facts, by what an operator has at hand: its
// id, a MAC (any spelling), its SMBIOS UUID or its serial number.
func (c *Core) lookup(ctx context.Context, key string) (store.Node, error) {
	if _, ok := store.NodeSeq(key); ok {
		return c.st.GetNode(ctx, key)
	}
	if m, err := wire.NormalizeMAC(key); err == nil {
		if e := c.cache.find("", []string{m}); e != nil {
			return c.st.GetNode(ctx, e.node.ID)
		}
	}
	if u, ok := wire.NormalizeUUID(key); ok {
		if e := c.cache.find(u, nil); e != nil {
			return c.st.GetNode(ctx, e.node.ID)
		}
	}
	// A serial number is a fact: a scan, fine at an operator's pace.
	if key != "" {
		ns, err := c.st.ListNodes(ctx, true)
		if err != nil {
			return store.Node{}, err
		}
		for _, n := range ns {
			if n.Facts["serialnumber"] == key {
				return n, nil
			}
		}
	}
	return store.Node{}, fmt.Errorf("%w: no node with id, MAC, UUID or serial number %q", store.ErrNotFound, key)
}
