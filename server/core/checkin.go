package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// Decision is the answer to a checkin.
type Decision struct {
	Command wire.Command
	NodeID  string // "" for an unknown node
	Reason  string // why, for the log
}

// NodeInfo is a node with its derived tags and state.
type NodeInfo struct {
	store.Node
	Tags  []string
	State string
	// IP, Serial and Product are the facts ipaddress, serialnumber and
	// productname, filled in listings (FilterNodes) and Node.
	IP, Serial, Product string
}

// macs splits a normalised hw_id.
func macs(hwid string) []string {
	if hwid == "" {
		return nil
	}
	m, err := wire.SplitHWID(hwid)
	if err != nil {
		return nil
	}
	return m
}

// keys are the token keys of a request: its MACs and UUID.
func keys(uuid string, macs []string) []string {
	ks := append([]string(nil), macs...)
	if uuid != "" {
		ks = append(ks, uuid)
	}
	return ks
}

// checkToken applies rule 1 under the configured TokenMode. It never
// logs or returns the tokens; comparisons take constant time.
func (c *Core) checkToken(ctx context.Context, uuid string, macs []string, tok string) error {
	mode := c.opts.NodeToken
	ks := keys(uuid, macs)
	cur := c.cache.token(ks)
	if tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cur)) != 1 {
		// Another replica may have issued a newer token that this
		// process has not heard of yet: the store is the authority.
		if t, err := c.st.GetToken(ctx, ks); err == nil && subtle.ConstantTimeCompare([]byte(tok), []byte(t.Token)) == 1 {
			c.cache.putToken([]string{t.Key}, t.Token, t.Issued)
			return nil
		}
	}
	var err error
	switch {
	case tok != "" && cur != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cur)) != 1:
		err = ErrTokenMismatch
	case tok == "" && cur != "" && mode != TokenOff:
		err = ErrTokenMissing
	case tok == "" && mode == TokenAlways:
		err = ErrTokenMissing
	case tok != "" && cur == "" && mode == TokenAlways:
		// No token was issued under these keys: none can match.
		err = ErrTokenMismatch
	}
	if err != nil {
		reason := "stale"
		if errors.Is(err, ErrTokenMissing) {
			reason = "missing"
		}
		c.m.NodeAuthRefused(reason)
	}
	return err
}

// Checkin answers one checkin (see the package comment's decision table).
// A long-poll (req.Wait) holds an acknowledge until a command is queued,
// a policy or tag changes, the wait ends, ctx ends or the core shuts down.
func (c *Core) Checkin(ctx context.Context, req wire.CheckinRequest) (Decision, error) {
	now := c.now()
	ms := macs(req.HWID)
	if err := c.checkToken(ctx, req.UUID, ms, req.Token); err != nil {
		c.record(events.Refused, c.idOf(req.UUID, ms), ms, map[string]string{"request": "checkin", "field": "token", "reason": "not the current boot token"})
		return Decision{}, err
	}
	e := c.cache.find(req.UUID, ms)
	var prevState *string
	if e != nil {
		prevState = e.c.state.Load()
	}
	var d Decision
	switch {
	case e == nil:
		d = Decision{Command: wire.Register, Reason: "unknown node"}
	case req.FirstCheckin:
		c.touch(e, now, req.LastState)
		d = Decision{Command: wire.Register, NodeID: e.node.ID, Reason: "first checkin"}
	default:
		last := time.Unix(0, e.c.checkin.Load())
		c.touch(e, now, req.LastState)
		if gap := now.Sub(last); gap > c.opts.RegisterTimeout {
			d = Decision{Command: wire.Register, NodeID: e.node.ID, Reason: fmt.Sprintf("silent for %s", gap.Round(time.Second))}
			break
		}
		var err error
		d, err = c.decide(ctx, e.node.ID)
		if err != nil {
			return Decision{}, err
		}
		if d.Command == wire.Acknowledge && req.Wait > 0 {
			d, err = c.wait(ctx, e.node.ID, req.Wait)
			if err != nil {
				return Decision{}, err
			}
		}
	}
	c.m.Checkin(string(d.Command))
	// A quiet fleet writes no events: only a first checkin, a command or
	// a change of state is recorded.
	if d.Command != wire.Acknowledge || req.FirstCheckin || e == nil || (prevState != nil && *prevState != req.LastState) {
		a := map[string]string{"command": string(d.Command), "reason": d.Reason, "last_state": req.LastState}
		if req.FirstCheckin {
			a["first"] = "true"
		}
		c.record(events.FirstCheckin, d.NodeID, ms, a)
	}
	if d.Command != wire.Acknowledge {
		c.log.Info("checkin", "node", d.NodeID, "mac", firstMAC(ms), "uuid", req.UUID, "command", d.Command, "reason", d.Reason)
	} else if c.log.Enabled(ctx, slog.LevelDebug) {
		// Guarded: building the arguments costs on the hot path.
		c.log.Debug("checkin", "node", d.NodeID, "mac", firstMAC(ms), "command", d.Command, "reason", d.Reason)
	}
	return d, nil
}

