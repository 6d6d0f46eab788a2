package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/razor-mk/razor-mk/server/rules"
	"github.com/razor-mk/razor-mk/server/store"
)

// DefaultTagEvalTimeout is Options.TagEvalTimeout's default.
const DefaultTagEvalTimeout = 5 * time.Second

// tagPlan is the outcome of evaluating the tags a change affects, for
// every node, before the change is stored.
type tagPlan struct {
	affected []string
	nodes    []store.Node        // the snapshot evaluated, with facts
	matched  map[string][]string // node ID → affected tags that match
}

// planTags evaluates the tags whose results a change of tag name can
// change (name and the tags that reference it) over every node, within
// Options.TagEvalTimeout: a rule that takes longer, or that goes over
// rules.MaxCost for a node, is refused as too expensive.
func (c *Core) planTags(ctx context.Context, set []rules.Tag, name string) (tagPlan, error) {
	return c.plan(ctx, set, name, true)
}

// plan is planTags; with limit false a rule is never refused (it was
// accepted already, by another replica).
func (c *Core) plan(ctx context.Context, set []rules.Tag, name string, limit bool) (tagPlan, error) {
	prepared, err := rules.Prepare(set)
	if err != nil {
		return tagPlan{}, invalid("rule", "%v", err)
	}
	affected := rules.Dependents(set, name)
	nodes, err := c.listFacts(ctx, append(prepared.Facts(affected), rules.SystemFacts...))
	if err != nil {
		return tagPlan{}, fmt.Errorf("core: tag %q: %w", name, err)
	}
	p := tagPlan{affected: affected, nodes: nodes, matched: make(map[string][]string, len(nodes))}
	start := time.Now()
	deadline := start.Add(c.opts.TagEvalTimeout)
	for i, n := range nodes {
		if limit && time.Now().After(deadline) {
			return tagPlan{}, invalid("rule", "too expensive: evaluating it took more than %v for %d of the %d nodes; simplify its regular expressions or test fewer or smaller facts",
				c.opts.TagEvalTimeout, i, len(nodes))
		}
		m, err := prepared.EvaluateOnly(p.affected, n.Facts)
		if limit && errors.Is(err, rules.ErrTooExpensive) {
			return tagPlan{}, invalid("rule", "too expensive for node %s: %v", n.ID, err)
		}
		if err != nil {
			c.log.Warn("tag evaluation failed", "node", n.ID, "err", err)
			m = nil
		}
		p.matched[n.ID] = m
	}
	c.log.Debug("tags evaluated", "tags", p.affected, "nodes", len(nodes), "took", time.Since(start))
	return p, nil
}

// listFacts lists every node with at least the named facts.
func (c *Core) listFacts(ctx context.Context, names []string) ([]store.Node, error) {
	if fl, ok := c.st.(store.FactLister); ok {
		return fl.ListNodesFacts(ctx, names)
	}
	return c.st.ListNodes(ctx, true)
}

// applyTags publishes a plan under the tag generation ts (loaded after
// the change was stored): a node keeps its tags that the change does not
// affect and gets the affected ones that matched. A node that changed
// since the snapshot (its revision moved: a registration raced the
// save) is evaluated afresh.
func (c *Core) applyTags(ctx context.Context, ts *tagSet, p tagPlan) {
	for _, n := range p.nodes {
		e := c.cache.get(n.ID)
		if e == nil {
			continue // deleted meanwhile
		}
		if e.node.Rev != n.Rev {
			fresh, err := c.st.GetNode(ctx, n.ID)
			if err != nil {
				continue // deleted meanwhile; the cache follows
			}
			c.cache.setTags(n.ID, c.evaluate(ts, n.ID, fresh.Facts), ts.gen)
			continue
		}
		c.cache.setTags(n.ID, mergeTags(e.tags, p.affected, p.matched[n.ID], n.Facts), ts.gen)
	}
	c.waiters.wakeAll()
}

// mergeTags is old without the affected tags, plus those matched and the
// system tags (a user tag may share a system tag's name), sorted.
func mergeTags(old, affected, matched []string, facts map[string]string) []string {
	out := make([]string, 0, len(old)+len(matched))
	for _, t := range old {
		if !slices.Contains(affected, t) {
			out = append(out, t)
		}
	}
	out = append(out, matched...)
	out = append(out, rules.SystemTags(facts)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// untag removes a deleted tag from every node (no other tag can
// reference it: the store refuses to delete a referenced tag).
func (c *Core) untag(ctx context.Context, name string) error {
	if err := c.loadTags(ctx); err != nil {
		return err
	}
	ts := c.tags.Load()
	nodes, err := c.listFacts(ctx, rules.SystemFacts)
	if err != nil {
		return fmt.Errorf("core: untag %q: %w", name, err)
	}
	for _, n := range nodes {
		e := c.cache.get(n.ID)
		if e == nil {
			continue
		}
		if _, ok := slices.BinarySearch(e.tags, name); !ok {
			continue
		}
		c.cache.setTags(n.ID, mergeTags(e.tags, []string{name}, nil, n.Facts), ts.gen)
	}
	c.waiters.wakeAll()
	return nil
}

// retagOne follows another replica's change of tag name: the tag and the
// tags referencing it are re-evaluated if it exists, else it leaves the
// nodes.
func (c *Core) retagOne(ctx context.Context, name string) error {
	if err := c.loadTags(ctx); err != nil {
		return err
	}
	ts := c.tags.Load()
	if !slices.ContainsFunc(ts.tags, func(t rules.Tag) bool { return t.Name == name }) {
		return c.untag(ctx, name)
	}
	p, err := c.plan(ctx, ts.tags, name, false)
	if err != nil {
		return err
	}
	c.applyTags(ctx, ts, p)
	return nil
}
