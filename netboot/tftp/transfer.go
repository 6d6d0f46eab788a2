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

// xfer is one running read transfer, on its own socket (its transfer
// ID, RFC 1350 §4).
type xfer struct {
	s       *Server
	conn    *net.UDPConn
	peer    *net.UDPAddr
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
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: p.local})
	if err != nil {
		s.log.Error("tftp: transfer socket", "peer", peer, "err", err)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	x := &xfer{s: s, conn: conn, peer: p.peer, timeout: s.cfg.Timeout, rbuf: make([]byte, 1024)}
	fail := func(code uint16, msg string) { conn.WriteToUDP(packError(code, msg), p.peer) }

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

	// Options: those we understand and accept go into the OACK; the
	// rest are ignored (RFC 2347).
	blksize := defaultBlksize
	oack := map[string]string{}
	var names []string
	for _, name := range req.order {
		v := req.opts[name]
		switch name {
		case "blksize":
			n, ok := optInt(v, minBlksize, maxBlksize)
			if !ok {
				continue
			}
			if p.mtu > 4 && n > int64(p.mtu-4) {
				n = int64(p.mtu - 4)
			}
			blksize = int(n)
			oack[name] = strconv.Itoa(blksize)
		case "tsize":
			if req.mode != "octet" {
				continue // the netascii size is not known in advance
			}
			oack[name] = strconv.FormatInt(size, 10)
		case "timeout":
			n, ok := optInt(v, 1, 255)
			if !ok {
				continue
			}
			x.timeout = time.Duration(n) * time.Second
			oack[name] = strconv.FormatInt(n, 10)
		default:
			continue
		}
		names = append(names, name)
	}
	var src io.Reader = bufio.NewReaderSize(f, 64<<10)
	if req.mode == "netascii" {
		src = netascii.ToReader(src)
	}
	cr := &countReader{r: src}
	err = x.send(ctx, cr, blksize, names, oack)
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

// send runs the OACK exchange (if options were accepted) and the data
// blocks. Block numbers wrap from 65535 to 0, as clients expect for
// files of more than 65535 blocks.
func (x *xfer) send(ctx context.Context, src io.Reader, blksize int, names []string, oack map[string]string) error {
	if len(names) > 0 {
		if err := x.exchange(ctx, packOACK(names, oack), 0); err != nil {
			return err
		}
	}
	buf := make([]byte, 4+blksize)
	binary.BigEndian.PutUint16(buf, opDATA)
	for block := uint16(1); ; block++ {
		n, err := io.ReadFull(src, buf[4:])
		last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !last {
			return fmt.Errorf("tftp: read: %w", err)
		}
		binary.BigEndian.PutUint16(buf[2:], block)
		if err := x.exchange(ctx, buf[:4+n], block); err != nil {
			return err
		}
		x.sent++
		if last {
			return nil
		}
	}
}

// exchange sends pkt and waits for the ACK of block, sending again on
// timeout up to the retry count. Duplicate ACKs of earlier blocks are
// ignored rather than answered (the sorcerer's apprentice bug, RFC 1123
// §4.2.3.1); a packet from another port gets error 5.
func (x *xfer) exchange(ctx context.Context, pkt []byte, block uint16) error {
	for try := 0; try <= x.s.cfg.Retries; try++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := x.conn.WriteToUDP(pkt, x.peer); err != nil {
			return fmt.Errorf("tftp: send: %w", err)
		}
		deadline := time.Now().Add(x.timeout)
		for {
			x.conn.SetReadDeadline(deadline)
			n, from, err := x.conn.ReadFromUDP(x.rbuf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // send again
				}
				return fmt.Errorf("tftp: receive: %w", err)
			}
			if !from.IP.Equal(x.peer.IP) || from.Port != x.peer.Port {
				x.conn.WriteToUDP(packError(errUnknownTID, "unknown transfer ID"), from)
				continue
			}
			if n < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(x.rbuf) {
			case opACK:
				if binary.BigEndian.Uint16(x.rbuf[2:]) == block {
					return nil
				}
			case opERROR:
				msg := strings.TrimRight(string(x.rbuf[4:n]), "\x00")
				return fmt.Errorf("%w: code %d %q", errClientAbort, binary.BigEndian.Uint16(x.rbuf[2:]), trunc(msg))
			}
		}
	}
	return fmt.Errorf("%w of block %d after %d tries", errTimeout, block, x.s.cfg.Retries+1)
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