// decide applies rules 3 to 6 (without the wait) to a known node.
func (c *Core) decide(ctx context.Context, id string) (Decision, error) {
	e := c.cache.get(id)
	if e == nil {
		return Decision{Command: wire.Register, Reason: "node deleted"}, nil
	}
	n := e.node
	if e.c.pending.Load() > 0 {
		cmd, err := c.st.PopCommand(ctx, id, c.now())
		switch {
		case err == nil:
			e.c.pending.Add(-1)
			c.m.Command(cmd.Name, "delivered")
			c.record(events.CommandSent, id, nil, map[string]string{"command": cmd.Name, "id": strconv.FormatInt(cmd.ID, 10)})
			return Decision{Command: wire.Command(cmd.Name), NodeID: id, Reason: fmt.Sprintf("admin command %d", cmd.ID)}, nil
		case errors.Is(err, store.ErrNotFound):
			e.c.pending.Store(0)
		default:
			return Decision{}, fmt.Errorf("core: checkin %s: %w", id, err)
		}
	}
	if n.Policy != "" {
		return c.decideBound(ctx, n)
	}
	cands := c.policies.Load().candidates(e.tags)
	if len(cands) == 0 {
		return Decision{Command: wire.Acknowledge, NodeID: id, Reason: "no matching policy"}, nil
	}
	bound, err := c.st.Bind(ctx, id, cands, c.now())
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNoRoom):
		// The cached counts were stale; refresh them.
		if err := c.loadPolicies(ctx); err != nil {
			return Decision{}, err
		}
		return Decision{Command: wire.Acknowledge, NodeID: id, Reason: "matching policies are full"}, nil
	case errors.Is(err, store.ErrBound):
		fresh, err := c.st.GetNode(ctx, id)
		if err != nil {
			return Decision{}, fmt.Errorf("core: checkin %s: %w", id, err)
		}
		c.cache.put(fresh, nil, 0)
		return c.decideBound(ctx, fresh)
	case errors.Is(err, store.ErrNotFound):
		c.cache.remove(id)
		return Decision{Command: wire.Register, Reason: "node deleted"}, nil
	default:
		return Decision{}, fmt.Errorf("core: bind %s: %w", id, err)
	}
	c.cache.put(bound, nil, 0)
	if err := c.loadPolicies(ctx); err != nil {
		return Decision{}, err
	}
	c.m.Bind(bound.Policy)
	c.log.Info("node bound", "node", id, "mac", firstMAC(bound.MACs), "policy", bound.Policy)
	c.record(events.Bound, id, bound.MACs, map[string]string{"policy": bound.Policy})
	p := c.policies.Load().byName[bound.Policy]
	if p.Target.Kind == store.TargetPoweroff {
		return Decision{Command: wire.Poweroff, NodeID: id, Reason: "bound to " + bound.Policy}, nil
	}
	return Decision{Command: wire.Reboot, NodeID: id, Reason: "bound to " + bound.Policy}, nil
}

// decideBound applies rule 4.
func (c *Core) decideBound(ctx context.Context, n store.Node) (Decision, error) {
	p, ok := c.policies.Load().byName[n.Policy]
	if ok && p.Target.Kind == store.TargetPoweroff {
		return Decision{Command: wire.Poweroff, NodeID: n.ID, Reason: "policy " + n.Policy + " powers off"}, nil
	}
	switch n.BootState {
	case store.BootFailed:
		return Decision{Command: wire.Acknowledge, NodeID: n.ID, Reason: "target of " + n.Policy + " failed"}, nil
	case store.BootBooted:
		fresh, err := c.st.SetBootState(ctx, n.ID, n.Policy, store.BootFailed, c.now())
		if err != nil && !errors.Is(err, store.ErrStale) {
			return Decision{}, fmt.Errorf("core: mark %s failed: %w", n.ID, err)
		}
		if err == nil {
			c.cache.put(fresh, nil, 0)
			c.log.Warn("node came back to the microkernel after booting its target: marked failed", "node", n.ID, "mac", firstMAC(n.MACs), "policy", n.Policy)
			c.record(events.BootFailed, n.ID, n.MACs, map[string]string{"policy": n.Policy})
		}
		return Decision{Command: wire.Acknowledge, NodeID: n.ID, Reason: "target of " + n.Policy + " failed"}, nil
	}
	return Decision{Command: wire.Reboot, NodeID: n.ID, Reason: "bound to " + n.Policy + ", target not booted"}, nil
}

