// Package ra answers IPv6 router solicitations on the provisioning
// interface with a router advertisement that carries no default route
// (router lifetime 0), clears the managed and other-configuration flags,
// and offers no prefix unless the operator configures a ULA. Its purpose
// is iPXE's start-up: iPXE configures IPv4 and IPv6 together and, on a
// network with no router, waits about 13 s for an advertisement before it
// gives up on IPv6. One answer ends that wait at once (RFC 4861 §6.2.6:
// a router may answer a solicitation by unicast to its source).
package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// Errors; callers use errors.Is.
var (
	// ErrConfig: the configuration is invalid; the message names the
	// field.
	ErrConfig = errors.New("ra: invalid configuration")
)

// Options configures a Server.
type Options struct {
	// Logger: default discard.
	Logger *slog.Logger
	// Interface to answer on (required).
	Interface string
	// Prefix, if set, is announced on-link and for SLAAC; it must be a
	// /64 unique local prefix (fc00::/7) so that clients never take the
	// provisioning network for a route to the Internet.
	Prefix netip.Prefix
	// MinInterval limits answers to one per source per interval
	// (default 200 ms), so a flood of solicitations costs little.
	MinInterval time.Duration
}

// Validate checks the configuration; errors wrap ErrConfig.
func (c Options) Validate() error {
	if c.Interface == "" {
		return fmt.Errorf("%w: Interface: required", ErrConfig)
	}
	if c.Prefix.IsValid() {
		ula := netip.MustParsePrefix("fc00::/7")
		if !c.Prefix.Addr().Is6() || c.Prefix.Bits() != 64 || !ula.Contains(c.Prefix.Addr()) {
			return fmt.Errorf("%w: Prefix: %v: want a /64 inside fc00::/7 (unique local)", ErrConfig, c.Prefix)
		}
	}
	if c.MinInterval < 0 {
		return fmt.Errorf("%w: MinInterval: negative", ErrConfig)
	}
	return nil
}

// Advertisement builds the RA sent from an interface with hardware
// address mac.
func Advertisement(c Options, mac net.HardwareAddr) *ndp.RouterAdvertisement {
	ra := &ndp.RouterAdvertisement{
		CurrentHopLimit: 64,
		// Not a default router, no DHCPv6: IPv6 configuration is done
		// as soon as this arrives.
		RouterLifetime: 0,
	}
	if len(mac) > 0 {
		ra.Options = append(ra.Options, &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac})
	}
	if c.Prefix.IsValid() {
		ra.Options = append(ra.Options, &ndp.PrefixInformation{
			PrefixLength:                   uint8(c.Prefix.Bits()),
			OnLink:                         true,
			AutonomousAddressConfiguration: true,
			ValidLifetime:                  time.Hour,
			PreferredLifetime:              30 * time.Minute,
			Prefix:                         c.Prefix.Masked().Addr(),
		})
	}
	return ra
}

// Server answers router solicitations.
type Server struct {
	cfg Options
	log *slog.Logger

	mu   sync.Mutex
	last map[netip.Addr]time.Time
}

// New checks cfg.
func New(cfg Options) (*Server, error) {
	log := cfg.Logger
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = 200 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log.With("component", "ra"), last: map[netip.Addr]time.Time{}}, nil
}

// Serve listens on the interface's link-local address (Listen) and
// answers until ctx is done (then it returns nil).
func (s *Server) Serve(ctx context.Context) error {
	c, mac, err := Listen(ctx, s.cfg.Interface, s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return s.ServeConn(ctx, c, mac)
}

// Listen opens an NDP connection on the link-local address of ifname and
// returns it with the interface's hardware address. A freshly configured
// interface has its link-local address only after duplicate address
// detection, so Listen retries until it succeeds or ctx ends. log may be
// nil.
func Listen(ctx context.Context, ifname string, log *slog.Logger) (*ndp.Conn, net.HardwareAddr, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, nil, fmt.Errorf("ra: interface %s: %w", ifname, err)
	}
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
		if err == nil {
			return c, ifi.HardwareAddr, nil
		}
		log.Debug("ra: waiting for a link-local address", "interface", ifname, "err", err)
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("ra: listen on %s: %w (%w)", ifname, err, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// ServeConn answers solicitations on an open NDP connection from an
// interface with hardware address mac; it closes c when ctx is done.
func (s *Server) ServeConn(ctx context.Context, c *ndp.Conn, mac net.HardwareAddr) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	if err := c.JoinGroup(netip.MustParseAddr("ff02::2")); err != nil {
		return fmt.Errorf("ra: join all-routers group: %w", err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := c.SetICMPFilter(&f); err != nil {
		return fmt.Errorf("ra: set ICMP filter: %w", err)
	}
	ra := Advertisement(s.cfg, mac)
	s.log.Info("ra: answering router solicitations", "interface", s.cfg.Interface, "prefix", s.cfg.Prefix)
	for {
		m, _, from, err := c.ReadFrom()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("ra: socket closed: %w", err)
			}
			// A malformed message: log and drop.
			s.log.Debug("ra: bad packet dropped", "from", from, "err", err)
			continue
		}
		if _, ok := m.(*ndp.RouterSolicitation); !ok {
			continue
		}
		if !s.allow(from) {
			continue
		}
		// RFC 4861 §6.2.6: an unspecified source can only be answered
		// by multicast to all nodes.
		dst := from
		if !from.IsValid() || from.IsUnspecified() {
			dst = netip.IPv6LinkLocalAllNodes()
		}
		if err := c.WriteTo(ra, nil, dst); err != nil {
			s.log.Warn("ra: send advertisement", "dst", dst, "err", err)
			continue
		}
		s.log.Info("ra: advertisement sent", "event", "ra", "dst", dst)
	}
}

// allow rate-limits answers per source.
func (s *Server) allow(from netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if t, ok := s.last[from]; ok && now.Sub(t) < s.cfg.MinInterval {
		return false
	}
	if len(s.last) > 4096 {
		clear(s.last)
	}
	s.last[from] = now
	return true
}
