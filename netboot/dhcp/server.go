package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/ipxe"
	"github.com/razor-mk/razor-mk/netboot/ratelog"
	"golang.org/x/sys/unix"
)

// maxPacket bounds the read buffer: DHCP messages fit an Ethernet frame
// (RFC 2131 §2: 576 bytes minimum, larger only by option 57).
const maxPacket = 1500

// Server is a DHCPv4 server in full or proxy mode. It is safe for
// concurrent use: each packet is handled on its own goroutine, up to
// Config.MaxInFlight at once.
type Server struct {
	cfg      Options
	store    leases.Store
	log      *slog.Logger
	server   ipxe.Server
	nets     []*network       // full mode: the served subnets
	direct   *network         // the subnet of directly attached clients, or nil
	hosts    map[string]*host // reservations by MAC
	noSubnet noSubnetLog
	sem      chan struct{}
	bufs     sync.Pool
}

// New checks cfg (Config.Validate, then the interface's addresses for
// ServerIP and Subnet when they are not set) and, in full mode, loads the
// store's leases. store may be nil in proxy mode, which leases nothing.
func New(cfg Options, store leases.Store) (*Server, error) {
	log := cfg.Logger
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mode == Off {
		return nil, ErrOff
	}
	cfg = cfg.withDefaults()
	ifPrefixes, err := cfg.resolveInterface()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	subnets := cfg.subnets()
	if len(cfg.Subnets) == 0 {
		// The shorthand's subnet is known only now (from the interface).
		if err := CheckSubnets(cfg.Mode == Full, subnets); err != nil {
			return nil, err
		}
	}
	if cfg.Mode == Full {
		if err := checkServerIP(subnets, cfg.ServerIP); err != nil {
			return nil, err
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Warnings are per packet: a flood must not become a log flood.
	log = slog.New(ratelog.New(log.Handler(), ratelog.Options{OnDrop: cfg.LogDropped}))
	s := &Server{
		cfg: cfg, store: store, log: log.With("component", "dhcp"),
		server: ipxe.Server{IP: cfg.ServerIP, HTTPPort: cfg.HTTPPort, ScriptPath: cfg.ScriptPath, Files: cfg.BootFiles,
			Loader: cfg.UEFILoader, Shim: cfg.SignedChain},
		sem: make(chan struct{}, cfg.MaxInFlight),
	}
	s.bufs.New = func() any { b := make([]byte, maxPacket); return &b }
	s.nets, s.direct, s.hosts = buildNetworks(subnets, cfg.LeaseTime, cfg.ServerIP, ifPrefixes, cfg.Mode == Full)
	if cfg.Mode == Full {
		if store == nil {
			return nil, fmt.Errorf("%w: full mode needs a lease store", ErrConfig)
		}
		ls, err := store.ListLeases(context.Background())
		if err != nil {
			return nil, fmt.Errorf("dhcp: load leases: %w", err)
		}
		for _, n := range s.nets {
			n.pool.load(ls)
			s.log.Info("dhcp: full mode subnet", "interface", cfg.Interface, "subnet", n.Prefix, "ranges", fmt.Sprint(n.Ranges),
				"direct", n == s.direct, "reservations", len(n.Reservations), "lease_time", n.leaseTime)
		}
		if s.direct == nil {
			s.log.Warn("dhcp: no configured subnet contains an address of the interface: only relayed requests are served", "interface", cfg.Interface)
		}
		s.log.Info("dhcp: full mode", "interface", cfg.Interface, "server", cfg.ServerIP, "subnets", len(s.nets), "leases", len(ls))
	} else {
		s.log.Info("dhcp: proxy mode", "interface", cfg.Interface, "server", cfg.ServerIP, "reservations", len(s.hosts))
	}
	return s, nil
}

// ServerIP is the address the server advertises.
func (s *Server) ServerIP() netip.Addr { return s.cfg.ServerIP }

// Serve binds the DHCP port 67 on the configured interface (and, in
// proxy mode, the proxyDHCP port 4011) and serves until ctx is done or a
// socket fails. It returns nil after ctx is done.
func (s *Server) Serve(ctx context.Context) error {
	run, err := s.Listen()
	if err != nil {
		return err
	}
	return run(ctx)
}

// readBuffer is the socket receive buffer the server asks for: a burst of
// clients (a rack powering on) must queue in the kernel, not be dropped,
// while a lease write waits for its fsync.
const readBuffer = 4 << 20

// growReadBuffer raises c's receive buffer to readBuffer, past the
// net.core.rmem_max limit when the process may (SO_RCVBUFFORCE needs
// CAP_NET_ADMIN), else as far as that limit allows.
func (s *Server) growReadBuffer(c *net.UDPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, readBuffer)
		}); err == nil && serr == nil {
			return
		}
	}
	if err := c.SetReadBuffer(readBuffer); err != nil {
		s.log.Debug("dhcp: receive buffer", "err", err)
	}
}

func (s *Server) ifName() string {
	if s.cfg.Interface == "" {
		return "all interfaces"
	}
	return s.cfg.Interface
}

