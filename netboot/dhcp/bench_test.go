package dhcp

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases/leasetest"
)

// BenchmarkDORA measures one DISCOVER and one REQUEST through the whole
// packet path (parse, decide, lease store, encode), without sockets, for
// each lease store.
func BenchmarkDORA(b *testing.B) {
	stores := map[string]func(b *testing.B) leases.Store{
		"memory": func(*testing.B) leases.Store { return &leases.Memory{} },
		"file": func(b *testing.B) leases.Store {
			f, err := leasetest.OpenFile(filepath.Join(b.TempDir(), "leases"), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			return f
		},
	}
	for name, open := range stores {
		b.Run(name, func(b *testing.B) {
			cfg := fullConfig()
			cfg.RangeFrom, cfg.RangeTo = netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("10.77.0.254")
			cfg.Now = nil
			cfg.LeaseTime = time.Minute
			s, err := New(cfg, open(b))
			if err != nil {
				b.Fatal(err)
			}
			peer := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// 200 clients over and over: the pool (253 addresses) never runs
				// out, and every ACK still writes its lease.
				hw := net.HardwareAddr{0x52, 0x54, 0, 0, 0, byte(i % 200)}
				d, _ := dhcpv4.NewDiscovery(hw)
				offer, _ := s.HandlePacket(ctx, d.ToBytes(), peer, false)
				o, err := dhcpv4.FromBytes(offer)
				if err != nil {
					b.Fatalf("offer: %v", err)
				}
				r, _ := dhcpv4.NewRequestFromOffer(o)
				if ack, _ := s.HandlePacket(ctx, r.ToBytes(), peer, false); ack == nil {
					b.Fatal("no ACK")
				}
			}
		})
	}
}
