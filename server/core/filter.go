package core

import (
	"context"
	"fmt"
	"slices"

	"github.com/razor-mk/razor-mk/wire"
)

// NodeFilter selects nodes; zero fields select all. Every condition must
// hold.
type NodeFilter struct {
	Tags   []string          // has every one of these tags
	State  string            // active, inactive, bound, booted or failed
	Policy string            // bound to this policy
	MAC    string            // holds this MAC (any spelling)
	Facts  map[string]string // fact KEY has exactly VALUE
}

// FilterNodes lists the nodes f selects, oldest first; with facts only
// when f names facts.
func (c *Core) FilterNodes(ctx context.Context, f NodeFilter) ([]NodeInfo, error) {
	switch f.State {
	case "", StateActive, StateInactive, StateBound, StateBooted, StateFailed:
	default:
		return nil, invalid("state", "unknown state %q: want active, inactive, bound, booted or failed", f.State)
	}
	mac := ""
	if f.MAC != "" {
		m, err := wire.NormalizeMAC(f.MAC)
		if err != nil {
			return nil, invalid("mac", "%v", err)
		}
		mac = m
	}
	ns, err := c.st.ListNodes(ctx, len(f.Facts) > 0)
	if err != nil {
		return nil, fmt.Errorf("core: nodes: %w", err)
	}
	now := c.now()
	out := []NodeInfo{}
	for _, n := range ns {
		if mac != "" && !slices.Contains(n.MACs, mac) || f.Policy != "" && n.Policy != f.Policy {
			continue
		}
		ok := true
		for k, v := range f.Facts {
			if got, has := n.Facts[k]; !has || got != v {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		ni := c.info(n, now)
		if f.State != "" && ni.State != f.State {
			continue
		}
		if !containsAll(ni.Tags, f.Tags) {
			continue
		}
		ni.Facts = nil
		out = append(out, ni)
	}
	return out, nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
