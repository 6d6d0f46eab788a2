package dhcp

import (
	"net/netip"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// pool tracks which addresses of one subnet's ranges are leased,
// offered, reserved or declined. It mirrors the store (loaded at start, updated after each
// durable change); the store stays the authority on conflicts, which
// matters when replicas share it.
type pool struct {
	mu         sync.Mutex
	ranges     []Range
	size       uint64 // addresses in all ranges
	subnet     netip.Prefix
	next       uint64                  // ordinal of the next address to try, in [0, size)
	leases     map[string]leases.Lease // committed, by MAC
	holder     map[uint32]string       // address → MAC (lease or offer)
	offers     map[string]offer        // by MAC
	declined   map[uint32]time.Time    // address → until
	reserved   map[string]uint32       // MAC → fixed address
	reservedBy map[uint32]string       // fixed address → MAC
	unusable   map[uint32]bool         // never leased: see unusable
}

type offer struct {
	ip    uint32
	until time.Time
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// unusable are the addresses of subnet that are never leased even when
// a range covers them: the network address and the broadcast address
// (for prefixes shorter than /31, RFC 3021) and the server's own.
func unusable(subnet netip.Prefix, server netip.Addr) []netip.Addr {
	var out []netip.Addr
	if subnet.IsValid() && subnet.Addr().Is4() && subnet.Bits() < 31 {
		n := u32(subnet.Masked().Addr())
		out = append(out, addr(n), addr(n|^uint32(0)>>subnet.Bits()))
	}
	if server.Is4() {
		out = append(out, server)
	}
	return out
}

func newPool(ranges []Range, subnet netip.Prefix, server netip.Addr, reservations []Reservation) *pool {
	p := &pool{
		ranges: ranges, subnet: subnet,
		leases: map[string]leases.Lease{}, holder: map[uint32]string{},
		offers: map[string]offer{}, declined: map[uint32]time.Time{},
		reserved: map[string]uint32{}, reservedBy: map[uint32]string{},
	}
	for _, r := range ranges {
		p.size += r.size()
	}
	p.unusable = map[uint32]bool{}
	for _, a := range unusable(subnet, server) {
		p.unusable[u32(a)] = true
	}
	for _, r := range reservations {
		m, err := NormalizeMAC(r.MAC)
		if err != nil || !r.IP.Is4() {
			continue // CheckSubnets rejected a bad one; no IP: dynamic
		}
		p.reserved[m] = u32(r.IP)
		p.reservedBy[u32(r.IP)] = m
	}
	return p
}

// at returns the address with ordinal n (0 ≤ n < size) across the ranges.
func (p *pool) at(n uint64) uint32 {
	for _, r := range p.ranges {
		if n < r.size() {
			return u32(r.From) + uint32(n)
		}
		n -= r.size()
	}
	return 0
}

func (p *pool) load(ls []leases.Lease) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range ls {
		if !l.IP.Is4() || !p.subnet.Contains(l.IP) {
			continue // another subnet's, or of a network no longer served
		}
		p.leases[l.MAC] = l
		p.holder[u32(l.IP)] = l.MAC
	}
}

func (p *pool) inRange(ip uint32) bool {
	for _, r := range p.ranges {
		if ip >= u32(r.From) && ip <= u32(r.To) {
			return true
		}
	}
	return false
}

// takenBy reports the MAC that holds ip now, other than mac, or "".
// Callers hold mu.
func (p *pool) takenBy(ip uint32, mac string, now time.Time) string {
	if r, ok := p.reservedBy[ip]; ok && r != mac {
		return r
	}
	if until, ok := p.declined[ip]; ok {
		if now.Before(until) {
			return "declined"
		}
		delete(p.declined, ip)
	}
	h, ok := p.holder[ip]
	if !ok || h == mac {
		return ""
	}
	if l, ok := p.leases[h]; ok && u32(l.IP) == ip && l.Expires.After(now) {
		return h
	}
	if o, ok := p.offers[h]; ok && o.ip == ip && o.until.After(now) {
		return h
	}
	return ""
}

// validFor reports whether mac may hold ip: its reservation, or an
// address of the range nobody else holds. Callers hold mu.
func (p *pool) validFor(ip uint32, mac string, now time.Time) bool {
	if r, ok := p.reserved[mac]; ok {
		return r == ip
	}
	if !p.inRange(ip) || p.unusable[ip] {
		return false
	}
	return p.takenBy(ip, mac, now) == ""
}

// offer picks an address for mac and holds it until now+hold: the
// reservation, the address offered or leased before, the requested one,
// or the next free one. ok is false when the pool is exhausted.
func (p *pool) offer(mac string, requested netip.Addr, now time.Time, hold time.Duration) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pick := func(ip uint32) (netip.Addr, bool) {
		p.hold(mac, ip, now.Add(hold))
		return addr(ip), true
	}
	if r, ok := p.reserved[mac]; ok {
		return pick(r)
	}
	if o, ok := p.offers[mac]; ok && p.validFor(o.ip, mac, now) {
		return pick(o.ip)
	}
	if l, ok := p.leases[mac]; ok && p.validFor(u32(l.IP), mac, now) {
		return pick(u32(l.IP))
	}
	if requested.Is4() && p.validFor(u32(requested), mac, now) {
		return pick(u32(requested))
	}
	for range p.size {
		ip := p.at(p.next)
		p.next = (p.next + 1) % p.size
		if p.validFor(ip, mac, now) {
			return pick(ip)
		}
	}
	return netip.Addr{}, false
}

