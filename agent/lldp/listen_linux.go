package lldp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultWindow is how long Listen waits for frames: switches send every
// 30 s by default (msgTxInterval), so 35 s holds at least one.
const DefaultWindow = 35 * time.Second

// Listener gathers the neighbours of a node's links.
type Listener struct {
	// Window bounds the listening (default DefaultWindow).
	Window time.Duration
	// Interfaces lists the links to listen on (default: every link that
	// is up, not loopback, with an Ethernet address).
	Interfaces func() ([]net.Interface, error)
	// Logger: default discard.
	Logger *slog.Logger

	mu    sync.Mutex
	found map[string]Neighbor
}

// Facts returns the facts of the neighbours heard so far (see Facts).
func (l *Listener) Facts() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Facts(maps.Clone(l.found))
}

func ethernetLinks() ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []net.Interface
	for _, i := range all {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 && len(i.HardwareAddr) == 6 {
			out = append(out, i)
		}
	}
	return out, nil
}

// Run listens on every link until each has a neighbour, the window ends
// or ctx does. A link that cannot be listened on is logged and skipped.
func (l *Listener) Run(ctx context.Context) error {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	window := l.Window
	if window <= 0 {
		window = DefaultWindow
	}
	list := l.Interfaces
	if list == nil {
		list = ethernetLinks
	}
	links, err := list()
	if err != nil {
		return fmt.Errorf("lldp: links: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	// Sockets are opened here, in the caller's network namespace, and
	// read from goroutines.
	var wg sync.WaitGroup
	for _, ifi := range links {
		fd, err := open(ifi)
		if err != nil {
			log.Warn("lldp: cannot listen", "link", ifi.Name, "err", err)
			continue
		}
		wg.Go(func() {
			defer unix.Close(fd)
			n, err := read(ctx, fd, ifi)
			switch {
			case err == nil:
				l.mu.Lock()
				if l.found == nil {
					l.found = map[string]Neighbor{}
				}
				l.found[ifi.Name] = n
				l.mu.Unlock()
				log.Info("lldp neighbour", "link", ifi.Name, "switch", n.SystemName, "chassis", n.ChassisID, "port", n.PortID, "vlan", n.VLAN)
			case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
				log.Debug("no lldp frame", "link", ifi.Name, "window", window)
			default:
				log.Warn("lldp: cannot listen", "link", ifi.Name, "err", err)
			}
		})
	}
	wg.Wait()
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// open returns a packet socket that receives ifi's LLDP frames.
func open(ifi net.Interface) (fd int, err error) {
	fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(EtherType)))
	if err != nil {
		return -1, fmt.Errorf("lldp: socket: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(EtherType), Ifindex: ifi.Index}); err != nil {
		return -1, fmt.Errorf("lldp: bind %s: %w", ifi.Name, err)
	}
	// The NIC must accept the nearest-bridge group address.
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], Multicast)
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return -1, fmt.Errorf("lldp: join %s on %s: %w", Multicast, ifi.Name, err)
	}
	tv := unix.NsecToTimeval((250 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return -1, fmt.Errorf("lldp: timeout: %w", err)
	}
	return fd, nil
}

// read returns the neighbour of the first valid LLDPDU on fd.
func read(ctx context.Context, fd int, ifi net.Interface) (Neighbor, error) {
	buf := make([]byte, 1600)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return Neighbor{}, fmt.Errorf("lldp: read %s: %w", ifi.Name, err)
		}
		// Ethernet header: destination, source, EtherType.
		if n < 14 || binary.BigEndian.Uint16(buf[12:14]) != EtherType {
			continue
		}
		nb, err := Parse(buf[14:n])
		if err != nil || nb.TTL == 0 {
			continue // a bad frame or a withdrawal: wait for the next
		}
		return nb, nil
	}
	return Neighbor{}, ctx.Err()
}
