package tftp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pin/tftp/v3/netascii"
)

var (
	errTimeout     = errors.New("tftp: no acknowledgement")
	errClientAbort = errors.New("tftp: client sent an error")
)

// Window bounds (RFC 7440 windowsize): at most maxWindow blocks in
// flight, and at most maxWindowBytes of them held for resending.
const (
	maxWindow      = 64
	maxWindowBytes = 1 << 20
)

// xfer is one running read transfer, on its own socket (its transfer
// ID, RFC 1350 §4).
type xfer struct {
	s       *Server
	sock    *xsock
	timeout time.Duration
	rbuf    []byte
	sent    int
}

// transfer serves one RRQ: options (RFC 2347-2349), then DATA blocks
// in lock-step with the client's ACKs.
func (s *Server) transfer(ctx context.Context, req request, p packet) {
	start := time.Now()
	peer := p.peer.String()
	about := s.about(p.peer)
	var rep Transfer // what OnTransfer is told
	rep.Err = errors.New("transfer not started")
	if s.cfg.OnTransfer != nil {
		defer func() {
			if ip, ok := netip.AddrFromSlice(p.peer.IP); ok {
				rep.Peer = ip.Unmap()
			}
			rep.File, rep.Duration = trunc(req.filename), time.Since(start)
			s.cfg.OnTransfer(rep)
		}()
	}
	// The transfer's socket is connected to the client: the kernel drops
	// datagrams from anyone else (RFC 1350 §4 would answer them with
	// error 5; we stay silent, as for strays on the server port), and a
	// connected send skips the route lookup of every block, which is a
	// tenth of a lock-step transfer's time.
	sock, err := dialX(p.local, p.peer)
	if err != nil {
		s.log.Error("tftp: transfer socket", "peer", peer, "err", err)
		return
	}
	defer sock.close()
	stop := context.AfterFunc(ctx, sock.stop)
	defer stop()
	x := &xfer{s: s, sock: sock, timeout: s.cfg.Timeout, rbuf: make([]byte, 1024)}
	fail := func(code uint16, msg string) { x.write(packError(code, msg)) }

	if req.mode != "octet" && req.mode != "netascii" {
		s.log.Warn("tftp: request refused", append([]any{"event", "tftp-refused", "peer", peer, "file", trunc(req.filename), "err", fmt.Sprintf("mode %q", trunc(req.mode))}, about...)...)
		rep.Err = fmt.Errorf("tftp: mode %q refused", trunc(req.mode))
		fail(errIllegalOp, "unsupported mode "+trunc(req.mode))
		return
	}
	var from netip.Addr
	if ip, ok := netip.AddrFromSlice(p.peer.IP); ok {
		from = ip.Unmap()
	}
	f, size, err := s.Open(ctx, req.filename, from)
	if err != nil {
		// Refused traversal attempts are worth a warning; a missing file
		// is ordinary.
		code, lvl := uint16(errAccess), slog.LevelWarn
		if errors.Is(err, fs.ErrNotExist) {
			code, lvl = errNotFound, slog.LevelInfo
		}
		s.log.Log(ctx, lvl, "tftp: request refused", "event", "tftp-refused", "peer", peer, "file", trunc(req.filename), "err", err)
		rep.Err = err
		msg := "access violation"
		if code == errNotFound {
			msg = "file not found"
		}
		fail(code, msg)
		return
	}
	defer f.Close()
	rep.Size = size

	o := negotiate(req, size, p.mtu)
	if o.timeout > 0 {
		x.timeout = o.timeout
	}
	var src io.Reader = bufio.NewReaderSize(f, 64<<10)
	if req.mode == "netascii" {
		src = netascii.ToReader(src)
	}
	cr := &countReader{r: src}
	err = x.send(ctx, cr, o.blksize, o.window, o.names, o.oack)
	rep.Bytes, rep.Err = cr.n, err
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errClientAbort) {
			fail(errUndefined, "transfer aborted")
		}
		s.log.Info("tftp: transfer failed", append([]any{"event", "tftp-failed", "ip", peer, "file", req.filename, "err", err}, about...)...)
		return
	}
	s.log.Info("tftp: file sent", append([]any{"event", "tftp-sent", "ip", peer, "file", req.filename,
		"duration", time.Since(start), "blocks", x.sent}, about...)...)
}

