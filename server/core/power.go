package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/store"
)

// Errors of out-of-band power.
var (
	// ErrNoPower: the server has no power controller or no secret key
	// configured (razor-netboot always has both).
	ErrNoPower = errors.New("core: out-of-band power is not configured")
	// ErrNoBMC: the node has no usable BMC credential (none for the
	// node, its policy or globally), or no BMC address.
	ErrNoBMC = errors.New("core: no BMC credential")
)

// BMCFact is the agent's fact holding the node's BMC address (package
// agent/bmc), used when a credential names no host.
const BMCFact = "bmc_ipaddress"

// Sealer seals BMC passwords before they are stored and opens them
// before use (secretbox.File).
type Sealer interface {
	Seal(plaintext, context string) ([]byte, error)
	Open(sealed []byte, context string) (string, error)
}

// BMCInput is a credential as an admin sets it.
type BMCInput struct {
	Host     string // "" = the node's bmc_ipaddress fact
	Port     int    // 0 = 623
	Username string
	Password string
}

// BMCInfo is a stored credential as the admin API shows it: never the
// password.
type BMCInfo struct {
	Scope       string
	Host        string
	Port        int
	Username    string
	PasswordSet bool
	Updated     time.Time
}

func bmcInfo(c store.BMCCredential) BMCInfo {
	return BMCInfo{Scope: c.Scope, Host: c.Host, Port: c.Port, Username: c.Username, PasswordSet: len(c.Sealed) > 0, Updated: c.Updated}
}

// PowerResult is what a power action did.
type PowerResult struct {
	Node   string
	Action power.Action
	State  power.State
	// BMC is user@host:port, Credential the scope whose credential was
	// used.
	BMC        string
	Credential string
}

// scope checks an admin's scope and resolves a node scope's key (an id,
// MAC, UUID or serial) to the node id.
func (c *Core) scope(ctx context.Context, scope string) (string, error) {
	if id, ok := store.ScopeNode(scope); ok {
		n, err := c.lookup(ctx, id)
		if err != nil {
			return "", fmt.Errorf("core: credential %s: %w", scope, err)
		}
		return store.NodeScope(n.ID), nil
	}
	if err := store.ValidScope(scope); err != nil {
		return "", invalid("scope", "%q: want global, node:<id> or policy:<name>", scope)
	}
	if name, ok := store.ScopePolicy(scope); ok {
		if _, err := c.st.GetPolicy(ctx, name); err != nil {
			return "", fmt.Errorf("core: credential %s: %w", scope, err)
		}
	}
	return scope, nil
}

// SetBMC validates, seals and stores the credential of scope (global,
// node:<id|MAC|UUID|serial> or policy:<name>), replacing any. Bad input
// is refused naming the field, and nothing is changed.
func (c *Core) SetBMC(ctx context.Context, scope string, in BMCInput) (BMCInfo, error) {
	if c.opts.Secrets == nil {
		return BMCInfo{}, ErrNoPower
	}
	if in.Host != "" {
		if err := power.ValidHost(in.Host); err != nil {
			return BMCInfo{}, invalid("host", "%q: want an IP address or a DNS name (or none: the node's %s fact)", in.Host, BMCFact)
		}
		if ip, err := netip.ParseAddr(in.Host); err == nil && (ip.IsUnspecified() || ip.IsMulticast()) {
			return BMCInfo{}, invalid("host", "%s: not a BMC's address", in.Host)
		}
	}
	if in.Port < 0 || in.Port > 65535 {
		return BMCInfo{}, invalid("port", "%d: want 1-65535 (0: %d)", in.Port, power.DefaultPort)
	}
	if in.Username == "" || len(in.Username) > power.MaxUsername {
		return BMCInfo{}, invalid("username", "want 1-%d bytes, got %d", power.MaxUsername, len(in.Username))
	}
	if err := power.ValidUser(in.Username, ""); err != nil {
		return BMCInfo{}, invalid("username", "control characters")
	}
	if in.Password == "" || len(in.Password) > power.MaxPassword {
		return BMCInfo{}, invalid("password", "want 1-%d bytes (IPMI v2.0), got %d", power.MaxPassword, len(in.Password))
	}
	sc, err := c.scope(ctx, scope)
	if err != nil {
		return BMCInfo{}, err
	}
	sealed, err := c.opts.Secrets.Seal(in.Password, sc)
	if err != nil {
		return BMCInfo{}, fmt.Errorf("core: credential %s: %w", sc, err)
	}
	cred, err := c.st.PutBMCCredential(ctx, store.BMCCredential{Scope: sc, Host: in.Host, Port: in.Port, Username: in.Username, Sealed: sealed, Updated: c.now()})
	if err != nil {
		return BMCInfo{}, fmt.Errorf("core: credential %s: %w", sc, err)
	}
	c.log.Info("BMC credential set", "scope", sc, "host", in.Host, "username", in.Username)
	if id, ok := store.ScopeNode(sc); ok {
		c.record(events.BMCCredential, id, nil, map[string]string{"change": "set", "bmc": in.Username + "@" + in.Host})
	}
	return bmcInfo(cred), nil
}

