// Package tftp is razor-netboot's read-only TFTP server (RFC 1350, with
// options per RFC 2347 compared case-insensitively: blksize, tsize and
// timeout of RFC 2348/2349, and windowsize of RFC 7440, up to 64 blocks
// and 1 MiB in flight). The transfer loop is ours (pin/tftp's server
// has no windowsize): it sends a window of blocks, takes an ACK of any
// block in it as acknowledging up to that block, and sends again from
// the first unacknowledged block on timeout. Each transfer's socket
// is read with blocking system calls rather than through the runtime's
// poller (see xsock): in lock-step the wake-up per ACK is what sets the
// pace, and this made lock-step transfers as fast as dnsmasq's (they
// were 0.78-0.89x through the poller). It serves the iPXE
// binaries, and images for clients that cannot do HTTP, from one
// directory and nothing outside it (and, through Options.Files, the
// files a server makes): request paths are sanitised (CleanPath) and
// opened through os.Root, so ".." and symlinks that leave the root are
// refused (error 2, access violation) and logged. Write requests are refused
// with error 2. Transfers are capped in all and per client address; a
// refused request costs no socket. Every wait has a deadline.
package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/netboot/netlimit"
	"github.com/razor-mk/razor-mk/netboot/ratelog"
)

// Errors; callers use errors.Is.
var (
	// ErrBadPath: the requested name is not a plain relative path inside
	// the root.
	ErrBadPath = errors.New("tftp: bad path")
	// ErrNotRegular: the name is a directory, device or other
	// non-regular file.
	ErrNotRegular = errors.New("tftp: not a regular file")
)

// maxName bounds the requested file name.
const maxName = 1024

