package core

import (
	"context"
	"errors"

	"github.com/razor-mk/razor-mk/server/store"
)

// Replicas: when several razor-netboot processes share a store (the
// PostgreSQL store implements store.Watcher), each one's cache follows
// what the others write — registrations, bindings, queued commands,
// boot tokens, tags and policies — so that a policy created through one
// replica binds nodes checking in at another, a command queued at one is
// delivered by whichever replica the node checks in at, and a boot token
// issued by one is honoured by all. Changes name what changed; the new
// state is read from the store.

// follow applies the changes other processes make until ctx ends.
func (c *Core) follow(ctx context.Context, w store.Watcher) {
	if err := w.Watch(ctx, func(ch store.Change) { c.apply(ctx, ch) }); err != nil {
		c.log.Error("following the other replicas' changes stopped", "err", err)
	}
}

// apply brings the cache up to date with one change.
func (c *Core) apply(ctx context.Context, ch store.Change) {
	var err error
	switch ch.Kind {
	case store.ChangeReset:
		err = c.reload(ctx)
	case store.ChangeNode:
		err = c.refreshNode(ctx, ch.ID)
	case store.ChangeNodeDeleted:
		c.cache.remove(ch.ID)
		c.waiters.wake(ch.ID)
	case store.ChangeTags:
		c.adminMu.Lock()
		if ch.ID != "" {
			err = c.retagOne(ctx, ch.ID)
		} else {
			err = c.retag(ctx)
		}
		c.adminMu.Unlock()
	case store.ChangePolicies:
		c.adminMu.Lock()
		err = c.loadPolicies(ctx)
		c.adminMu.Unlock()
		c.waiters.wakeAll()
	case store.ChangeTokens:
		for _, k := range ch.Keys {
			t, terr := c.st.GetToken(ctx, []string{k})
			if terr == nil {
				c.cache.putToken([]string{k}, t.Token, t.Issued)
			} else if !errors.Is(terr, store.ErrNotFound) {
				err = terr
			}
		}
	default:
		c.log.Warn("unknown change from another replica", "kind", ch.Kind)
		return
	}
	if err != nil && ctx.Err() == nil {
		c.log.Warn("applying another replica's change failed", "kind", ch.Kind, "node", ch.ID, "err", err)
	}
}

// refreshNode reads node id and puts it in the cache with its tags and
// pending commands, waking its long-poll.
func (c *Core) refreshNode(ctx context.Context, id string) error {
	n, err := c.st.GetNode(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		c.cache.remove(id)
		c.waiters.wake(id)
		return nil
	}
	if err != nil {
		return err
	}
	c.putNode(n)
	c.waiters.wake(id)
	return nil
}

// putNode caches a node read from the store (with facts).
func (c *Core) putNode(n store.Node) {
	ts := c.tags.Load()
	c.cache.put(n, c.evaluate(ts, n.ID, n.Facts), ts.gen)
	if e := c.cache.get(n.ID); e != nil && e.node.Rev == n.Rev {
		e.c.pending.Store(int32(n.Pending))
	}
}

// reload reads everything again: policies, tags, nodes and tokens.
func (c *Core) reload(ctx context.Context) error {
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	if err := c.loadPolicies(ctx); err != nil {
		return err
	}
	if err := c.loadTags(ctx); err != nil {
		return err
	}
	nodes, err := c.st.ListNodes(ctx, true)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(nodes))
	var maxRev int64
	for _, n := range nodes {
		c.putNode(n)
		seen[n.ID] = true
		maxRev = max(maxRev, n.Rev)
	}
	// Forget the nodes deleted meanwhile, but not one this process has
	// just written (a revision newer than the listing).
	for _, e := range c.cache.all() {
		if !seen[e.node.ID] && e.node.Rev <= maxRev {
			c.cache.remove(e.node.ID)
		}
	}
	toks, err := c.st.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range toks {
		c.cache.putToken([]string{t.Key}, t.Token, t.Issued)
	}
	c.waiters.wakeAll()
	return nil
}
