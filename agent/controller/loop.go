package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/internal/version"
	"github.com/razor-mk/razor-mk/wire"
)

// Errors of one iteration, wrapped with detail; callers use errors.Is.
var (
	ErrNoIdentity   = errors.New("controller: node has neither MACs nor an SMBIOS UUID")
	ErrNoFacts      = errors.New("controller: no facts to register")
	ErrServerStatus = errors.New("controller: server answered with an error")
)

var userAgent = "mk-agent/" + version.Version + " razor-wire/" + wire.ProtocolVersion

// iterate is one pass of the loop: find the server, check in, obey the
// command, apply the config, re-register if the facts changed. It reports
// false when the pass failed and the loop should back off.
func (c *Controller) iterate(ctx context.Context, cfg wire.ClientConfig, excl *regexp.Regexp) bool {
	srv, err := c.ensureServer(ctx)
	if err != nil {
		c.recordError("discover", err)
		c.setResult("no server: " + err.Error())
		return false
	}
	id, err := c.opts.Identity()
	if err == nil && id.HWID == "" && id.UUID == "" {
		err = ErrNoIdentity
	}
	if err != nil {
		c.recordError("identity", err)
		c.setResult("no identity")
		return false
	}
	c.mu.Lock()
	first := c.st.firstCheckin
	c.mu.Unlock()
	req := wire.CheckinRequest{
		HWID:         id.HWID,
		UUID:         id.UUID,
		LastState:    "idle",
		FirstCheckin: first,
		Token:        c.opts.Token,
		Wait:         time.Duration(cfg.CheckinWait) * time.Second,
	}
	reply, cfgErr, err := c.checkin(ctx, srv, req)
	now := c.clock.Now()
	c.mu.Lock()
	c.status.LastCheckin = now
	c.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down or restarting: not the server's fault.
			return false
		}
		c.recordError("checkin", err)
		c.setResult("error: " + err.Error())
		c.maybeRediscover()
		return false
	}
	if reply.ErrCode != 0 {
		// The original acts only on errcode 0; anything else is a server
		// error: nothing is obeyed or applied, and the loop backs off.
		err := fmt.Errorf("%w: errcode %d: %s", ErrServerStatus, reply.ErrCode, firstNonEmpty(reply.Error, reply.Result))
		c.recordError("checkin", err)
		c.setResult("ignored: " + err.Error())
		return false
	}
	if cfgErr != nil {
		c.recordError("client_config", fmt.Errorf("%w: %w; keeping the running configuration", ErrInvalidConfig, cfgErr))
	}
	cmd := reply.Command()
	c.log.Debug("checked in", "server", srv.URI, "command", string(cmd), "first_checkin", first)
	c.setResult(string(cmd))
	ok := true
	var facts map[string]string
	switch cmd {
	case wire.Register:
		facts = c.gather(ctx, excl)
		if err := c.register(ctx, srv, id, facts); err != nil && ctx.Err() == nil {
			c.recordError("register", err)
			ok = false
		}
	case wire.Reboot, wire.Poweroff:
		c.log.Warn("server commands "+string(cmd), "server", srv.URI)
		if c.opts.Power == nil {
			c.log.Warn("no power control configured; ignoring " + string(cmd))
		} else if err := c.opts.Power(ctx, cmd); err != nil {
			c.recordError(string(cmd), err)
		}
		// Going down: neither config nor facts matter any more.
		return true
	case wire.Acknowledge:
	default:
		c.log.Warn("reply carries no command the agent knows; treating it as acknowledge")
	}
	if reply.ClientConfig != nil {
		changed, err := c.SetConfig(*reply.ClientConfig)
		if err != nil {
			c.recordError("client_config", err)
		} else if changed {
			c.log.Info("server sent a new configuration; restarting the controller")
			return ok
		}
	}
	if cmd == wire.Register {
		return ok
	}
	if facts == nil {
		facts = c.gather(ctx, excl)
	}
	c.mu.Lock()
	prev, prevHash := c.st.facts, c.st.factsHash
	c.mu.Unlock()
	if len(facts) == 0 || factsHash(facts) == prevHash {
		return ok
	}
	if prevHash == "" {
		c.log.Info("registering: no registration since boot")
	} else {
		c.log.Info("registering: facts changed since the last registration", "facts", changedFacts(prev, facts, 10))
	}
	if err := c.register(ctx, srv, id, facts); err != nil {
		if ctx.Err() == nil {
			c.recordError("register", err)
		}
		return false
	}
	return ok
}

// ensureServer returns the server, discovering it if needed.
func (c *Controller) ensureServer(ctx context.Context) (discover.Server, error) {
	c.mu.Lock()
	srv := c.server
	c.mu.Unlock()
	if srv != nil {
		return *srv, nil
	}
	s, err := c.opts.Discover(ctx)
	if err != nil {
		return s, err
	}
	if c.opts.CASHA256 != "" && !strings.HasPrefix(s.URI, "https://") {
		return discover.Server{}, fmt.Errorf("%w: %s (%s)", ErrPlainHTTP, s.URI, s.Source)
	}
	c.log.Info("found the Razor server", "uri", s.URI, "source", s.Source, "checkin_path", s.CheckinPath)
	c.mu.Lock()
	c.server = &s
	c.cfg = c.cfg.WithoutDerived().MergeDerived(c.derivedLocked())
	c.mu.Unlock()
	return s, nil
}