// ServeConn serves DHCP on an already-open socket that plays the role of
// port 67 (tests bind their own; replies go to port 68 or the relay, so
// the socket needs SO_BROADCAST, as server4.NewIPv4UDPConn sets). It
// closes conn when ctx is done and returns nil then, or the read error.
func (s *Server) ServeConn(ctx context.Context, conn net.PacketConn) error {
	return s.serve(ctx, conn, port67)
}

// ServePXEConn serves proxyDHCP requests on an already-open socket that
// plays the role of port 4011; replies go back to the sender.
func (s *Server) ServePXEConn(ctx context.Context, conn net.PacketConn) error {
	return s.serve(ctx, conn, port4011)
}

func (s *Server) serve(ctx context.Context, conn net.PacketConn, on port) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	// With a store that queues writes, one goroutine takes every
	// REQUEST that arrived while the previous commit ran, queues their
	// leases, waits for the one commit and sends the ACKs.
	var requests chan queued
	if q, ok := s.store.(leases.Queuer); ok && s.cfg.Mode == Full && on == port67 {
		requests = make(chan queued, s.cfg.MaxInFlight)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.commitRequests(ctx, conn, q, requests)
		}()
	}
	// Packets answered from memory (DISCOVERs above all) are answered by
	// one goroutine, in arrival order, so that replies leave as smoothly
	// as requests came (a goroutine per packet turns a steady stream into
	// bursts that overflow a relay's or a load generator's socket
	// buffer). This loop only reads and sorts: when that goroutine falls
	// behind, new DISCOVERs are dropped here, not in the kernel's socket
	// buffer where the REQUESTs of clients holding an offer would go
	// with them. Under overload (perfdhcp at 30,000/s) answering them
	// inline left a third of the REQUESTs unanswered.
	inline := make(chan queued, s.cfg.MaxInFlight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for q := range inline {
			s.send(ctx, conn, q.req, q.peer, on)
			s.bufs.Put(q.bp)
		}
	}()
	defer close(inline)
	for {
		bp := s.bufs.Get().(*[]byte)
		n, peer, err := conn.ReadFrom(*bp)
		if err != nil {
			s.bufs.Put(bp)
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("dhcp: socket closed: %w", err)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("dhcp: read: %w", err)
		}
		req := s.parse((*bp)[:n], peer)
		if req == nil {
			s.bufs.Put(bp)
			continue
		}
		if !s.writesLease(req, on) {
			select {
			case inline <- queued{req, peer, bp}:
			default:
				s.bufs.Put(bp)
				s.log.Debug("dhcp: busy, packet dropped", "peer", peer)
			}
			continue
		}
		if requests != nil && req.MessageType() == dhcpv4.MessageTypeRequest {
			select {
			case requests <- queued{req, peer, bp}:
			default:
				s.bufs.Put(bp)
				s.log.Debug("dhcp: busy, packet dropped", "peer", peer)
			}
			continue
		}
		// A lease change waits for the store (an fsync, a database
		// round trip): those run concurrently so that they share one
		// commit, up to MaxInFlight at once.
		select {
		case s.sem <- struct{}{}:
		default:
			s.bufs.Put(bp)
			s.log.Debug("dhcp: busy, packet dropped", "peer", peer)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.sem }()
			defer s.bufs.Put(bp) // req may share the packet's bytes
			s.send(ctx, conn, req, peer, on)
		}()
	}
}

// queued is a REQUEST waiting for commitRequests; bp holds its bytes.
type queued struct {
	req  *dhcpv4.DHCPv4
	peer net.Addr
	bp   *[]byte
}

// commitRequests answers the REQUESTs sent on in, in batches: each batch
// is everything queued while the previous batch was claimed. Leases are
// claimed and queued in arrival order, the store commits them together,
// and the ACKs (or NAKs) go out in the same order. Claiming and
// answering are two goroutines, so that the next batch is claimed and
// queued while the store commits this one: with one goroutine doing
// both, REQUESTs arriving during a commit filled the queue and were
// dropped (a third of them under perfdhcp's overload).
func (s *Server) commitRequests(ctx context.Context, conn net.PacketConn, q leases.Queuer, in <-chan queued) {
	type item struct {
		queued
		sn   *network
		l    leases.Lease
		wait func(context.Context) error
		resp *dhcpv4.DHCPv4
		err  error
	}
	// At most two batches wait for their commit; a third waits to be
	// claimed, in the queue.
	claimed := make(chan []item, 2)
	var answered sync.WaitGroup
	answered.Add(1)
	go func() {
		defer answered.Done()
		for batch := range claimed {
			for i := range batch {
				it := &batch[i]
				s.guard(it.req, it.peer, func() {
					if it.wait != nil {
						it.resp, it.err = s.finishRequest(it.req, it.sn, it.l, it.wait(ctx))
					}
					if out, dst := s.encode(it.req, it.resp, it.err, it.peer, port67); out != nil {
						if _, err := conn.WriteTo(out, dst); err != nil {
							s.log.Warn("dhcp: send reply", "dst", dst, "err", err)
						}
					}
				})
				s.bufs.Put(it.bp)
			}
		}
	}()
	defer answered.Wait()
	defer close(claimed)
	for {
		var batch []item
		select {
		case <-ctx.Done():
			return
		case r := <-in:
			batch = append(make([]item, 0, len(in)+1), item{queued: r})
		}
	more:
		for len(batch) < s.cfg.MaxInFlight {
			select {
			case r := <-in:
				batch = append(batch, item{queued: r})
			default:
				break more
			}
		}
		for i := range batch {
			it := &batch[i]
			s.guard(it.req, it.peer, func() {
				// The checks handle makes before a REQUEST.
				if err := screen(it.req); err != nil {
					it.err = err
					return
				}
				sn, err := s.subnetFor(it.req)
				if err != nil {
					it.err = err
					return
				}
				it.sn = sn
				l, resp, err := s.claimRequest(it.req, sn)
				if resp != nil || err != nil {
					it.resp, it.err = resp, err
					return
				}
				wait, err := q.QueueLease(l)
				if err != nil {
					it.resp, it.err = s.finishRequest(it.req, sn, l, err)
					return
				}
				it.l, it.wait = l, wait
			})
		}
		claimed <- batch
	}
}

