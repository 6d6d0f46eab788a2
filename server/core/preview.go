package core

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/server/store"
)

// Preview is one node's answer to "would it bind to this policy now?".
type Preview struct {
	Node   string
	Would  bool
	Reason string
}

// PreviewPolicy says, for every node, whether its next checkin would bind
// it to policy name now, and why not: bound already, missing tags, an
// earlier policy takes it, the policy disabled or full. It changes
// nothing; "would" nodes beyond the policy's room are not bound.
func (c *Core) PreviewPolicy(ctx context.Context, name string) ([]Preview, error) {
	if err := c.loadPolicies(ctx); err != nil {
		return nil, err
	}
	ps := c.policies.Load()
	p, ok := ps.byName[name]
	if !ok {
		return nil, fmt.Errorf("core: preview: %w: policy %q", store.ErrNotFound, name)
	}
	entries := c.cache.all()
	slices.SortFunc(entries, func(a, b *entry) int {
		if d := a.node.Created.Compare(b.node.Created); d != 0 {
			return d
		}
		return strings.Compare(a.node.ID, b.node.ID)
	})
	room := -1
	if p.MaxCount > 0 {
		room = max(p.MaxCount-p.Count, 0)
	}
	out := []Preview{}
	for _, e := range entries {
		pr := Preview{Node: e.node.ID}
		missing := []string{}
		for _, t := range p.Tags {
			if !slices.Contains(e.tags, t) {
				missing = append(missing, t)
			}
		}
		cands := ps.candidates(e.tags)
		switch {
		case e.node.Policy == name:
			pr.Reason = "bound to it already"
		case e.node.Policy != "":
			pr.Reason = "bound to " + e.node.Policy
		case len(missing) > 0:
			pr.Reason = "lacks tags " + strings.Join(missing, ",")
		case !p.Enabled:
			pr.Reason = "policy disabled"
		case room == 0 && p.Count >= p.MaxCount:
			pr.Reason = fmt.Sprintf("policy full (%d of %d bound)", p.Count, p.MaxCount)
		case room == 0:
			pr.Reason = fmt.Sprintf("no room left after the nodes above (max_count %d)", p.MaxCount)
		case len(cands) > 0 && cands[0] != name:
			pr.Reason = "policy " + cands[0] + " comes first"
		default:
			pr.Would, pr.Reason = true, "matches"
			if room > 0 {
				room--
			}
		}
		out = append(out, pr)
	}
	return out, nil
}
