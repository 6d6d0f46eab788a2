// Package power switches machines on and off through their baseboard
// management controllers, out of band: IPMI v2.0 over LAN (RMCP+, UDP
// port 623), with github.com/bougou/go-ipmi as the client. The core
// talks to a Controller, so that it is tested with a fake; IPMI is the
// real one.
//
// A BMC's password is never logged: BMC formats as user@host:port and
// as a slog value without the password.
package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Errors; callers use errors.Is.
var (
	// ErrInvalid: a bad action or BMC address; the message names it.
	ErrInvalid = errors.New("power: invalid")
	// ErrBMC: the BMC could not be reached, refused the session (wrong
	// user or password), or refused the command.
	ErrBMC = errors.New("power: BMC")
)

// Action is what to do with a machine's power.
type Action string

// Actions.
const (
	On     Action = "on"     // power up (no-op when on)
	Off    Action = "off"    // hard power down (no-op when off)
	Cycle  Action = "cycle"  // off then on; powers up a machine that is off
	Status Action = "status" // only read the state
)

// ParseAction accepts on, off, cycle and status, with or without a
// "power-" prefix (the CLI's verbs).
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.TrimPrefix(s, "power-")); a {
	case On, Off, Cycle, Status:
		return a, nil
	}
	return "", fmt.Errorf("%w: power action %q: want on, off, cycle or status", ErrInvalid, s)
}

// State is a machine's power as its BMC reports it.
type State string

// States.
const (
	StateOn  State = "on"
	StateOff State = "off"
)

// DefaultPort is IPMI over LAN's UDP port (RMCP, IPMI v2.0 §13.1).
const DefaultPort = 623

// Limits of IPMI v2.0 user names and passwords (§22.28, §22.30: 16
// bytes, and 20 for a v2.0 password).
const (
	MaxUsername = 16
	MaxPassword = 20
)

// BMC is how to reach one BMC.
type BMC struct {
	Host     string // IP address or DNS name
	Port     int    // 0 = DefaultPort
	Username string
	Password string
}

// String is user@host:port, without the password.
func (b BMC) String() string {
	return b.Username + "@" + net.JoinHostPort(b.Host, strconv.Itoa(b.port()))
}

// LogValue keeps the password out of logs.
func (b BMC) LogValue() slog.Value { return slog.StringValue(b.String()) }

func (b BMC) port() int {
	if b.Port == 0 {
		return DefaultPort
	}
	return b.Port
}

var hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?$`)

// ValidHost checks a BMC host: an IP address or a DNS name.
func ValidHost(h string) error {
	if h == "" {
		return fmt.Errorf("%w: BMC host is empty", ErrInvalid)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 253 || !hostname.MatchString(h) {
		return fmt.Errorf("%w: BMC host %q: want an IP address or a DNS name", ErrInvalid, h)
	}
	return nil
}

// Validate checks a BMC before it is used or stored, naming the bad
// part. The password may be empty (a BMC user without one).
func (b BMC) Validate() error {
	if err := ValidHost(b.Host); err != nil {
		return err
	}
	if b.Port < 0 || b.Port > 65535 {
		return fmt.Errorf("%w: BMC port %d: want 1-65535 (0: %d)", ErrInvalid, b.Port, DefaultPort)
	}
	return ValidUser(b.Username, b.Password)
}

// ValidUser checks a user name and password against IPMI's limits.
func ValidUser(user, password string) error {
	if user == "" || len(user) > MaxUsername {
		return fmt.Errorf("%w: BMC username: want 1-%d bytes, got %d", ErrInvalid, MaxUsername, len(user))
	}
	for _, r := range user {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: BMC username: control characters", ErrInvalid)
		}
	}
	if len(password) > MaxPassword {
		return fmt.Errorf("%w: BMC password: at most %d bytes, got %d", ErrInvalid, MaxPassword, len(password))
	}
	return nil
}

// ParseAddress splits "host", "host:port" or "[v6]:port" into a host and
// a port (0 when none is given).
func ParseAddress(s string) (string, int, error) {
	host, port := s, 0
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("%w: BMC address %q: port: want 1-65535", ErrInvalid, s)
		}
		host, port = h, n
	} else if strings.Count(s, ":") == 1 || strings.HasPrefix(s, "[") {
		return "", 0, fmt.Errorf("%w: BMC address %q: want host, host:port or [IPv6]:port", ErrInvalid, s)
	}
	if err := ValidHost(host); err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// Controller does power actions on BMCs.
type Controller interface {
	// Do carries out a on the machine behind bmc and returns its power
	// state: as read for Status, as requested for the others (the BMC
	// accepted the command; the machine may take a moment to follow).
	Do(ctx context.Context, bmc BMC, a Action) (State, error)
}

// Options configure NewIPMI. Zero values take the defaults given.
type Options struct {
	Logger *slog.Logger // default: discard
	// Timeout bounds one request's wait for an answer (default 2 s); a
	// session tries several cipher suites and retries, so a BMC that
	// does not answer takes several times this.
	Timeout time.Duration
	// Retries of a request without an answer (default 1).
	Retries int
	// CipherSuites are the RMCP+ cipher suites offered, in order
	// (default 17 then 3: HMAC-SHA256 and HMAC-SHA1 authentication with
	// AES-CBC-128 encryption, as ipmitool offers). Naming them skips
	// asking the BMC for its list, a command some BMCs (ipmi_sim) do not
	// answer, which would cost every session the full timeout.
	CipherSuites []int
}

// IPMI is the Controller speaking IPMI v2.0 over LAN (RMCP+): one session
// per action, closed afterwards.
type IPMI struct {
	opts Options
	log  *slog.Logger
}

var _ Controller = (*IPMI)(nil)

// NewIPMI returns the IPMI controller.
func NewIPMI(o Options) *IPMI {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 1
	}
	if len(o.CipherSuites) == 0 {
		o.CipherSuites = []int{17, 3}
	}
	return &IPMI{opts: o, log: o.Logger}
}

// Do implements Controller.
func (p *IPMI) Do(ctx context.Context, bmc BMC, a Action) (State, error) {
	if _, err := ParseAction(string(a)); err != nil {
		return "", err
	}
	if err := bmc.Validate(); err != nil {
		return "", err
	}
	c, err := client.NewClient(bmc.Host, bmc.port(), bmc.Username, bmc.Password)
	if err != nil {
		return "", fmt.Errorf("%w %s: %v", ErrBMC, bmc, err)
	}
	// Our dialer makes the session's socket: go-ipmi joins host and port
	// with "%s:%d", which an IPv6 address breaks, and leaves the socket
	// open when the session fails.
	d := &dialer{addr: net.JoinHostPort(bmc.Host, strconv.Itoa(bmc.port()))}
	defer d.close()
	c.WithUDPProxy(d)
	c.WithTimeout(p.opts.Timeout).WithRetry(p.opts.Retries)
	suites := make([]types.CipherSuiteID, len(p.opts.CipherSuites))
	for i, s := range p.opts.CipherSuites {
		suites[i] = types.CipherSuiteID(s)
	}
	c.WithCipherSuiteID(suites...)
	start := time.Now()
	if err := c.Connect(ctx); err != nil {
		p.log.Debug("BMC session failed", "bmc", bmc, "err", err)
		return "", fmt.Errorf("%w %s: no session (unreachable, or wrong username or password): %v", ErrBMC, bmc, oneLine(err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	st, err := p.do(ctx, c, a)
	if err != nil {
		return "", fmt.Errorf("%w %s: %s: %v", ErrBMC, bmc, a, err)
	}
	p.log.Debug("BMC power", "bmc", bmc, "action", a, "state", st, "took", time.Since(start))
	return st, nil
}

func (p *IPMI) do(ctx context.Context, c *client.Client, a Action) (State, error) {
	status, err := c.GetChassisStatus(ctx)
	if err != nil {
		return "", fmt.Errorf("get chassis status: %w", err)
	}
	var ctl chassis.ChassisControl
	switch a {
	case Status:
		if status.PowerIsOn {
			return StateOn, nil
		}
		return StateOff, nil
	case On:
		ctl = chassis.ChassisControlPowerUp
	case Off:
		ctl = chassis.ChassisControlPowerDown
	case Cycle:
		// IPMI v2.0 §28.3: power cycle has no effect on a system that is
		// off (a BMC may even refuse it), so a machine that is off is
		// powered up instead.
		ctl = chassis.ChassisControlPowerCycle
		if !status.PowerIsOn {
			ctl = chassis.ChassisControlPowerUp
		}
	}
	if _, err := c.ChassisControl(ctx, ctl); err != nil {
		return "", fmt.Errorf("chassis control: %w", err)
	}
	if a == Off {
		return StateOff, nil
	}
	return StateOn, nil
}

// dialer opens the UDP socket of a session (go-ipmi's proxy hook) to
// its BMC, and closes what it opened.
type dialer struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

// Dial implements golang.org/x/net/proxy.Dialer; the address go-ipmi
// passes is replaced by the one joined properly.
func (d *dialer) Dial(network, _ string) (net.Conn, error) {
	c, err := net.Dial(network, d.addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *dialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close() // already closed after a session's Close: not an error worth reporting
	}
	d.conns = nil
}

// oneLine puts go-ipmi's multi-line session errors (one line per cipher
// suite tried) on one line.
func oneLine(err error) string {
	var parts []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