// options are a transfer's negotiated settings (RFC 2347).
type options struct {
	blksize, window int
	timeout         time.Duration // 0: the server's
	names           []string      // accepted options in request order, for the OACK
	oack            map[string]string
}

// negotiate decides a read request's options: those we understand and
// accept go into the OACK, the rest are ignored (RFC 2347). size is the
// file's, mtu the payload a datagram on the client's link can carry (0
// if unknown), which bounds blksize.
func negotiate(req request, size int64, mtu int) options {
	o := options{blksize: defaultBlksize, window: 1, oack: map[string]string{}}
	for _, name := range req.order {
		v := req.opts[name]
		switch name {
		case "blksize":
			n, ok := optInt(v, minBlksize, maxBlksize)
			if !ok {
				continue
			}
			if mtu > 4 && n > int64(mtu-4) {
				n = max(minBlksize, int64(mtu-4))
			}
			o.blksize = int(n)
			o.oack[name] = strconv.Itoa(o.blksize)
		case "tsize":
			if req.mode != "octet" {
				continue // the netascii size is not known in advance
			}
			o.oack[name] = strconv.FormatInt(size, 10)
		case "windowsize":
			// RFC 7440 §3: 1-65535; the server may answer less.
			n, ok := optInt(v, 1, 65535)
			if !ok {
				continue
			}
			o.window = int(min(n, maxWindow))
			o.oack[name] = strconv.Itoa(o.window)
		case "timeout":
			n, ok := optInt(v, 1, 255)
			if !ok {
				continue
			}
			o.timeout = time.Duration(n) * time.Second
			o.oack[name] = strconv.FormatInt(n, 10)
		default:
			continue
		}
		o.names = append(o.names, name)
	}
	// The window is also bounded in bytes held per transfer for resending
	// (blksize may come after windowsize in the request).
	if o.window*o.blksize > maxWindowBytes {
		o.window = max(1, maxWindowBytes/o.blksize)
		o.oack["windowsize"] = strconv.Itoa(o.window)
	}
	return o
}

// send runs the OACK exchange (if options were accepted) and the data
// blocks, window blocks at a time (RFC 7440; 1 is RFC 1350's lock-step).
// Block numbers wrap from 65535 to 0, as clients expect for files of
// more than 65535 blocks.
func (x *xfer) send(ctx context.Context, src io.Reader, blksize, window int, names []string, oack map[string]string) error {
	if len(names) > 0 {
		if err := x.exchange(ctx, packOACK(names, oack)); err != nil {
			return err
		}
	}
	w := newRing(window, blksize)
	// Blocks are counted from 1 without wrapping (seq); the block number
	// on the wire is seq modulo 65536. base is the first block not yet
	// acknowledged, next the first not yet read, last the final (short)
	// block once read.
	var base, next, last uint64 = 1, 1, 0
	tries, nudged, resend := 0, false, true
	for {
		for last == 0 && next < base+uint64(window) {
			n, err := w.fill(src, next)
			if err != nil {
				return err
			}
			if n < blksize {
				last = next
			}
			next++
		}
		for s := base; resend && s < next; s++ {
			if err := x.write(w.packet(s)); err != nil {
				return err
			}
		}
		resend = true
		k, err := x.await(ctx, uint16(base-1), int(next-base))
		switch {
		case errors.Is(err, errNoAck):
			if tries++; tries > x.s.cfg.Retries {
				return fmt.Errorf("%w of block %d after %d tries", errTimeout, uint16(base), tries)
			}
			continue // send the window again
		case err != nil:
			return err
		case k == 0:
			// A repeated ACK of the block before the window: in a
			// window, the client's way of saying it missed the next one
			// (RFC 7440 §4). Answer it once per window; more would be
			// the sorcerer's apprentice (RFC 1123 §4.2.3.1).
			resend = !nudged
			nudged = true
			continue
		}
		base += uint64(k)
		x.sent += k
		tries, nudged = 0, false
		if last != 0 && base > last {
			return nil
		}
	}
}

