package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/razor-mk/razor-mk/server/bootscript"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/rules"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// info adds the cached tags, checkin time and state to a stored node.
func (c *Core) info(n store.Node, now time.Time) NodeInfo {
	ni := NodeInfo{Node: n, Tags: []string{}}
	last := n.LastCheckin
	if n.Registered.After(last) {
		last = n.Registered
	}
	if e := c.cache.get(n.ID); e != nil {
		if e.tags != nil {
			ni.Tags = e.tags
		}
		if ns := e.c.checkin.Load(); ns > last.UnixNano() {
			last = time.Unix(0, ns).UTC()
			if last.After(ni.LastCheckin) && last.After(n.Registered) {
				ni.LastCheckin = last
			}
		}
	}
	ni.State = c.state(n, last, now)
	return ni
}

// Nodes lists every node, oldest first, without facts.
func (c *Core) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ns, err := c.st.ListNodes(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("core: nodes: %w", err)
	}
	now := c.now()
	out := make([]NodeInfo, len(ns))
	for i, n := range ns {
		out[i] = c.info(n, now)
	}
	return out, nil
}

// Node returns one node with its facts.
func (c *Core) Node(ctx context.Context, id string) (NodeInfo, error) {
	n, err := c.lookup(ctx, id)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("core: node %s: %w", id, err)
	}
	return c.info(n, c.now()), nil
}

// DeleteNode forgets a node, its binding and its commands. Its next
// checkin is answered with register.
func (c *Core) DeleteNode(ctx context.Context, id string) error {
	if err := c.st.DeleteNode(ctx, id); err != nil {
		return fmt.Errorf("core: delete node %s: %w", id, err)
	}
	var ms []string
	if e := c.cache.get(id); e != nil {
		ms = e.node.MACs
	}
	c.cache.remove(id)
	c.waiters.wake(id)
	c.log.Info("node deleted", "node", id, "mac", firstMAC(ms))
	c.record(events.Deleted, id, ms, nil)
	return c.loadPolicies(ctx)
}

// Unbind releases a node from its policy (its target failed, or it is to
// be provisioned again); it may bind again on its next checkin.
func (c *Core) Unbind(ctx context.Context, id string) (NodeInfo, error) {
	n, err := c.st.Unbind(ctx, id)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("core: unbind %s: %w", id, err)
	}
	c.cache.put(n, nil, 0)
	if err := c.loadPolicies(ctx); err != nil {
		return NodeInfo{}, err
	}
	c.log.Info("node unbound", "node", id, "mac", firstMAC(n.MACs))
	c.record(events.Unbound, id, n.MACs, nil)
	c.waiters.wake(id)
	return c.info(n, c.now()), nil
}

// QueueCommand queues reboot, poweroff or register for a node; it is
// delivered on the node's next checkin, at once to a long-polling node.
func (c *Core) QueueCommand(ctx context.Context, id, name string) (store.Command, error) {
	switch wire.Command(name) {
	case wire.Reboot, wire.Poweroff, wire.Register:
	case "":
		return store.Command{}, invalid("command", "required: reboot, poweroff or register")
	default:
		return store.Command{}, invalid("command", "unknown command %q: want reboot, poweroff or register", name)
	}
	if e := c.cache.get(id); e != nil && e.c.pending.Load() >= maxPending {
		return store.Command{}, invalid("command", "node %s has %d commands pending already", id, maxPending)
	}
	cmd, err := c.st.QueueCommand(ctx, id, name, c.now())
	if err != nil {
		return store.Command{}, fmt.Errorf("core: queue %s for %s: %w", name, id, err)
	}
	if e := c.cache.get(id); e != nil {
		e.c.pending.Add(1)
	}
	c.m.Command(name, "queued")
	c.log.Info("command queued", "node", id, "command", name, "id", cmd.ID)
	c.record(events.CommandQueued, id, nil, map[string]string{"command": name, "id": strconv.FormatInt(cmd.ID, 10)})
	c.waiters.wake(id)
	return cmd, nil
}

// maxPending bounds a node's queue of undelivered commands.
const maxPending = 16

// Commands lists a node's commands, oldest first.
func (c *Core) Commands(ctx context.Context, id string) ([]store.Command, error) {
	cs, err := c.st.ListCommands(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("core: commands of %s: %w", id, err)
	}
	return cs, nil
}

// TagInfo is a tag with the number of nodes carrying it.
type TagInfo struct {
	store.Tag
	Nodes int
}

func (c *Core) countTag(name string) int {
	n := 0
	for _, e := range c.cache.all() {
		if _, ok := slices.BinarySearch(e.tags, name); ok {
			n++
		}
	}
	return n
}

