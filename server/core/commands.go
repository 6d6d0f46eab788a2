package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
)

// CancelCommand removes a node's pending command; store.ErrDelivered
// when it has gone out already.
func (c *Core) CancelCommand(ctx context.Context, id string, cmdID int64) (store.Command, error) {
	cmd, err := c.st.CancelCommand(ctx, id, cmdID)
	if err != nil {
		return store.Command{}, fmt.Errorf("core: cancel command %d of %s: %w", cmdID, id, err)
	}
	c.dropPending(id)
	c.m.Command(cmd.Name, "cancelled")
	c.log.Info("command cancelled", "node", id, "mac", c.macOf(id), "command", cmd.Name, "id", cmd.ID)
	c.record(events.CommandCancel, id, nil, map[string]string{"command": cmd.Name, "id": strconv.FormatInt(cmd.ID, 10)})
	return cmd, nil
}

// expireCommands drops the commands pending longer than CommandExpiry.
func (c *Core) expireCommands(ctx context.Context) error {
	if c.opts.CommandExpiry <= 0 {
		return nil
	}
	cmds, err := c.st.ExpireCommands(ctx, c.now().Add(-c.opts.CommandExpiry))
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.log.Warn("expiring commands failed", "err", err)
		}
		return fmt.Errorf("core: expire commands: %w", err)
	}
	for _, cmd := range cmds {
		c.dropPending(cmd.NodeID)
		c.m.Command(cmd.Name, "expired")
		c.log.Info("command expired", "node", cmd.NodeID, "mac", c.macOf(cmd.NodeID), "command", cmd.Name, "id", cmd.ID, "queued", cmd.Queued)
		c.record(events.CommandExpired, cmd.NodeID, nil, map[string]string{"command": cmd.Name, "id": strconv.FormatInt(cmd.ID, 10),
			"queued": cmd.Queued.UTC().Format(time.RFC3339)})
	}
	return nil
}

// expiryInterval is how often expiry runs: a tenth of the expiry, from 1 s
// to 1 min.
func (c *Core) expiryInterval() time.Duration {
	return min(max(c.opts.CommandExpiry/10, time.Second), time.Minute)
}

// dropPending decrements a node's cached count of pending commands.
func (c *Core) dropPending(id string) {
	if e := c.cache.get(id); e != nil {
		if e.c.pending.Add(-1) < 0 {
			e.c.pending.Store(0)
		}
	}
}

// macOf is a cached node's first MAC, colon form, or "".
func (c *Core) macOf(id string) string {
	if e := c.cache.get(id); e != nil {
		return firstMAC(e.node.MACs)
	}
	return ""
}
