// Package netup brings the microkernel's network up: it sets every
// Ethernet link up, waits briefly for carrier, runs DHCP on all of them in
// parallel (github.com/insomniacslk/dhcp's nclient4), configures each
// lease's address and routes, gives the default route and
// /etc/resolv.conf to the first lease, records every lease with
// agent/leasefile for `mk-agent run`, and keeps the leases renewed in the
// background (RFC 2131 §4.4.5).
//
// Links and DHCP sit behind small interfaces (Netlink, DHCPClient) so
// that the logic is tested against fakes; the real ones are Kernel and
// NClient4.
package netup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/razor-mk/razor-mk/agent/leasefile"
)

// DefaultResolvConf is where the first lease's DNS servers are written.
const DefaultResolvConf = "/etc/resolv.conf"

var (
	// ErrNoLease means no interface obtained a lease in time.
	ErrNoLease = errors.New("netup: no DHCP lease")

	errAddrChanged = errors.New("netup: renewal changed the address")
)

// DHCPClient runs DHCP on one interface.
type DHCPClient interface {
	// Request performs DISCOVER/OFFER/REQUEST/ACK.
	Request(ctx context.Context) (*nclient4.Lease, error)
	// Renew extends lease (REQUEST in RENEWING state).
	Renew(ctx context.Context, lease *nclient4.Lease) (*nclient4.Lease, error)
	Close() error
}

// NewDHCPFunc opens a DHCP client on link; hostname, when not empty, is
// sent as option 12.
type NewDHCPFunc func(link Link, hostname string) (DHCPClient, error)

// Options configures Start. Netlink is required.
type Options struct {
	Netlink Netlink
	// NewDHCP opens DHCP clients; nil means NClient4.
	NewDHCP NewDHCPFunc
	// LeaseDir receives one leasefile per interface; "" means
	// leasefile.Dir.
	LeaseDir string
	// ResolvConf is written from the first lease; "" means
	// DefaultResolvConf.
	ResolvConf string
	// Interfaces limits DHCP to these names; empty means every Ethernet
	// link (see Ethernet).
	Interfaces []string
	// Hostname names the node in its DHCP requests (option 12); nil sends
	// none.
	Hostname func(mac net.HardwareAddr) string
	// CarrierWait bounds the wait for carrier before the first DISCOVER;
	// 0 means 5s. DHCP is attempted even without carrier.
	CarrierWait time.Duration
	// AttemptTimeout bounds one DHCP exchange (with nclient4's own
	// retransmissions inside); 0 means 15s.
	AttemptTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed attempts;
	// 0 means 1s and 30s.
	RetryMin, RetryMax time.Duration
	// LinkPoll is how often to look for Ethernet links that appear after
	// Start (a driver that creates its netdev late, a USB NIC); 0 means
	// 2s.
	LinkPoll time.Duration
	// Logger receives one line per lease and failure; nil discards.
	Logger *slog.Logger
}

// Network is the set of links being kept configured.
type Network struct {
	cfg Options
	log *slog.Logger
	wg  sync.WaitGroup

	first     chan struct{}
	firstOnce sync.Once
	rescan    chan struct{}

	mu      sync.Mutex
	links   []Link // links DHCP runs on
	primary string
	leases  map[string]Lease
}

// Ethernet returns the links DHCP runs on: Ethernet-framed hardware
// devices and veth pairs (for tests and containers); not loopback,
// bridges, bonds, VLANs or tunnels.
func Ethernet(links []Link) []Link {
	var out []Link
	for _, l := range links {
		if l.Encap == "ether" && (l.Kind == "device" || l.Kind == "veth") && len(l.MAC) == 6 {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Link) int { return a.Index - b.Index })
	return out
}

// Start sets the loopback and every selected link up and starts DHCP on
// each in the background, until ctx ends; links that appear later get
// the same. Use First to wait for the first lease and Wait to wait for the
// background work after cancelling ctx.
func Start(ctx context.Context, cfg Options) (*Network, error) {
	if cfg.Netlink == nil {
		return nil, errors.New("netup: Config.Netlink is nil")
	}
	if cfg.NewDHCP == nil {
		cfg.NewDHCP = NClient4
	}
	if cfg.LeaseDir == "" {
		cfg.LeaseDir = leasefile.Dir
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = DefaultResolvConf
	}
	cfg.CarrierWait = cmpOr(cfg.CarrierWait, 5*time.Second)
	cfg.AttemptTimeout = cmpOr(cfg.AttemptTimeout, 15*time.Second)
	cfg.RetryMin = cmpOr(cfg.RetryMin, time.Second)
	cfg.RetryMax = cmpOr(cfg.RetryMax, 30*time.Second)
	cfg.LinkPoll = cmpOr(cfg.LinkPoll, 2*time.Second)
	n := &Network{cfg: cfg, log: cfg.Logger, first: make(chan struct{}), rescan: make(chan struct{}, 1), leases: map[string]Lease{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	all, err := cfg.Netlink.Links()
	if err != nil {
		return nil, err
	}
	for _, l := range all {
		if l.Encap == "loopback" && !l.Up {
			if err := cfg.Netlink.SetUp(l.Name); err != nil {
				n.log.Warn("loopback not up", "link", l.Name, "err", err)
			}
		}
	}
	if n.adopt(ctx, all) == 0 {
		n.log.Info("no Ethernet link yet; watching for one (a driver may still be loading)")
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watch(ctx)
	}()
	return n, nil
}

// adopt starts DHCP on the selected Ethernet links among all that it does
// not run on yet, and returns how many links it runs on.
func (n *Network) adopt(ctx context.Context, all []Link) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range Ethernet(all) {
		if len(n.cfg.Interfaces) > 0 && !slices.Contains(n.cfg.Interfaces, l.Name) {
			continue
		}
		if slices.ContainsFunc(n.links, func(o Link) bool { return o.Index == l.Index }) {
			continue
		}
		n.links = append(n.links, l)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.runLink(ctx, l)
		}()
	}
	return len(n.links)
}