// Tags lists the tags.
func (c *Core) Tags(ctx context.Context) ([]TagInfo, error) {
	ts, err := c.st.ListTags(ctx)
	if err != nil {
		return nil, fmt.Errorf("core: tags: %w", err)
	}
	out := make([]TagInfo, len(ts))
	for i, t := range ts {
		out[i] = TagInfo{Tag: t, Nodes: c.countTag(t.Name)}
	}
	return out, nil
}

// Tag returns one tag.
func (c *Core) Tag(ctx context.Context, name string) (TagInfo, error) {
	t, err := c.st.GetTag(ctx, name)
	if err != nil {
		return TagInfo{}, fmt.Errorf("core: tag %q: %w", name, err)
	}
	return TagInfo{Tag: t, Nodes: c.countTag(name)}, nil
}

// CreateTag validates and adds a tag, then evaluates it for every node.
func (c *Core) CreateTag(ctx context.Context, name string, rule json.RawMessage) (TagInfo, error) {
	return c.putTag(ctx, name, rule, true)
}

// UpdateTag replaces a tag's rule, then re-evaluates it and the tags
// that reference it for every node.
func (c *Core) UpdateTag(ctx context.Context, name string, rule json.RawMessage) (TagInfo, error) {
	return c.putTag(ctx, name, rule, false)
}

func (c *Core) putTag(ctx context.Context, name string, rule json.RawMessage, create bool) (TagInfo, error) {
	if err := rules.ValidName(name); err != nil {
		return TagInfo{}, invalid("name", "%v", err)
	}
	if len(rule) == 0 {
		return TagInfo{}, invalid("rule", "required")
	}
	r, err := rules.Parse(rule)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			return TagInfo{}, invalid("rule"+re.Path, "%s", re.Msg)
		}
		return TagInfo{}, invalid("rule", "%v", err)
	}
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	// The whole set must stay free of cycles and dangling references.
	set := slices.Clone(c.tags.Load().tags)
	i := slices.IndexFunc(set, func(t rules.Tag) bool { return t.Name == name })
	switch {
	case i >= 0 && create:
		return TagInfo{}, fmt.Errorf("core: tag %q: %w", name, store.ErrExists)
	case i < 0 && !create:
		return TagInfo{}, fmt.Errorf("core: tag %q: %w", name, store.ErrNotFound)
	case i >= 0:
		set[i] = rules.Tag{Name: name, Rule: r}
	default:
		set = append(set, rules.Tag{Name: name, Rule: r})
	}
	if err := rules.CheckCycles(set); err != nil {
		return TagInfo{}, invalid("rule", "%v", err)
	}
	// Only this tag and the tags that reference it can change: evaluate
	// those, for every node, before anything is stored (a rule too
	// expensive to evaluate is refused).
	plan, err := c.planTags(ctx, set, name)
	if err != nil {
		return TagInfo{}, err
	}
	canon, err := r.MarshalJSON()
	if err != nil {
		return TagInfo{}, invalid("rule", "%v", err)
	}
	t := store.Tag{Name: name, Rule: canon, Refs: r.Refs(), Updated: c.now()}
	if create {
		t, err = c.st.CreateTag(ctx, t)
	} else {
		t, err = c.st.UpdateTag(ctx, t)
	}
	if errors.Is(err, store.ErrUnknownRef) {
		return TagInfo{}, invalid("rule", "%v", err)
	}
	if err != nil {
		return TagInfo{}, fmt.Errorf("core: tag %q: %w", name, err)
	}
	if err := c.loadTags(ctx); err != nil {
		return TagInfo{}, err
	}
	c.applyTags(ctx, c.tags.Load(), plan)
	c.log.Info("tag saved", "tag", name, "rule", string(canon), "created", create)
	return TagInfo{Tag: t, Nodes: c.countTag(name)}, nil
}

// DeleteTag removes a tag that no policy or rule uses.
func (c *Core) DeleteTag(ctx context.Context, name string) error {
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	if err := c.st.DeleteTag(ctx, name); err != nil {
		return fmt.Errorf("core: delete tag %q: %w", name, err)
	}
	c.log.Info("tag deleted", "tag", name)
	return c.untag(ctx, name)
}

// Policies lists the policies in binding order, with bound counts.
func (c *Core) Policies(ctx context.Context) ([]store.Policy, error) {
	ps, err := c.st.ListPolicies(ctx)
	if err != nil {
		return nil, fmt.Errorf("core: policies: %w", err)
	}
	return ps, nil
}

// Policy returns one policy.
func (c *Core) Policy(ctx context.Context, name string) (store.Policy, error) {
	p, err := c.st.GetPolicy(ctx, name)
	if err != nil {
		return store.Policy{}, fmt.Errorf("core: policy %q: %w", name, err)
	}
	return p, nil
}

// PolicyOptions change how a policy is saved.
type PolicyOptions struct {
	// AllowUnknownTags saves a policy naming a tag that does not exist
	// (yet): by default that is refused, as a typo would leave the policy
	// matching nothing.
	AllowUnknownTags bool
}