// wait holds an acknowledge for node id (rule 6). It never holds a lock
// while waiting.
func (c *Core) wait(ctx context.Context, id string, d time.Duration) (Decision, error) {
	ack := Decision{Command: wire.Acknowledge, NodeID: id, Reason: "long-poll ended"}
	ch, ok := c.waiters.add(id)
	if !ok {
		ack.Reason = "long-poll refused (limit or shutdown)"
		return ack, nil
	}
	defer c.waiters.remove(id, ch)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		// Decide after registering as a waiter, so that a command queued
		// in between is not missed.
		dec, err := c.decide(ctx, id)
		if err != nil || dec.Command != wire.Acknowledge {
			return dec, err
		}
		select {
		case <-ch:
			if c.waiters.isClosed() {
				return ack, nil
			}
		case <-timer.C:
			return ack, nil
		case <-ctx.Done():
			return ack, nil
		}
	}
}

// Register stores a registration, evaluates the node's tags and returns
// the node.
func (c *Core) Register(ctx context.Context, req wire.RegisterRequest) (NodeInfo, bool, error) {
	now := c.now()
	ms := macs(req.HWID)
	if err := c.checkToken(ctx, req.UUID, ms, req.Token); err != nil {
		c.record(events.Refused, c.idOf(req.UUID, ms), ms, map[string]string{"request": "register", "field": "token", "reason": "not the current boot token"})
		return NodeInfo{}, false, err
	}
	// The facts and tags before, for the event's list of changes.
	var oldFacts map[string]string
	var oldTags []string
	if c.ev != nil {
		if old, err := c.st.FindNode(ctx, req.UUID, ms); err == nil {
			oldFacts = old.Facts
			if e := c.cache.get(old.ID); e != nil {
				oldTags = e.tags
			}
		}
	}
	res, err := c.st.RegisterNode(ctx, store.Registration{UUID: req.UUID, MACs: ms, Facts: req.Facts, LastState: req.LastState, At: now})
	if err != nil {
		return NodeInfo{}, false, fmt.Errorf("core: register: %w", err)
	}
	for _, id := range res.Deleted {
		c.cache.remove(id)
		c.log.Info("duplicate node merged", "node", id, "into", res.Node.ID)
	}
	for _, o := range res.Changed {
		c.cache.put(o, nil, 0)
		c.log.Info("MACs moved to another node", "node", o.ID, "to", res.Node.ID, "macs_left", o.MACs)
	}
	var tags []string
	for {
		ts := c.tags.Load()
		tags = c.evaluate(ts, res.Node.ID, req.Facts)
		c.cache.put(res.Node, tags, ts.gen)
		if c.tags.Load().gen == ts.gen {
			break
		}
	}
	c.m.Registration(res.Created)
	c.record(events.Registered, res.Node.ID, ms, registeredAttrs(res.Created, oldFacts, req.Facts))
	if added, removed := tagChanges(oldTags, tags); len(added)+len(removed) > 0 {
		c.record(events.TagsChanged, res.Node.ID, ms, map[string]string{"added": strings.Join(added, ","), "removed": strings.Join(removed, ","), "tags": strings.Join(tags, ",")})
	}
	c.log.Info("node registered", "node", res.Node.ID, "mac", firstMAC(ms), "uuid", req.UUID, "created", res.Created, "facts", len(req.Facts), "tags", tags)
	return NodeInfo{Node: res.Node, Tags: tags, State: c.state(res.Node, now, now)}, res.Created, nil
}

// idOf is the cached node a request identifies, or "".
func (c *Core) idOf(uuid string, macs []string) string {
	if e := c.cache.find(uuid, macs); e != nil {
		return e.node.ID
	}
	return ""
}

// firstMAC is the first of normalised MACs in the colon form logs and
// events use, or "".
func firstMAC(macs []string) string {
	if len(macs) == 0 {
		return ""
	}
	return wire.ColonMAC(macs[0])
}
