package dhcp

import (
	"context"
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Listen binds the DHCP port 67 on the configured interface (and, in
// proxy mode, the proxyDHCP port 4011) and returns the function that
// serves them until ctx is done or a socket fails (nil after ctx is
// done). Binding first lets a daemon refuse to start when a port is taken
// and know that every socket is up before it reports ready. The sockets
// are closed when run returns; call run exactly once.
func (s *Server) Listen() (run func(ctx context.Context) error, err error) {
	c67, err := server4.NewIPv4UDPConn(s.cfg.Interface, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s port 67: %w", s.ifName(), err)
	}
	s.growReadBuffer(c67)
	type bound struct {
		c  net.PacketConn
		on port
	}
	conns := []bound{{c67, port67}}
	if s.cfg.Mode == Proxy {
		c4011, err := server4.NewIPv4UDPConn(s.cfg.Interface, &net.UDPAddr{Port: PXEPort})
		if err != nil {
			c67.Close()
			return nil, fmt.Errorf("dhcp: listen on %s port %d: %w", s.ifName(), PXEPort, err)
		}
		s.growReadBuffer(c4011)
		conns = append(conns, bound{c4011, port4011})
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, len(conns))
		for _, c := range conns {
			go func() { errs <- s.serve(ctx, c.c, c.on) }()
		}
		var first error
		for range conns {
			if err := <-errs; err != nil && first == nil {
				first = err
				cancel()
			}
		}
		return first
	}, nil
}
