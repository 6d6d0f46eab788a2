package ra

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/razor-mk/razor-mk/internal/testlab"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg     Options
		wantErr bool
	}{
		{Options{Interface: "br0"}, false},
		{Options{Interface: "br0", Prefix: netip.MustParsePrefix("fd12:3456:789a:1::/64")}, false},
		{Options{}, true},
		{Options{Interface: "br0", Prefix: netip.MustParsePrefix("2001:db8::/64")}, true},
		{Options{Interface: "br0", Prefix: netip.MustParsePrefix("fd00::/48")}, true},
	} {
		if err := tt.cfg.Validate(); (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("Validate(%+v) = %v, want error %v", tt.cfg, err, tt.wantErr)
		}
	}
}

// TestAnswersSolicitation sends a real router solicitation across a
// veth pair and checks the advertisement that comes back.
func TestAnswersSolicitation(t *testing.T) {
	testlab.Require(t)
	srv := testlab.NewNetns(t, "rasrv")
	cli := testlab.NewNetns(t, "racli")
	testlab.Veth(t, srv, "ra0", "", cli, "ra1", "")

	prefix := netip.MustParsePrefix("fd42:0:0:1::/64")
	s, err := New(Options{Interface: "ra0", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var srvMAC net.HardwareAddr
	var sconn *ndp.Conn
	if err := testlab.InNetns(srv.Name, func() error {
		ifi, err := net.InterfaceByName("ra0")
		if err != nil {
			return err
		}
		srvMAC = ifi.HardwareAddr
		for range 50 {
			if sconn, _, err = ndp.Listen(ifi, ndp.LinkLocal); err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeConn(ctx, sconn, srvMAC) }()

	var c *ndp.Conn
	if err := testlab.InNetns(cli.Name, func() error {
		ifi, err := net.InterfaceByName("ra1")
		if err != nil {
			return err
		}
		// The link-local address appears once the carrier is up.
		for range 50 {
			if c, _, err = ndp.Listen(ifi, ndp.LinkLocal); err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got *ndp.RouterAdvertisement
	for try := 0; try < 20 && got == nil; try++ {
		if err := c.WriteTo(&ndp.RouterSolicitation{}, nil, netip.MustParseAddr("ff02::2")); err != nil {
			t.Fatalf("send RS: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			m, _, _, err := c.ReadFrom()
			if err != nil {
				break
			}
			if ra, ok := m.(*ndp.RouterAdvertisement); ok {
				got = ra
				break
			}
		}
	}
	if got == nil {
		t.Fatal("no router advertisement in answer to 20 solicitations")
	}
	want := Advertisement(Options{Prefix: prefix}, srvMAC)
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("advertisement (-want +got):\n%s", diff)
	}
	if got.RouterLifetime != 0 || got.ManagedConfiguration || got.OtherConfiguration {
		t.Errorf("advertisement lifetime %v M %v O %v, want 0, false, false", got.RouterLifetime, got.ManagedConfiguration, got.OtherConfiguration)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeConn after cancel = %v, want nil", err)
	}
}