// Rescan asks for the links to be listed again now rather than at the
// next LinkPoll: a driver was just loaded and its netdev may be there.
func (n *Network) Rescan() {
	select {
	case n.rescan <- struct{}{}:
	default:
	}
}

// watch adopts links that appear after Start, every LinkPoll and on
// Rescan.
func (n *Network) watch(ctx context.Context) {
	t := time.NewTimer(n.cfg.LinkPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.rescan:
			t.Stop()
		}
		t.Reset(n.cfg.LinkPoll)
		all, err := n.cfg.Netlink.Links()
		if err != nil {
			n.log.Debug("listing links", "err", err)
			continue
		}
		before := len(n.Links())
		if after := n.adopt(ctx, all); after > before {
			n.log.Info("new Ethernet link", "links", after)
		}
	}
}

// Links returns the links DHCP runs on.
func (n *Network) Links() []Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.links)
}

// First waits for the first lease to be configured (address, default
// route, resolv.conf, lease file) and returns it.
func (n *Network) First(ctx context.Context) (Lease, error) {
	select {
	case <-n.first:
	case <-ctx.Done():
		return Lease{}, fmt.Errorf("%w: %w", ErrNoLease, context.Cause(ctx))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leases[n.primary], nil
}

// Leases returns the current lease of every configured link, by
// interface name.
func (n *Network) Leases() map[string]Lease {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]Lease, len(n.leases))
	for k, v := range n.leases {
		out[k] = v
	}
	return out
}

// Wait blocks until every link's DHCP loop has ended (after ctx is done).
func (n *Network) Wait() { n.wg.Wait() }

func (n *Network) runLink(ctx context.Context, l Link) {
	log := n.log.With("link", l.Name, "mac", l.MAC.String())
	if err := n.cfg.Netlink.SetUp(l.Name); err != nil {
		log.Error("cannot set link up", "err", err)
		return
	}
	n.waitCarrier(ctx, l, log)
	hostname := ""
	if n.cfg.Hostname != nil {
		hostname = n.cfg.Hostname(l.MAC)
	}
	backoff := n.cfg.RetryMin
	var client DHCPClient
	for client == nil {
		c, err := n.cfg.NewDHCP(l, hostname)
		if err == nil {
			client = c
			break
		}
		log.Warn("dhcp client", "err", err)
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, n.cfg.RetryMax)
	}
	defer client.Close()
	backoff = n.cfg.RetryMin
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, n.cfg.AttemptTimeout)
		raw, err := client.Request(actx)
		cancel()
		var lease Lease
		if err == nil {
			lease, err = ParseLease(l.Name, l.MAC, raw.ACK, time.Now())
		}
		if err == nil {
			err = n.apply(lease)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("dhcp failed", "err", err, "retry_in", backoff)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, n.cfg.RetryMax)
			continue
		}
		backoff = n.cfg.RetryMin
		n.hold(ctx, client, raw, lease, log)
	}
}

func (n *Network) waitCarrier(ctx context.Context, l Link, log *slog.Logger) {
	deadline := time.Now().Add(n.cfg.CarrierWait)
	for {
		up, err := n.cfg.Netlink.Carrier(l.Name)
		if err == nil && up {
			return
		}
		if time.Now().After(deadline) {
			log.Info("no carrier yet, trying DHCP anyway")
			return
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return
		}
	}
}