// BMC returns the credential of scope, without its password.
func (c *Core) BMC(ctx context.Context, scope string) (BMCInfo, error) {
	sc, err := c.scope(ctx, scope)
	if err != nil {
		return BMCInfo{}, err
	}
	cred, err := c.st.GetBMCCredential(ctx, sc)
	if err != nil {
		return BMCInfo{}, fmt.Errorf("core: credential %s: %w", sc, err)
	}
	return bmcInfo(cred), nil
}

// BMCs lists every credential, by scope, without passwords.
func (c *Core) BMCs(ctx context.Context) ([]BMCInfo, error) {
	creds, err := c.st.ListBMCCredentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("core: credentials: %w", err)
	}
	out := make([]BMCInfo, len(creds))
	for i, cr := range creds {
		out[i] = bmcInfo(cr)
	}
	return out, nil
}

// DeleteBMC removes the credential of scope.
func (c *Core) DeleteBMC(ctx context.Context, scope string) error {
	sc, err := c.scope(ctx, scope)
	if err != nil {
		return err
	}
	if err := c.st.DeleteBMCCredential(ctx, sc); err != nil {
		return fmt.Errorf("core: credential %s: %w", sc, err)
	}
	c.log.Info("BMC credential deleted", "scope", sc)
	if id, ok := store.ScopeNode(sc); ok {
		c.record(events.BMCCredential, id, nil, map[string]string{"change": "deleted"})
	}
	return nil
}

// resolveBMC finds how to reach node n's BMC: its own credential, else
// its policy's, else the global one; the host from the credential, else
// from the node's bmc_ipaddress fact.
func (c *Core) resolveBMC(ctx context.Context, n store.Node, policy string) (power.BMC, string, error) {
	scopes := []string{store.NodeScope(n.ID)}
	if policy != "" {
		scopes = append(scopes, store.PolicyScope(policy))
	}
	scopes = append(scopes, store.ScopeGlobal)
	for _, sc := range scopes {
		cred, err := c.st.GetBMCCredential(ctx, sc)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return power.BMC{}, "", fmt.Errorf("core: credential %s: %w", sc, err)
		}
		host := cred.Host
		if host == "" {
			host = n.Facts[BMCFact]
		}
		if host == "" {
			return power.BMC{}, sc, fmt.Errorf("%w: node %s: credential %s names no host and the node has no %s fact", ErrNoBMC, n.ID, sc, BMCFact)
		}
		if err := power.ValidHost(host); err != nil {
			return power.BMC{}, sc, fmt.Errorf("%w: node %s: BMC address %q (credential %s, or fact %s) is not an IP address or DNS name", ErrNoBMC, n.ID, host, sc, BMCFact)
		}
		// A BMC without a LAN address reports 0.0.0.0; sending there
		// would reach this server itself.
		if ip, err := netip.ParseAddr(host); err == nil && (ip.IsUnspecified() || ip.IsMulticast()) {
			return power.BMC{}, sc, fmt.Errorf("%w: node %s: BMC address %s (credential %s, or fact %s) is not a usable address: the BMC has no LAN address configured", ErrNoBMC, n.ID, host, sc, BMCFact)
		}
		pw, err := c.opts.Secrets.Open(cred.Sealed, sc)
		if err != nil {
			return power.BMC{}, sc, fmt.Errorf("core: credential %s: cannot open the password (set it again, or restore the key file): %w", sc, err)
		}
		return power.BMC{Host: host, Port: cred.Port, Username: cred.Username, Password: pw}, sc, nil
	}
	return power.BMC{}, "", fmt.Errorf("%w: node %s has none (set one for the node, its policy or global)", ErrNoBMC, n.ID)
}

// Power carries out a power action on a node (id, MAC, UUID or serial)
// through its BMC, and records it on the node's timeline (power.done or
// power.failed).
func (c *Core) Power(ctx context.Context, id string, a power.Action) (PowerResult, error) {
	if _, err := power.ParseAction(string(a)); err != nil {
		return PowerResult{}, invalid("action", "%q: want on, off, cycle or status", a)
	}
	n, err := c.lookup(ctx, id)
	if err != nil {
		return PowerResult{}, fmt.Errorf("core: node %s: %w", id, err)
	}
	return c.power(ctx, n, n.Policy, a, "admin")
}