// exchange sends the OACK and waits for the ACK of block 0, sending
// again on timeout up to the retry count.
func (x *xfer) exchange(ctx context.Context, pkt []byte) error {
	for try := 0; try <= x.s.cfg.Retries; try++ {
		if err := x.write(pkt); err != nil {
			return err
		}
		_, err := x.await(ctx, 0xffff, 1)
		if errors.Is(err, errNoAck) {
			continue
		}
		return err
	}
	return fmt.Errorf("%w of the options after %d tries", errTimeout, x.s.cfg.Retries+1)
}

// recv reads the next datagram from the client, waiting until deadline
// (errNoAck) or ctx is done (which stops the socket).
func (x *xfer) recv(ctx context.Context, deadline time.Time) (int, error) {
	n, err := x.sock.read(x.rbuf, deadline, x.timeout/4)
	if errors.Is(err, errStopped) && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return n, err
}

// errNoAck: await's deadline passed.
var errNoAck = errors.New("tftp: no acknowledgement in time")

// await reads the transfer socket for up to the timeout for an ACK of
// one of the span blocks after lo (block numbers modulo 65536), and
// returns how many blocks it acknowledges; 0 for a repeated ACK of lo
// itself (in lock-step, span 1, those are ignored and it waits on). ACKs
// of other blocks are stale and ignored; an ERROR from the client ends
// the transfer.
func (x *xfer) await(ctx context.Context, lo uint16, span int) (int, error) {
	deadline := time.Now().Add(x.timeout)
	for {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		n, err := x.recv(ctx, deadline)
		if err != nil {
			return 0, err
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(x.rbuf) {
		case opACK:
			k := int(binary.BigEndian.Uint16(x.rbuf[2:]) - lo)
			if k == 0 && span > 1 {
				return 0, nil
			}
			if k >= 1 && k <= span {
				return k, nil
			}
		case opERROR:
			msg := strings.TrimRight(string(x.rbuf[4:n]), "\x00")
			return 0, fmt.Errorf("%w: code %d %q", errClientAbort, binary.BigEndian.Uint16(x.rbuf[2:]), trunc(msg))
		}
	}
}

func (x *xfer) write(pkt []byte) error {
	return x.sock.write(pkt)
}

// ring holds the DATA packets of the blocks in flight, so that a window
// can be sent again (the source is a stream: netascii is converted on
// the fly).
type ring struct {
	bufs [][]byte
	lens []int
}

func newRing(window, blksize int) *ring {
	r := &ring{bufs: make([][]byte, window), lens: make([]int, window)}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, 4+blksize)
		binary.BigEndian.PutUint16(r.bufs[i], opDATA)
	}
	return r
}

// fill reads block seq from src into its slot and returns its length
// (less than the block size at the end of the file).
func (r *ring) fill(src io.Reader, seq uint64) (int, error) {
	i := int(seq % uint64(len(r.bufs)))
	b := r.bufs[i]
	n, err := io.ReadFull(src, b[4:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, fmt.Errorf("tftp: read: %w", err)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(seq))
	r.lens[i] = 4 + n
	return n, nil
}

func (r *ring) packet(seq uint64) []byte {
	i := int(seq % uint64(len(r.bufs)))
	return r.bufs[i][:r.lens[i]]
}

// countReader counts the bytes read through it (for OnTransfer).
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// about is the node= and mac= of a client address, when Options.Who
// knows them.
func (s *Server) about(addr *net.UDPAddr) []any {
	if s.cfg.Who == nil || addr == nil {
		return nil
	}
	ip, ok := netip.AddrFromSlice(addr.IP)
	if !ok {
		return nil
	}
	node, mac := s.cfg.Who(ip.Unmap())
	if mac == "" {
		return nil
	}
	return []any{"node", node, "mac", mac}
}
