// Package controller is the Microkernel Controller: the loop that checks a
// node in with the Razor server every mk_checkin_interval seconds, posts
// its facts when asked (or when they change), obeys reboot and poweroff,
// and applies the client_config the server sends, saving it atomically
// and restarting itself in-process, as the original Ruby controller did
// through its local web server.
//
// Facts, identity, server discovery, power and time come in through small
// func types and interfaces, so tests drive the loop with fakes and a fake
// clock against an httptest server.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/wire"
)

// ErrInvalidConfig wraps the reason a configuration was refused.
var ErrInvalidConfig = errors.New("controller: invalid configuration")

// Identity names the node in checkins and registrations.
type Identity struct {
	// HWID is the node's Ethernet MACs in hw_id form (wire.JoinHWID).
	HWID string
	// UUID is the SMBIOS system UUID, or "".
	UUID string
}

// IdentityFunc returns the node's identity; it is called before every
// checkin, as the original re-read its MACs each time.
type IdentityFunc func() (Identity, error)

// FactsFunc gathers the node's facts. A non-nil error with facts means some
// sources failed and the rest still count; the controller logs it.
type FactsFunc func(ctx context.Context) (map[string]string, error)

// PowerFunc performs wire.Reboot or wire.Poweroff (see SystemPower).
type PowerFunc func(ctx context.Context, cmd wire.Command) error

// DiscoverFunc finds the server (see discover.Finder.Find).
type DiscoverFunc func(ctx context.Context) (discover.Server, error)

// Clock is the controller's view of time, so tests need not sleep.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults.
const (
	// DefaultBackoffBase is the first backoff step after a failure.
	DefaultBackoffBase = time.Second
	// DefaultRequestTimeout bounds a checkin or register request, on top
	// of the long-poll wait.
	DefaultRequestTimeout = 30 * time.Second
	// RediscoverAfter is the number of consecutive failures after which
	// the controller looks for the server again.
	RediscoverAfter = 3
	// maxErrors is how many recent errors Status keeps.
	maxErrors = 10
)

// Options configure a Controller. Discover, Identity and Facts are
// required.
type Options struct {
	// Config is the configuration to start with; it must validate.
	Config wire.ClientConfig
	// ConfigPath is where changed configurations are saved; "" keeps them
	// in memory only.
	ConfigPath string
	// StateDir keeps the first-checkin flag and the last registered facts
	// across restarts; "" keeps them in memory only.
	StateDir string

	Discover DiscoverFunc
	Identity IdentityFunc
	Facts    FactsFunc
	// Power performs reboot and poweroff; nil only logs the command.
	Power PowerFunc
	// Token is the per-boot node token (razor.token=) sent with every
	// checkin and registration; "" sends none.
	Token string
	// CASHA256 pins the server's CA (razor.ca_sha256=): the agent then
	// speaks HTTPS only, to a server whose certificate chains to that CA
	// (PinnedClient), and refuses plain-HTTP servers. "" is plain HTTP
	// as the original.
	CASHA256 string

	// Client does the HTTP; nil uses one with no proxy and dial timeouts.
	Client *http.Client
	// RequestTimeout bounds each request beyond the long-poll wait;
	// 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// BackoffBase is the first backoff step; 0 means DefaultBackoffBase.
	BackoffBase time.Duration
	// Clock is time; nil means the real clock.
	Clock Clock
	// Rand returns numbers in [0, 1) for the skew and the jitter; nil
	// means math/rand/v2.
	Rand func() float64
	// Logger receives the controller's log; nil discards.
	Logger *slog.Logger
	// LevelVar, when set, follows mk_log_level unless PinLevel is set (an
	// operator's --log-level wins over the server).
	LevelVar *slog.LevelVar
	PinLevel bool
}