// CreatePolicy validates and adds a policy. Each of its tags must exist
// (KnownTag) unless opts allows unknown tags.
func (c *Core) CreatePolicy(ctx context.Context, p store.Policy, opts ...PolicyOptions) (store.Policy, error) {
	return c.putPolicy(ctx, p, true, opts)
}

// UpdatePolicy validates and replaces a policy; its bound nodes stay
// bound. Tags it adds must exist unless opts allows unknown tags (tags it
// already had are not checked again, so that a policy whose tag was
// deleted can still be disabled).
func (c *Core) UpdatePolicy(ctx context.Context, p store.Policy, opts ...PolicyOptions) (store.Policy, error) {
	return c.putPolicy(ctx, p, false, opts)
}

// systemTagForm matches the system tags derived from numbers and the
// virtualisation fact (rules.SystemTags), which exist for any node that
// has such facts; the vendor tag is known only from a node carrying it.
var systemTagForm = regexp.MustCompile(`^(cpus_[0-9]+|nics_[0-9]+|memsize_[0-9]+(GiB|MiB)|[A-Za-z0-9_%=+-]+_vm)$`)

// KnownTag reports whether name is a stored tag, a tag some known node
// carries (system tags included), or has a system tag's form.
func (c *Core) KnownTag(name string) bool {
	if systemTagForm.MatchString(name) {
		return true
	}
	if ts := c.tags.Load(); ts != nil {
		for _, t := range ts.tags {
			if t.Name == name {
				return true
			}
		}
	}
	for _, e := range c.cache.all() {
		if slices.Contains(e.tags, name) {
			return true
		}
	}
	return false
}

func (c *Core) checkPolicyTags(ctx context.Context, p store.Policy, create bool) error {
	var had []string
	if !create {
		if old, err := c.st.GetPolicy(ctx, p.Name); err == nil {
			had = old.Tags
		}
	}
	for i, t := range p.Tags {
		if slices.Contains(had, t) || c.KnownTag(t) {
			continue
		}
		// Another replica may have created it a moment ago.
		if _, err := c.st.GetTag(ctx, t); err == nil {
			continue
		}
		return invalid(fmt.Sprintf("tags[%d]", i), "tag %q does not exist: no stored tag has that name, no known node carries it, and it is not a system tag (cpus_N, memsize_NGiB, nics_N, NAME_vm); create the tag first or fix the name, or allow unknown tags (--allow-unknown-tags, API ?allow_unknown_tags=true) to save the policy anyway", t)
	}
	return nil
}

func (c *Core) putPolicy(ctx context.Context, p store.Policy, create bool, opts []PolicyOptions) (store.Policy, error) {
	if err := rules.ValidName(p.Name); err != nil {
		return store.Policy{}, invalid("name", "%v", err)
	}
	if p.MaxCount < 0 {
		return store.Policy{}, invalid("max_count", "must be >= 0 (0: unlimited), got %d", p.MaxCount)
	}
	for i, t := range p.Tags {
		if err := rules.ValidName(t); err != nil {
			return store.Policy{}, invalid(fmt.Sprintf("tags[%d]", i), "%v", err)
		}
	}
	if err := bootscript.ValidateTarget(p.Target); err != nil {
		var te *bootscript.TargetError
		if errors.As(err, &te) {
			return store.Policy{}, invalid("target."+te.Field, "%s", te.Msg)
		}
		return store.Policy{}, invalid("target", "%v", err)
	}
	// Tags may be stored tags or system tags (cpus_2, kvm_vm…), which
	// are not stored.
	allow := false
	for _, o := range opts {
		allow = allow || o.AllowUnknownTags
	}
	if !allow {
		if err := c.checkPolicyTags(ctx, p, create); err != nil {
			return store.Policy{}, err
		}
	}
	p.Updated = c.now()
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	var out store.Policy
	var err error
	if create {
		out, err = c.st.CreatePolicy(ctx, p)
	} else {
		out, err = c.st.UpdatePolicy(ctx, p)
	}
	if err != nil {
		return store.Policy{}, fmt.Errorf("core: policy %q: %w", p.Name, err)
	}
	if err := c.loadPolicies(ctx); err != nil {
		return store.Policy{}, err
	}
	c.waiters.wakeAll()
	c.log.Info("policy saved", "policy", p.Name, "created", create, "enabled", p.Enabled, "order", p.Order, "tags", p.Tags, "max_count", p.MaxCount, "target", p.Target.Kind)
	return out, nil
}

// DeletePolicy removes a policy without bound nodes.
func (c *Core) DeletePolicy(ctx context.Context, name string) error {
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	if err := c.st.DeletePolicy(ctx, name); err != nil {
		return fmt.Errorf("core: delete policy %q: %w", name, err)
	}
	c.log.Info("policy deleted", "policy", name)
	return c.loadPolicies(ctx)
}
