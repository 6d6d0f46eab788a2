package tftp

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// packet is one datagram on the server port with where it came from
// and the local address and interface it arrived on (when the socket
// reports them).
type packet struct {
	data  []byte
	peer  *net.UDPAddr
	local net.IP
	mtu   int
}

// packetReader reads the server port with IP_PKTINFO / IPV6_PKTINFO
// when it can, so that a transfer answers from the address the client
// asked (the server may have several) and knows the link's MTU.
type packetReader struct {
	conn net.PacketConn
	v4   *ipv4.PacketConn
	v6   *ipv6.PacketConn
}

func newPacketReader(conn net.PacketConn) *packetReader {
	r := &packetReader{conn: conn}
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return r
	}
	la, _ := uc.LocalAddr().(*net.UDPAddr)
	if la != nil && la.IP.To4() != nil && !la.IP.IsUnspecified() {
		r.v4 = ipv4.NewPacketConn(uc)
		if r.v4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true) != nil {
			r.v4 = nil
		}
		return r
	}
	r.v6 = ipv6.NewPacketConn(uc)
	if r.v6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true) != nil {
		r.v6 = nil
	}
	// A dual-stack socket also gets IPv4 packets: ask for their
	// destination too (Linux reports it on an AF_INET6 socket).
	if p4 := ipv4.NewPacketConn(uc); p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true) == nil && r.v6 == nil {
		r.v4 = p4
	}
	return r
}

func (r *packetReader) read(buf []byte) (packet, error) {
	var (
		n     int
		src   net.Addr
		err   error
		dst   net.IP
		ifidx int
	)
	switch {
	case r.v6 != nil:
		var cm *ipv6.ControlMessage
		n, cm, src, err = r.v6.ReadFrom(buf)
		if cm != nil {
			dst, ifidx = cm.Dst, cm.IfIndex
		}
	case r.v4 != nil:
		var cm *ipv4.ControlMessage
		n, cm, src, err = r.v4.ReadFrom(buf)
		if cm != nil {
			dst, ifidx = cm.Dst, cm.IfIndex
		}
	default:
		n, src, err = r.conn.ReadFrom(buf)
	}
	if err != nil {
		return packet{}, err
	}
	p := packet{data: append([]byte(nil), buf[:n]...), local: dst}
	p.peer, _ = src.(*net.UDPAddr)
	if p.peer == nil {
		p.peer = &net.UDPAddr{}
	}
	if ifidx > 0 {
		if ifc, err := net.InterfaceByIndex(ifidx); err == nil {
			hdr := 28
			if dst.To4() == nil {
				hdr = 48
			}
			p.mtu = ifc.MTU - hdr
		}
	}
	if p.local != nil && (p.local.IsMulticast() || p.local.Equal(net.IPv4bcast)) {
		p.local = nil // not a source address: the kernel chooses
	}
	return p, nil
}
