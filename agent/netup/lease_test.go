package netup

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/razor-mk/razor-mk/wire"
)

func TestParseLease(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := mac("52:54:00:12:34:56")
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want func(l *Lease)
	}{
		{"minimal", nil, func(l *Lease) {}},
		{"razor options, port in one byte", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionServer), []byte{10, 0, 0, 2})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionPort), []byte{80})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionBaseURI), []byte("/hanlon/api/v1\x00"))),
		}, func(l *Lease) {
			l.RazorServer = netip.MustParseAddr("10.0.0.2")
			l.RazorPort = 80
			l.RazorBaseURI = "/hanlon/api/v1"
		}},
		{"bad razor options dropped", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionServer), []byte{10, 0, 0})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionPort), []byte{1, 0, 0, 0})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionBaseURI), []byte("/x\nnameserver 6.6.6.6"))),
			dhcpv4.WithOption(dhcpv4.OptDomainName("evil\nnameserver 6.6.6.6")),
		}, func(l *Lease) {}},
		{"lease times", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(100 * time.Second)),
		}, func(l *Lease) { l.LeaseTime, l.T1, l.T2 = 100*time.Second, 50*time.Second, 87500*time.Millisecond }},
		{"infinite lease", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionIPAddressLeaseTime, []byte{0xff, 0xff, 0xff, 0xff})),
		}, func(l *Lease) {}},
		{"classless routes override option 3", []dhcpv4.Modifier{
			dhcpv4.WithRouter(net.ParseIP("10.0.0.1")),
			dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
				&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(0, 0, 0, 0), Mask: net.CIDRMask(0, 32)}, Router: net.ParseIP("10.0.0.254")},
				&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(192, 168, 7, 0), Mask: net.CIDRMask(24, 32)}, Router: net.IPv4zero},
			)),
		}, func(l *Lease) {
			l.Gateway = netip.MustParseAddr("10.0.0.1")
			l.Routes = []Route{
				{Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.254")},
				{Dest: netip.MustParsePrefix("192.168.7.0/24")},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLease("eth0", m, ack(t, "10.0.0.15", tt.mods...), now)
			if err != nil {
				t.Fatalf("ParseLease = %v", err)
			}
			want := Lease{Interface: "eth0", MAC: m, Addr: netip.MustParsePrefix("10.0.0.15/24"),
				ServerID: netip.MustParseAddr("10.0.0.1"), NextServer: netip.MustParseAddr("10.0.0.1"), Obtained: now}
			tt.want(&want)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseLease mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if got := (Lease{Gateway: netip.MustParseAddr("10.0.0.1"), Routes: []Route{{Dest: netip.MustParsePrefix("192.168.7.0/24")}}}).DefaultGateway(); got.IsValid() {
		t.Errorf("DefaultGateway with option 121 lacking 0/0 = %v, want none (RFC 3442 ignores option 3)", got)
	}
	bad := ack(t, "0.0.0.0")
	if _, err := ParseLease("eth0", m, bad, now); !errors.Is(err, ErrBadLease) {
		t.Errorf("ParseLease(yiaddr 0.0.0.0) = %v, want ErrBadLease", err)
	}
}

func FuzzParseLease(f *testing.F) {
	d, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP("10.0.0.15")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(net.ParseIP("10.0.0.1")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(wire.OptionPort), []byte{0x1f, 0x5a})))
	f.Add(d.ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		l, err := ParseLease("eth0", mac("52:54:00:12:34:56"), msg, time.Now())
		if err != nil {
			return
		}
		if !l.Addr.IsValid() || l.RazorPort < 0 || l.RazorPort > 65535 || (l.LeaseTime > 0 && (l.T1 > l.LeaseTime || l.T2 > l.LeaseTime)) {
			t.Errorf("ParseLease gave an inconsistent lease %+v", l)
		}
		_ = ResolvConf(l)
		_ = l.Info()
	})
}