func (c *Core) power(ctx context.Context, n store.Node, policy string, a power.Action, reason string) (PowerResult, error) {
	if c.opts.Power == nil || c.opts.Secrets == nil {
		return PowerResult{}, ErrNoPower
	}
	res := PowerResult{Node: n.ID, Action: a}
	bmc, sc, err := c.resolveBMC(ctx, n, policy)
	if err == nil {
		res.BMC, res.Credential = bmc.String(), sc
		res.State, err = c.opts.Power.Do(ctx, bmc, a)
	}
	if err != nil {
		c.log.Warn("power action failed", "node", n.ID, "mac", firstMAC(n.MACs), "action", a, "reason", reason, "err", err)
		if a != power.Status {
			c.m.Command("power-"+string(a), "failed")
			c.record(events.PowerFailed, n.ID, n.MACs, map[string]string{"action": string(a), "error": trimCore(err.Error()), "reason": reason})
		}
		return res, fmt.Errorf("core: power %s %s: %w", a, n.ID, err)
	}
	c.log.Info("power action", "node", n.ID, "mac", firstMAC(n.MACs), "action", a, "state", res.State, "bmc", res.BMC, "credential", sc, "reason", reason)
	if a != power.Status {
		c.m.Command("power-"+string(a), "done")
		c.record(events.PowerDone, n.ID, n.MACs, map[string]string{"action": string(a), "state": string(res.State),
			"bmc": res.BMC, "credential": sc, "reason": reason})
	}
	return res, nil
}

// trimCore drops the "core: " prefixes of an error for a timeline.
func trimCore(s string) string {
	for len(s) > 6 && s[:6] == "core: " {
		s = s[6:]
	}
	return s
}

// BindResult is what Bind did.
type BindResult struct {
	Node NodeInfo
	// Power is the power cycle done because the policy asks for one and
	// the node was not in the microkernel; PowerErr says why it failed
	// (the binding stands: the node boots the target when it next
	// network-boots).
	Power    *PowerResult
	PowerErr error
}

// Bind binds a node (id, MAC, UUID or serial) to a policy chosen by an
// admin, whether or not its tags match (the policy must be enabled and
// have room). A node running the microkernel is told to reboot at its
// next checkin; a node that is not (silent past the register timeout) is
// power-cycled through its BMC when the policy's target says
// power_cycle.
func (c *Core) Bind(ctx context.Context, id, policy string) (BindResult, error) {
	if policy == "" {
		return BindResult{}, invalid("policy", "required")
	}
	n, err := c.lookup(ctx, id)
	if err != nil {
		return BindResult{}, fmt.Errorf("core: node %s: %w", id, err)
	}
	p, err := c.st.GetPolicy(ctx, policy)
	if err != nil {
		return BindResult{}, fmt.Errorf("core: bind %s: %w", n.ID, err)
	}
	now := c.now()
	before := c.info(n, now)
	inMK := now.Sub(lastSeen(before)) <= c.opts.RegisterTimeout
	if p.Target.PowerCycle && !inMK {
		// Refuse before binding rather than bind a node nothing will
		// boot: the check is cheap and names what is missing.
		if c.opts.Power == nil || c.opts.Secrets == nil {
			return BindResult{}, fmt.Errorf("core: bind %s to %s (power_cycle): %w", n.ID, policy, ErrNoPower)
		}
		if _, _, err := c.resolveBMC(ctx, n, policy); err != nil {
			return BindResult{}, fmt.Errorf("core: bind %s to %s (power_cycle): %w", n.ID, policy, err)
		}
	}
	bound, err := c.st.Bind(ctx, n.ID, []string{policy}, now)
	if err != nil {
		return BindResult{}, fmt.Errorf("core: bind %s to %s: %w", n.ID, policy, err)
	}
	c.cache.put(bound, nil, 0)
	if err := c.loadPolicies(ctx); err != nil {
		return BindResult{}, err
	}
	c.m.Bind(bound.Policy)
	c.log.Info("node bound by admin", "node", n.ID, "mac", firstMAC(bound.MACs), "policy", policy, "in_microkernel", inMK)
	c.record(events.Bound, n.ID, bound.MACs, map[string]string{"policy": policy, "by": "admin"})
	c.waiters.wake(n.ID)
	res := BindResult{Node: c.info(bound, c.now())}
	if p.Target.PowerCycle && !inMK {
		pr, err := c.power(ctx, n, policy, power.Cycle, "bound to "+policy)
		if err != nil {
			res.PowerErr = err
		} else {
			res.Power = &pr
		}
	}
	return res, nil
}

// lastSeen is a node's last sign of life: its last checkin or
// registration.
func lastSeen(n NodeInfo) time.Time {
	if n.Registered.After(n.LastCheckin) {
		return n.Registered
	}
	return n.LastCheckin
}