// CleanPath turns a requested file name into a path relative to the
// root: backslashes count as separators (some PXE ROMs send them),
// leading slashes name the root, "." elements and doubled slashes are
// dropped, and anything else that is not a plain downward path ("..",
// NUL, empty, too long) is refused with ErrBadPath.
func CleanPath(name string) (string, error) {
	if name == "" || len(name) > maxName {
		return "", fmt.Errorf("%w: %q: empty or longer than %d bytes", ErrBadPath, trunc(name), maxName)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q: contains NUL", ErrBadPath, trunc(name))
	}
	// A leading slash names the root, as in tftpd -s and dnsmasq: GRUB
	// asks for "/grub/grub.cfg" under its prefix.
	p := strings.TrimLeft(strings.ReplaceAll(name, `\`, "/"), "/")
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q: parent directory", ErrBadPath, trunc(name))
		}
	}
	p = path.Clean(p)
	if !fs.ValidPath(p) || p == "." {
		return "", fmt.Errorf("%w: %q: not a file path", ErrBadPath, trunc(name))
	}
	return p, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Options configures a Server.
type Options struct {
	// Logger: default discard.
	Logger *slog.Logger
	// Root is the directory served (required).
	Root string
	// Timeout per block, default 2 s (a client's timeout option, 1-255
	// s, overrides it for its transfer); Retries per block, default 5.
	Timeout time.Duration
	Retries int
	// MaxTransfers caps the transfers running at once (0: no cap) and
	// MaxPerAddr those to one client address (0: no cap); each holds a
	// socket. A request past a cap gets error 0 "too many transfers" and
	// costs no socket.
	MaxTransfers, MaxPerAddr int
	// OnRefuse, if set, is called with "total" or "per_addr" for each
	// request refused by a cap (a metrics hook).
	OnRefuse func(reason string)
	// LogDropped, if set, is called for each warning left out by the
	// log rate limit (package ratelog), with its event name.
	LogDropped func(event string)
	// OnTransfer, if set, is called after each read request, sent or
	// refused, from the transfer's goroutine; it must not block.
	OnTransfer func(Transfer)
	// Files, if set, is asked first for each request, with the cleaned
	// name and the client's address: it returns a file the server makes
	// (a per-node boot configuration, a file of the current image) with
	// its size, or an error wrapping fs.ErrNotExist to look in Root.
	Files func(ctx context.Context, name string, peer netip.Addr) (io.ReadCloser, int64, error)
	// Who, if set, names the node and MAC behind a client address, so
	// that every log line about a transfer carries node= and mac= (the
	// DHCP server learned them); it must not block.
	Who func(ip netip.Addr) (node, mac string)
}

// Transfer describes one read request, for Config.OnTransfer.
type Transfer struct {
	Peer     netip.Addr
	File     string
	Bytes    int64 // bytes sent
	Size     int64 // the file's size (0 when refused)
	Duration time.Duration
	// Err is nil when the whole file was sent; else why not (refused,
	// or the transfer failed or was aborted).
	Err error
}

// Server serves files from its root.
type Server struct {
	cfg   Options
	root  *os.Root
	log   *slog.Logger
	limit *netlimit.Limiter
	wg    sync.WaitGroup
}

// New opens the root.
func New(cfg Options) (*Server, error) {
	log := cfg.Logger
	if cfg.Root == "" {
		return nil, fmt.Errorf("tftp: Root: required")
	}
	if cfg.MaxTransfers < 0 || cfg.MaxPerAddr < 0 {
		return nil, fmt.Errorf("tftp: MaxTransfers %d, MaxPerAddr %d: must be >= 0", cfg.MaxTransfers, cfg.MaxPerAddr)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("tftp: open root: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Refusals are per packet: a flood must not become a log flood.
	log = slog.New(ratelog.New(log.Handler(), ratelog.Options{OnDrop: cfg.LogDropped}))
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	s := &Server{cfg: cfg, root: root, log: log.With("component", "tftp")}
	s.limit = netlimit.New(cfg.MaxTransfers, cfg.MaxPerAddr)
	s.limit.OnRefuse = cfg.OnRefuse
	return s, nil
}

// Open opens a requested name: from Options.Files when it has it, else
// inside the root, refusing bad paths, escaping symlinks and non-regular
// files. It returns the file and its size.
func (s *Server) Open(ctx context.Context, name string, peer netip.Addr) (io.ReadCloser, int64, error) {
	p, err := CleanPath(name)
	if err != nil {
		return nil, 0, err
	}
	if s.cfg.Files != nil {
		f, size, err := s.cfg.Files(ctx, p, peer)
		if err == nil {
			return f, size, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("tftp: %q: %w", p, err)
		}
	}
	f, err := s.root.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("tftp: open %q: %w", p, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("tftp: stat %q: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %q", ErrNotRegular, p)
	}
	return f, st.Size(), nil
}

// Serve serves on an open UDP socket until ctx is done, then closes it,
// waits for running transfers (each ends within its timeouts) and
// returns nil. Only a failing socket ends it earlier, with an error.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	rd := newPacketReader(conn)
	buf := make([]byte, 4096)
	var err error
	for {
		var p packet
		p, err = rd.read(buf)
		if err != nil {
			break
		}
		s.handle(ctx, conn, p)
	}
	s.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("tftp: serve: %w", err)
}

// handle answers one packet on the server port.
func (s *Server) handle(ctx context.Context, conn net.PacketConn, p packet) {
	refuse := func(code uint16, msg string) { conn.WriteTo(packError(code, msg), p.peer) }
	req, err := parseRequest(p.data)
	if err != nil {
		if len(p.data) >= 2 {
			if op := binary.BigEndian.Uint16(p.data); op == opRRQ || op == opWRQ {
				s.log.Warn("tftp: malformed request", "event", "tftp-malformed", "peer", p.peer.String(), "err", err)
				refuse(errIllegalOp, "malformed request")
			}
		}
		// Anything else on the server port is a stray: no answer, so
		// that the server reflects nothing.
		return
	}
	if req.op == opWRQ {
		// RFC 1350: error 2, access violation: this server is read-only.
		s.log.Warn("tftp: write request refused", "event", "tftp-refused", "peer", p.peer.String(), "file", trunc(req.filename))
		refuse(errAccess, "access violation: read-only server")
		return
	}
	release, err := s.limit.Acquire(netlimit.AddrOf(p.peer))
	if err != nil {
		s.log.Warn("tftp: too many transfers", "event", "tftp-busy", "peer", p.peer.String(), "file", trunc(req.filename), "err", err)
		refuse(errUndefined, "too many transfers, try again later")
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		s.transfer(ctx, req, p)
	}()
}

// ListenAndServe binds addr (":69" by default) and serves until ctx is
// done.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":69"
	}
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, conn)
}

// Close releases the root.
func (s *Server) Close() error { return s.root.Close() }