// Status is what GET /status reports.
type Status struct {
	Server         string            `json:"server"`
	ServerSource   string            `json:"server_source"`
	LastCheckin    time.Time         `json:"last_checkin,omitzero"`
	LastResult     string            `json:"last_result"`
	LastRegistered time.Time         `json:"last_registered,omitzero"`
	Registered     bool              `json:"registered"`
	FirstCheckin   bool              `json:"first_checkin"`
	Failures       int               `json:"consecutive_failures"`
	NextCheckin    time.Time         `json:"next_checkin,omitzero"`
	Restarts       int               `json:"restarts"`
	FactsCount     int               `json:"facts_count"`
	Config         wire.ClientConfig `json:"config"`
	Errors         []ErrorEntry      `json:"errors"`
}

// ErrorEntry is one recent error.
type ErrorEntry struct {
	Time  time.Time `json:"time"`
	Op    string    `json:"op"`
	Error string    `json:"error"`
}

// Controller is the Microkernel Controller. Create it with New, run it
// with Run; SetConfig, Config and Status may be called concurrently.
type Controller struct {
	opts   Options
	log    *slog.Logger
	clock  Clock
	rand   func() float64
	client *http.Client

	mu            sync.Mutex
	cfg           wire.ClientConfig
	server        *discover.Server
	st            *state
	status        Status
	cancelSession context.CancelFunc
}