// maybeRediscover forgets the server after repeated failures, so that the
// next pass looks again (a lease may have changed, DNS may now answer).
func (c *Controller) maybeRediscover() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server != nil && (c.status.Failures+1)%RediscoverAfter == 0 {
		c.log.Info("server unreachable; looking for it again", "uri", c.server.URI, "failures", c.status.Failures+1)
		c.server = nil
	}
}

func (c *Controller) setResult(r string) {
	c.mu.Lock()
	c.status.LastResult = r
	c.mu.Unlock()
}

// checkin sends GET <checkin URL>?<query> and parses the reply.
func (c *Controller) checkin(ctx context.Context, srv discover.Server, req wire.CheckinRequest) (wire.Reply, error, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout+req.Wait)
	defer cancel()
	u := srv.CheckinURL() + "?" + req.Query().Encode()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return wire.Reply{}, nil, fmt.Errorf("checkin: %w", err)
	}
	hr.Header.Set("Accept", "application/json")
	body, status, err := c.do(hr)
	if err != nil {
		return wire.Reply{}, nil, fmt.Errorf("checkin %s: %w", srv.CheckinURL(), err)
	}
	reply, cfgErr, perr := wire.ParseReply(body)
	if status/100 != 2 {
		detail := snippet(body)
		if perr == nil && firstNonEmpty(reply.Error, reply.Result) != "" {
			detail = firstNonEmpty(reply.Error, reply.Result)
		}
		return wire.Reply{}, nil, fmt.Errorf("checkin %s: %w: HTTP %d: %s", srv.CheckinURL(), ErrServerStatus, status, detail)
	}
	if perr != nil {
		return wire.Reply{}, nil, fmt.Errorf("checkin %s: %w", srv.CheckinURL(), perr)
	}
	return reply, cfgErr, nil
}

// register posts facts as our JSON register body; the registration counts
// when the server answers 2xx without a non-zero errcode.
func (c *Controller) register(ctx context.Context, srv discover.Server, id Identity, facts map[string]string) error {
	if len(facts) == 0 {
		return ErrNoFacts
	}
	body, err := wire.RegisterRequest{HWID: id.HWID, UUID: id.UUID, Facts: facts, LastState: "idle", Token: c.opts.Token}.Encode()
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.RegisterURL(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	hr.Header.Set("Content-Type", wire.ContentTypeJSON)
	hr.Header.Set("Accept", "application/json")
	rb, status, err := c.do(hr)
	if err != nil {
		return fmt.Errorf("register %s: %w", srv.RegisterURL(), err)
	}
	if status/100 != 2 {
		return fmt.Errorf("register %s: %w: HTTP %d: %s", srv.RegisterURL(), ErrServerStatus, status, snippet(rb))
	}
	// The original server's register reply is the node itself, with or
	// without an errcode; only an explicit non-zero errcode is a failure.
	var env struct {
		ErrCode json.RawMessage `json:"errcode"`
		Result  string          `json:"result"`
	}
	if json.Unmarshal(rb, &env) == nil && len(env.ErrCode) > 0 {
		if e := strings.Trim(string(env.ErrCode), `" `); e != "0" {
			return fmt.Errorf("register %s: %w: errcode %s: %s", srv.RegisterURL(), ErrServerStatus, e, env.Result)
		}
	}
	now := c.clock.Now()
	c.mu.Lock()
	err = c.st.registered(facts)
	c.status.LastRegistered = now
	c.status.Registered, c.status.FirstCheckin = true, false
	c.mu.Unlock()
	if err != nil {
		c.recordError("save state", err)
	}
	c.log.Info("registered", "server", srv.URI, "facts", len(facts))
	return nil
}

// do runs hr and reads at most wire.MaxReplyBody bytes of the answer.
func (c *Controller) do(hr *http.Request) ([]byte, int, error) {
	hr.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(hr)
	if err != nil {
		// The query carries the boot token: keep it out of the error
		// (and so out of the logs); the caller names the URL itself.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, 0, ue.Err
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxReplyBody+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading reply: %w", err)
	}
	if len(body) > wire.MaxReplyBody {
		return nil, resp.StatusCode, fmt.Errorf("reply larger than %d bytes", wire.MaxReplyBody)
	}
	return body, resp.StatusCode, nil
}

// gather collects the facts and drops those whose names match the
// exclusion pattern. Failing sources are logged; the rest still count.
func (c *Controller) gather(ctx context.Context, excl *regexp.Regexp) map[string]string {
	all, err := c.opts.Facts(ctx)
	if err != nil {
		c.log.Warn("some fact sources failed", "err", err)
	}
	out := make(map[string]string, len(all))
	for k, v := range all {
		if !excl.MatchString(k) {
			out[k] = v
		}
	}
	c.mu.Lock()
	c.status.FactsCount = len(out)
	c.mu.Unlock()
	return out
}

func snippet(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	return truncate(s, 200)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