// guard runs f, turning a panic into a log line: a bad request must not
// take the server down.
func (s *Server) guard(req *dhcpv4.DHCPv4, peer net.Addr, f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("dhcp: packet handler panicked; packet dropped", "peer", peer, "xid", req.TransactionID.String(), "panic", fmt.Sprint(r))
		}
	}()
	f()
}

// writesLease reports whether answering req changes the lease store: a
// REQUEST, DECLINE or RELEASE to the full-mode server.
func (s *Server) writesLease(req *dhcpv4.DHCPv4, on port) bool {
	if s.cfg.Mode != Full || on != port67 {
		return false
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeRelease:
		return true
	}
	return false
}

// send answers req and sends the answer, if any.
func (s *Server) send(ctx context.Context, conn net.PacketConn, req *dhcpv4.DHCPv4, peer net.Addr, on port) {
	resp, dst := s.answer(ctx, req, peer, on)
	if resp == nil {
		return
	}
	if _, err := conn.WriteTo(resp, dst); err != nil {
		s.log.Warn("dhcp: send reply", "dst", dst, "err", err)
	}
}

// parse decodes one packet, or logs why not and returns nil.
func (s *Server) parse(pkt []byte, peer net.Addr) (req *dhcpv4.DHCPv4) {
	defer func() {
		// The parser is a dependency: whatever it does with hostile
		// input must not take the server down.
		if r := recover(); r != nil {
			s.log.Error("dhcp: packet parser panicked; packet dropped", "peer", peer, "len", len(pkt), "panic", fmt.Sprint(r))
			req = nil
		}
	}()
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		s.log.Debug("dhcp: bad packet dropped", "peer", peer, "len", len(pkt), "err", err)
		return nil
	}
	return req
}

// answer handles a parsed request and returns the reply's bytes and
// destination, or nil.
func (s *Server) answer(ctx context.Context, req *dhcpv4.DHCPv4, peer net.Addr, on port) (out []byte, dst net.Addr) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("dhcp: packet handler panicked; packet dropped", "peer", peer, "panic", fmt.Sprint(r))
			out, dst = nil, nil
		}
	}()
	resp, err := s.handle(ctx, req, on)
	return s.encode(req, resp, err, peer, on)
}

// encode turns a handler's result into the reply's bytes and
// destination, or logs why there is none.
func (s *Server) encode(req, resp *dhcpv4.DHCPv4, err error, peer net.Addr, on port) ([]byte, net.Addr) {
	if s.cfg.OnExchange != nil {
		s.report(req, resp, err)
	}
	if err != nil && s.warnNoSubnet(req, err) {
		return nil, nil
	}
	if err != nil || resp == nil {
		lvl := slog.LevelWarn
		if err == nil || errors.Is(err, errDrop) {
			lvl = slog.LevelDebug
		}
		s.event(req, lvl, "dhcp: no reply", "peer", peer, "type", req.MessageType().String(), "reason", err)
		return nil, nil
	}
	return resp.ToBytes(), replyAddr(req, resp, peer, on)
}

// HandlePacket parses one packet that arrived from peer and returns the
// reply's bytes and destination, or nil. It is the whole server minus
// the socket, for fuzzing and for callers with their own socket loop;
// bad packets are logged and dropped, never a panic. pxePort marks a
// packet received on the proxyDHCP port 4011.
func (s *Server) HandlePacket(ctx context.Context, pkt []byte, peer net.Addr, pxePort bool) (out []byte, dst net.Addr) {
	on := port67
	if pxePort {
		on = port4011
	}
	req := s.parse(pkt, peer)
	if req == nil {
		return nil, nil
	}
	return s.answer(ctx, req, peer, on)
}