// New checks opts and loads the state directory.
func New(opts Options) (*Controller, error) {
	if opts.Discover == nil || opts.Identity == nil || opts.Facts == nil {
		return nil, errors.New("controller: Discover, Identity and Facts are required")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := &Controller{opts: opts, log: opts.Logger, clock: opts.Clock, rand: opts.Rand, client: opts.Client, cfg: opts.Config}
	if c.log == nil {
		c.log = discard
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.opts.CASHA256 != "" && opts.Client == nil {
		pc, err := PinnedClient(c.opts.CASHA256)
		if err != nil {
			return nil, err
		}
		c.client = pc
	}
	if c.client == nil {
		c.client = defaultClient()
	}
	if c.opts.RequestTimeout <= 0 {
		c.opts.RequestTimeout = DefaultRequestTimeout
	}
	if c.opts.BackoffBase <= 0 {
		c.opts.BackoffBase = DefaultBackoffBase
	}
	st, err := loadState(opts.StateDir)
	if err != nil {
		// A corrupt state file costs one extra registration, nothing more.
		c.log.Warn("state directory unreadable; starting as after boot", "err", err)
	}
	c.st = st
	c.status.FirstCheckin = st.firstCheckin
	c.status.Registered = !st.firstCheckin
	return c, nil
}

func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		// The microkernel has no proxy; a workstation's proxy settings
		// must not capture a lab server's address.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        2,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// Config returns the running configuration.
func (c *Controller) Config() wire.ClientConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Status returns a snapshot of the controller's state.
func (c *Controller) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Config = c.cfg
	s.Errors = append([]ErrorEntry(nil), c.status.Errors...)
	if s.Errors == nil {
		s.Errors = []ErrorEntry{}
	}
	if c.server != nil {
		s.Server, s.ServerSource = c.server.URI, c.server.Source
	}
	return s
}

// SetConfig applies cfg as the server's client_config would be applied:
// an invalid one is refused with an error wrapping ErrInvalidConfig and
// changes nothing; one that equals the running config, ignoring the
// derived keys, changes nothing and reports false; otherwise it is saved
// and the controller restarts with it, and SetConfig reports true.
func (c *Controller) SetConfig(cfg wire.ClientConfig) (changed bool, err error) {
	if err := cfg.Validate(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c.mu.Lock()
	if cfg.SameAs(c.cfg) {
		c.mu.Unlock()
		return false, nil
	}
	next := cfg.WithoutDerived().MergeDerived(c.derivedLocked())
	c.cfg = next
	cancel := c.cancelSession
	c.mu.Unlock()
	if c.opts.ConfigPath != "" {
		if err := SaveConfig(c.opts.ConfigPath, next); err != nil {
			// The new config still applies; it is lost only if the
			// process itself restarts.
			c.recordError("save config", err)
		} else {
			c.log.Debug("configuration saved", "path", c.opts.ConfigPath)
		}
	}
	if cancel != nil {
		cancel()
	}
	return true, nil
}

// derivedLocked returns the derived keys from the discovered server, or
// those of the running config before discovery.
func (c *Controller) derivedLocked() wire.ClientConfig {
	if c.server == nil {
		return c.cfg
	}
	return wire.ClientConfig{URI: c.server.URI, CheckinPath: c.server.CheckinPath, RegisterPath: c.server.RegisterPath}
}

// Run checks in until ctx is done, restarting in-process whenever the
// configuration changes. It returns nil when ctx is cancelled; it never
// gives up on a missing or failing server.
func (c *Controller) Run(ctx context.Context) error {
	for first := true; ctx.Err() == nil; first = false {
		sctx, cancel := context.WithCancel(ctx)
		c.mu.Lock()
		c.cancelSession = cancel
		if !first {
			c.status.Restarts++
		}
		cfg := c.cfg
		c.mu.Unlock()
		if !first {
			c.log.Info("Microkernel Controller restarted with the new configuration",
				"mk_checkin_interval", cfg.CheckinInterval, "mk_checkin_skew", cfg.CheckinSkew)
		}
		c.session(sctx, cfg)
		cancel()
	}
	c.mu.Lock()
	c.cancelSession = nil
	c.mu.Unlock()
	return nil
}

// session is one lifetime of the controller with one configuration: a
// random initial delay of up to mk_checkin_skew, then checkins every
// mk_checkin_interval seconds start to start, or backoff after failures.
// It returns when ctx is done (shutdown or restart).
func (c *Controller) session(ctx context.Context, cfg wire.ClientConfig) {
	if c.opts.LevelVar != nil && !c.opts.PinLevel {
		c.opts.LevelVar.Set(ParseLogLevel(cfg.LogLevel))
	}
	excl, err := regexp.Compile(cfg.FactExclPattern)
	if err != nil {
		// Validate refuses such configs; report rather than panic.
		c.recordError("mk_fact_excl_pattern", err)
		excl = regexp.MustCompile(`$.^`)
	}
	interval := time.Duration(cfg.CheckinInterval) * time.Second
	skew := time.Duration(c.rand() * float64(time.Duration(cfg.CheckinSkew)*time.Second))
	c.setNext(skew)
	if !c.sleep(ctx, skew) {
		return
	}
	for {
		start := c.clock.Now()
		ok := c.iterate(ctx, cfg, excl)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		if ok {
			c.status.Failures = 0
		} else {
			c.status.Failures++
		}
		failures := c.status.Failures
		c.mu.Unlock()
		var d time.Duration
		if ok {
			d = max(interval-c.clock.Now().Sub(start), 0)
		} else {
			d = Backoff(failures, c.opts.BackoffBase, interval, c.rand())
			c.log.Debug("backing off", "failures", failures, "delay", d)
		}
		c.setNext(d)
		if !c.sleep(ctx, d) {
			return
		}
	}
}

// Backoff returns the delay after the given number of consecutive
// failures (1 or more): base doubled per failure, capped at limit, with
// "equal jitter" r in [0, 1) picking a delay in [d/2, d). It is never
// zero for positive base and limit, so a dead server is never spun on.
func Backoff(failures int, base, limit time.Duration, r float64) time.Duration {
	d := min(base, limit)
	for i := 1; i < failures && d < limit; i++ {
		d = min(2*d, limit)
	}
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}

func (c *Controller) setNext(d time.Duration) {
	c.mu.Lock()
	c.status.NextCheckin = c.clock.Now().Add(d)
	c.mu.Unlock()
}

// sleep waits d on the controller's clock; false means ctx ended first.
func (c *Controller) sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.clock.After(d):
		return true
	}
}

func (c *Controller) recordError(op string, err error) {
	c.log.Error(op+" failed", "err", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	e := ErrorEntry{Time: c.clock.Now(), Op: op, Error: err.Error()}
	c.status.Errors = append(c.status.Errors, e)
	if n := len(c.status.Errors); n > maxErrors {
		c.status.Errors = append([]ErrorEntry(nil), c.status.Errors[n-maxErrors:]...)
	}
}
