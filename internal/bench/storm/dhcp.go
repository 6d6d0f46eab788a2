package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// backoff is the wait before each retransmission of a DHCP message, as
// firmware backs off; after the last one the exchange fails.
var backoff = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}

// dhcpConn is the one UDP socket on port 68 all nodes share. Replies are
// broadcast (the nodes set the broadcast flag) and handed to the waiting
// exchange by transaction ID and client hardware address.
type dhcpConn struct {
	pc  net.PacketConn
	log *slog.Logger

	mu      sync.Mutex
	waiting map[uint32]chan *dhcpv4.DHCPv4

	retries atomic.Int64 // messages sent again after a timeout
}

// listenDHCP opens 0.0.0.0:68 bound to iface, allowed to broadcast.
func listenDHCP(ctx context.Context, iface string, log *slog.Logger) (*dhcpConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = unix.BindToDevice(int(fd), iface)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:68")
	if err != nil {
		return nil, fmt.Errorf("storm: dhcp socket: %w", err)
	}
	// A storm's worth of replies can arrive at once.
	if u, ok := pc.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(4 << 20)
	}
	c := &dhcpConn{pc: pc, log: log, waiting: map[uint32]chan *dhcpv4.DHCPv4{}}
	go c.read()
	return c, nil
}

// Close closes the socket; the reader then ends.
func (c *dhcpConn) Close() error { return c.pc.Close() }

func (c *dhcpConn) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := c.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.log.Debug("storm: dhcp read", "err", err)
			continue
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		c.mu.Lock()
		ch := c.waiting[xid(m)]
		c.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case ch <- m:
		default: // a duplicate the exchange has no room for
		}
	}
}

func xid(m *dhcpv4.DHCPv4) uint32 { return binary.BigEndian.Uint32(m.TransactionID[:]) }

// send broadcasts m to the servers' port 67.
func (c *dhcpConn) send(m *dhcpv4.DHCPv4) error {
	_, err := c.pc.WriteTo(m.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67})
	return err
}

// exchange sends m until a reply of type want for it arrives, retrying
// after each backoff step; a NAK fails it.
func (c *dhcpConn) exchange(ctx context.Context, m *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
	ch := make(chan *dhcpv4.DHCPv4, 8)
	x := xid(m)
	c.mu.Lock()
	c.waiting[x] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, x)
		c.mu.Unlock()
	}()
	for try, wait := range backoff {
		if try > 0 {
			c.retries.Add(1)
			c.log.Debug("storm: dhcp sent again", "type", m.MessageType().String(), "mac", m.ClientHWAddr.String(), "try", try+1)
		}
		if err := c.send(m); err != nil {
			return nil, fmt.Errorf("storm: dhcp send %s: %w", m.MessageType(), err)
		}
		t := time.NewTimer(wait)
	recv:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
				break recv
			case r := <-ch:
				if r.ClientHWAddr.String() != m.ClientHWAddr.String() {
					continue
				}
				switch r.MessageType() {
				case want:
					t.Stop()
					return r, nil
				case dhcpv4.MessageTypeNak:
					t.Stop()
					return nil, fmt.Errorf("storm: dhcp %s: NAK: %s", m.MessageType(), r.Message())
				}
			}
		}
	}
	return nil, fmt.Errorf("storm: dhcp %s: no %s after %d tries", m.MessageType(), want, len(backoff))
}

// dora runs DISCOVER, OFFER, REQUEST, ACK for mac with the options of
// mods (the broadcast flag is always set) and returns the ACK.
func (c *dhcpConn) dora(ctx context.Context, mac net.HardwareAddr, mods ...dhcpv4.Modifier) (*dhcpv4.DHCPv4, error) {
	mods = append(mods, dhcpv4.WithBroadcast(true))
	d, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		return nil, fmt.Errorf("storm: dhcp: %w", err)
	}
	offer, err := c.exchange(ctx, d, dhcpv4.MessageTypeOffer)
	if err != nil {
		return nil, err
	}
	r, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	if err != nil {
		return nil, fmt.Errorf("storm: dhcp: %w", err)
	}
	return c.exchange(ctx, r, dhcpv4.MessageTypeAck)
}