// hold records an offer (or a commit in progress). Callers hold mu.
func (p *pool) hold(mac string, ip uint32, until time.Time) {
	if o, ok := p.offers[mac]; ok && o.ip != ip && p.holder[o.ip] == mac {
		delete(p.holder, o.ip)
	}
	p.offers[mac] = offer{ip: ip, until: until}
	p.holder[ip] = mac
}

// claim checks that mac may have ip and holds it while the lease is
// being written.
func (p *pool) claim(mac string, ip netip.Addr, now time.Time, hold time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ip.Is4() || !p.validFor(u32(ip), mac, now) {
		return false
	}
	p.hold(mac, u32(ip), now.Add(hold))
	return true
}

// committed records a durable lease.
func (p *pool) committed(l leases.Lease) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.leases[l.MAC]; ok && old.IP != l.IP && p.holder[u32(old.IP)] == l.MAC {
		delete(p.holder, u32(old.IP))
	}
	delete(p.offers, l.MAC)
	p.leases[l.MAC] = l
	p.holder[u32(l.IP)] = l.MAC
}

// knows reports whether the server has a record of mac: a lease (even
// an expired one), an offer or a reservation.
func (p *pool) knows(mac string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, l := p.leases[mac]
	_, o := p.offers[mac]
	_, r := p.reserved[mac]
	return l || o || r
}

// lease returns mac's committed lease.
func (p *pool) lease(mac string) (leases.Lease, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.leases[mac]
	return l, ok
}

// dropOffer forgets mac's offer (the client chose another server).
func (p *pool) dropOffer(mac string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.offers[mac]; ok {
		if p.holder[o.ip] == mac {
			if l, ok := p.leases[mac]; !ok || u32(l.IP) != o.ip {
				delete(p.holder, o.ip)
			}
		}
		delete(p.offers, mac)
	}
}

// release forgets mac's lease.
func (p *pool) release(mac string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.leases[mac]; ok {
		if p.holder[u32(l.IP)] == mac {
			delete(p.holder, u32(l.IP))
		}
		delete(p.leases, mac)
	}
	if o, ok := p.offers[mac]; ok {
		if p.holder[o.ip] == mac {
			delete(p.holder, o.ip)
		}
		delete(p.offers, mac)
	}
}

// decline keeps ip out of the pool until until.
func (p *pool) decline(ip netip.Addr, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.declined[u32(ip)] = until
}

// owns reports whether mac holds ip by lease or offer.
func (p *pool) owns(mac string, ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.leases[mac]; ok && l.IP == ip {
		return true
	}
	if o, ok := p.offers[mac]; ok && addr(o.ip) == ip {
		return true
	}
	return false
}