// hold keeps lease renewed until it is lost (NAK, expiry) or ctx ends.
func (n *Network) hold(ctx context.Context, client DHCPClient, raw *nclient4.Lease, lease Lease, log *slog.Logger) {
	for {
		if lease.LeaseTime == 0 {
			<-ctx.Done()
			return
		}
		expires := lease.Obtained.Add(lease.LeaseTime)
		if !sleep(ctx, time.Until(lease.Obtained.Add(lease.T1))) {
			return
		}
		renewed := false
		for !renewed {
			left := time.Until(expires)
			if left <= 0 {
				log.Warn("lease expired", "addr", lease.Addr)
				n.forget(lease.Interface)
				return
			}
			actx, cancel := context.WithTimeout(ctx, min(n.cfg.AttemptTimeout, left))
			got, err := client.Renew(actx, raw)
			cancel()
			var next Lease
			if err == nil {
				next, err = ParseLease(lease.Interface, lease.MAC, got.ACK, time.Now())
			}
			if err == nil && next.Addr != lease.Addr {
				err = fmt.Errorf("%w: %s became %s", errAddrChanged, lease.Addr, next.Addr)
			}
			if err == nil {
				err = n.apply(next)
			}
			if err == nil {
				raw, lease, renewed = got, next, true
				log.Info("lease renewed", "addr", lease.Addr, "lease", lease.LeaseTime)
				continue
			}
			if ctx.Err() != nil {
				return
			}
			var nak *nclient4.ErrNak
			if errors.As(err, &nak) || errors.Is(err, errAddrChanged) {
				log.Warn("lease refused, starting over", "err", err)
				n.forget(lease.Interface)
				return
			}
			// RFC 2131 §4.4.5: retry after half the remaining time, here
			// at least RetryMin and at most RetryMax.
			wait := min(max(left/2, n.cfg.RetryMin), n.cfg.RetryMax)
			log.Warn("renewal failed", "err", err, "retry_in", wait)
			if !sleep(ctx, wait) {
				return
			}
		}
	}
}

func (n *Network) forget(iface string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.leases, iface)
}

// apply configures the lease on its link; the first lease configured on
// any link also gets the default route and resolv.conf.
func (n *Network) apply(l Lease) error {
	nl := n.cfg.Netlink
	if err := nl.ReplaceAddr(l.Interface, l.Addr, l.LeaseTime, l.LeaseTime); err != nil {
		return err
	}
	n.mu.Lock()
	primary := n.primary == "" || n.primary == l.Interface
	if primary {
		n.primary = l.Interface
	}
	n.mu.Unlock()
	for _, r := range l.Routes {
		if r.Dest.Bits() == 0 && !primary {
			continue
		}
		if err := n.route(l, r.Dest, r.Gateway); err != nil {
			return err
		}
	}
	if primary {
		if len(l.Routes) == 0 && l.Gateway.IsValid() {
			if err := n.route(l, netip.PrefixFrom(netip.IPv4Unspecified(), 0), l.Gateway); err != nil {
				return err
			}
		}
		if err := WriteResolvConf(n.cfg.ResolvConf, l); err != nil {
			return err
		}
	}
	if err := leasefile.Write(n.cfg.LeaseDir, l.Info()); err != nil {
		return err
	}
	n.mu.Lock()
	n.leases[l.Interface] = l
	n.mu.Unlock()
	n.log.Info("lease", "link", l.Interface, "addr", l.Addr, "gateway", l.DefaultGateway(), "dns", l.DNS,
		"primary", primary, "server_id", l.ServerID, "next_server", l.NextServer,
		"razor_server", l.RazorServer, "razor_port", l.RazorPort, "razor_base_uri", l.RazorBaseURI, "lease_time", l.LeaseTime)
	if primary {
		n.firstOnce.Do(func() { close(n.first) })
	}
	return nil
}

// route installs dst via gw on l's link, first adding an on-link host
// route to gw when gw is outside the lease's subnet (as with /32 leases).
func (n *Network) route(l Lease, dst netip.Prefix, gw netip.Addr) error {
	if gw.IsValid() && !l.Addr.Contains(gw) {
		if err := n.cfg.Netlink.ReplaceRoute(l.Interface, netip.PrefixFrom(gw, 32), netip.Addr{}); err != nil {
			return err
		}
	}
	return n.cfg.Netlink.ReplaceRoute(l.Interface, dst, gw)
}

// ResolvConf renders resolv.conf for lease l.
func ResolvConf(l Lease) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by mk-agent init from the DHCP lease on %s.\n", l.Interface)
	search := l.Search
	if len(search) == 0 && l.Domain != "" {
		search = []string{l.Domain}
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, d := range l.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return []byte(b.String())
}

// WriteResolvConf writes ResolvConf(l) to path atomically.
func WriteResolvConf(path string, l Lease) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("netup: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".resolv.conf.*")
	if err != nil {
		return fmt.Errorf("netup: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(ResolvConf(l)); err != nil {
		tmp.Close()
		return fmt.Errorf("netup: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("netup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("netup: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("netup: %w", err)
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads d by ±20% so that many nodes booting together do not
// retry in lock step.
func jitter(d time.Duration) time.Duration {
	return d*8/10 + rand.N(d*4/10+1)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
