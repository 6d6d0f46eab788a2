package core

import (
	"context"
	"fmt"
	"slices"

	"github.com/razor-mk/razor-mk/server/store"
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
		ni.IP, ni.Serial, ni.Product = n.Facts["ipaddress"], n.Facts["serialnumber"], n.Facts["productname"]
		ni.Facts = nil
		out = append(out, ni)
	}
	if len(f.Facts) == 0 {
		c.tableFacts(ctx, out)
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

// tableFacts fills the table facts (IP, serial, product) of listed nodes,
// reading only those facts when the store can.
func (c *Core) tableFacts(ctx context.Context, ns []NodeInfo) {
	names := []string{"ipaddress", "serialnumber", "productname"}
	var withFacts []store.Node
	var err error
	if fl, ok := c.st.(store.FactLister); ok {
		withFacts, err = fl.ListNodesFacts(ctx, names)
	} else {
		withFacts, err = c.st.ListNodes(ctx, true)
	}
	if err != nil {
		c.log.Warn("listing node facts failed", "err", err)
		return
	}
	byID := make(map[string]map[string]string, len(withFacts))
	for _, n := range withFacts {
		byID[n.ID] = n.Facts
	}
	for i := range ns {
		f := byID[ns[i].ID]
		ns[i].IP, ns[i].Serial, ns[i].Product = f["ipaddress"], f["serialnumber"], f["productname"]
	}
}
