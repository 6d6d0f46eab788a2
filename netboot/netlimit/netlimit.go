// Package netlimit bounds what clients can hold: a Limiter counts
// connections or transfers per client address and in all, refusing past
// either cap; Listen wraps a net.Listener so that connections past the
// caps are closed as soon as they are accepted and every accepted
// connection gets a write deadline that moves with progress. It keeps
// one client address from taking more than its share of the process's
// file descriptors.
package netlimit

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Errors; callers use errors.Is.
var (
	// ErrTotal: the global cap is reached.
	ErrTotal = errors.New("netlimit: too many in all")
	// ErrPerAddr: the client address's cap is reached.
	ErrPerAddr = errors.New("netlimit: too many from one address")
)

// Limiter counts holders in all and per client address. The zero value
// and a nil *Limiter do not limit.
type Limiter struct {
	// Max is the global cap, PerAddr the cap per client address; 0 means
	// no cap.
	Max, PerAddr int
	// OnRefuse, if set, is called (outside the lock) with "total" or
	// "per_addr" on each refusal: a metrics hook.
	OnRefuse func(reason string)

	mu    sync.Mutex
	total int
	per   map[netip.Addr]int
}

// New returns a Limiter with the given caps (0: none).
func New(max, perAddr int) *Limiter { return &Limiter{Max: max, PerAddr: perAddr} }

// Acquire takes one slot for addr, or refuses with ErrTotal or
// ErrPerAddr. release gives the slot back; calling it more than once is
// harmless.
func (l *Limiter) Acquire(addr netip.Addr) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	addr = addr.Unmap()
	l.mu.Lock()
	switch {
	case l.Max > 0 && l.total >= l.Max:
		err = fmt.Errorf("%w (%d)", ErrTotal, l.Max)
	case l.PerAddr > 0 && l.per[addr] >= l.PerAddr:
		err = fmt.Errorf("%w (%s: %d)", ErrPerAddr, addr, l.PerAddr)
	}
	if err != nil {
		l.mu.Unlock()
		if l.OnRefuse != nil {
			reason := "total"
			if errors.Is(err, ErrPerAddr) {
				reason = "per_addr"
			}
			l.OnRefuse(reason)
		}
		return nil, err
	}
	if l.per == nil {
		l.per = map[netip.Addr]int{}
	}
	l.total++
	l.per[addr]++
	l.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { l.release(addr) }) }, nil
}

func (l *Limiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.per[addr]--; l.per[addr] <= 0 {
		delete(l.per, addr)
	}
}

// InUse is the number of slots held in all and by addr.
func (l *Limiter) InUse(addr netip.Addr) (total, byAddr int) {
	if l == nil {
		return 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.per[addr.Unmap()]
}

// AddrOf is the IP address of a net.Addr (TCP, UDP or host:port), the
// zero Addr if it has none.
func AddrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
