package tftp

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// xsock is a transfer's socket: a UDP socket connected to the client
// and left in blocking mode, read and written with plain system calls
// on the transfer's goroutine rather than through the runtime's network
// poller. A lock-step transfer waits for one ACK per block; through the
// poller each wait cost a failed read, a park, an epoll wake-up and
// often a second thread woken to spin (35 % of the server's CPU went to
// epoll_wait alone in the 21-tftp profile), where a read that blocks in
// the kernel is woken directly by the ACK's arrival, as in dnsmasq's
// loop. The cost is one thread per waiting transfer, bounded by
// Options.MaxTransfers. The read timeout is the socket's SO_RCVTIMEO,
// and a cancelled transfer is woken by shutdown(2).
type xsock struct {
	fd      int
	timeo   time.Duration // the current SO_RCVTIMEO
	mu      sync.Mutex
	closed  bool
	stopped bool
}

// errStopped: the socket was shut down (the transfer's context ended).
var errStopped = errors.New("tftp: transfer stopped")

// dialX opens a blocking UDP socket bound to local (any address of the
// peer's family if nil) and connected to peer.
func dialX(local net.IP, peer *net.UDPAddr) (*xsock, error) {
	var (
		family int
		la, ra syscall.Sockaddr
	)
	if ip4 := peer.IP.To4(); ip4 != nil {
		family = syscall.AF_INET
		r := &syscall.SockaddrInet4{Port: peer.Port}
		copy(r.Addr[:], ip4)
		l := &syscall.SockaddrInet4{}
		if l4 := local.To4(); l4 != nil {
			copy(l.Addr[:], l4)
		}
		la, ra = l, r
	} else if ip6 := peer.IP.To16(); ip6 != nil {
		family = syscall.AF_INET6
		r := &syscall.SockaddrInet6{Port: peer.Port, ZoneId: zoneID(peer.Zone)}
		copy(r.Addr[:], ip6)
		l := &syscall.SockaddrInet6{ZoneId: r.ZoneId}
		if l6 := local.To16(); l6 != nil && local.To4() == nil {
			copy(l.Addr[:], l6)
		}
		la, ra = l, r
	} else {
		return nil, fmt.Errorf("tftp: transfer socket: bad peer address %v", peer)
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("tftp: transfer socket: %w", err)
	}
	if err := syscall.Bind(fd, la); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("tftp: transfer socket: bind: %w", err)
	}
	if err := syscall.Connect(fd, ra); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("tftp: transfer socket: connect %v: %w", peer, err)
	}
	return &xsock{fd: fd}, nil
}

func zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}

// setTimeout sets how long one read waits (at least a millisecond).
func (s *xsock) setTimeout(d time.Duration) error {
	d = max(d, time.Millisecond)
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	if err := syscall.SetsockoptTimeval(s.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("tftp: set receive timeout: %w", err)
	}
	s.timeo = d
	return nil
}

// read reads one datagram, waiting until deadline at most. It returns
// errNoAck when the time is up and errStopped once stop was called. The
// socket's timeout (a duration, not a deadline) is moved only when it
// would outlast the deadline or end more than slack before it, in which
// case the read waits again for the rest: one setsockopt per block
// showed in lock-step transfers.
func (s *xsock) read(buf []byte, deadline time.Time, slack time.Duration) (int, error) {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, errNoAck
		}
		if s.timeo > left || s.timeo < left-slack {
			if err := s.setTimeout(left); err != nil {
				return 0, err
			}
		}
		n, err := syscall.Read(s.fd, buf)
		switch {
		case err == nil && n == 0 && s.isStopped():
			return 0, errStopped
		case err == nil:
			return n, nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			continue // the timeout: the loop checks the deadline
		default:
			// ECONNREFUSED among them: an ICMP port unreachable for
			// an earlier block, the client has gone.
			return 0, fmt.Errorf("tftp: receive: %w", err)
		}
	}
}

// write sends one datagram. It first tries a send that cannot wait
// (MSG_DONTWAIT) as a raw system call, without the runtime's bookkeeping
// for calls that may block: in lock-step that bookkeeping on every block
// kept transfers behind dnsmasq's with tftp-hpa. Only when the socket's
// send buffer is full does it fall back to a send that waits.
func (s *xsock) write(pkt []byte) error {
	if len(pkt) == 0 {
		return nil
	}
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)),
			syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if _, err := syscall.Write(s.fd, pkt); err != nil && err != syscall.EINTR {
				return fmt.Errorf("tftp: send: %w", err)
			} else if err == nil {
				return nil
			}
		default:
			return fmt.Errorf("tftp: send: %w", e)
		}
	}
}

func (s *xsock) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// stop wakes a read blocked on the socket, which then returns
// errStopped; safe from any goroutine, also after close.
func (s *xsock) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.stopped = true
	syscall.Shutdown(s.fd, syscall.SHUT_RD)
}

func (s *xsock) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return syscall.Close(s.fd)
}
