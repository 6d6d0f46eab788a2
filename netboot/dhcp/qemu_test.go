package dhcp

import (
	"context"
	"net"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/netboot/ra"
)

// TestQEMUiPXEFastPath boots QEMU's own iPXE NIC ROM (virtio-net, TCG)
// against the full-mode server twice and times iPXE's "Configuring
// (net0 …)… ok" from the console: once with the fast path (option 60
// PXEClient in the offer, router advertisements answered) and once
// without. iPXE prints the whole Configuring line when it is done, so the
// time runs from the line before it (the NIC's link status, printed as
// configuration starts) to that line.
func TestQEMUiPXEFastPath(t *testing.T) {
	testlab.Require(t, "qemu-system-x86_64")
	measure := func(t *testing.T, fast bool) time.Duration {
		ns := testlab.NewNetns(t, "qipxe")
		testlab.NoDAD(t, ns)
		ns.AddBridge("qbr0", "10.79.0.1/24")
		ns.AddTap("qtap0", "qbr0")
		cfg := Options{
			Mode: Full, Interface: "qbr0",
			RangeFrom: netip.MustParseAddr("10.79.0.100"), RangeTo: netip.MustParseAddr("10.79.0.200"),
			Subnet: netip.MustParsePrefix("10.79.0.0/24"), ServerIP: netip.MustParseAddr("10.79.0.1"),
			DisableFastPath: !fast,
		}
		s := newServer(t, cfg, &leases.Memory{})
		runServer(t, s, ns.Name, "qbr0")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if fast {
			r, err := ra.New(ra.Options{Interface: "qbr0"})
			if err != nil {
				t.Fatal(err)
			}
			// Listen inside the namespace (Listen waits for the
			// bridge's link-local address), serve from anywhere.
			var conn *ndp.Conn
			var hw net.HardwareAddr
			if err := testlab.InNetns(ns.Name, func() error {
				lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
				defer lcancel()
				var err error
				conn, hw, err = ra.Listen(lctx, "qbr0", nil)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- r.ServeConn(ctx, conn, hw) }()
			t.Cleanup(func() { cancel(); <-errc })
		}
		vm := testlab.StartVM(t, testlab.VMOptions{
			Name: "ipxe", Accel: "tcg", Memory: 256, Netns: ns.Name,
			NICs: []testlab.NIC{{Netdev: "tap,ifname=qtap0,script=no,downscript=no", MAC: "52:54:00:79:00:01"}},
		})
		start, i, err := vm.WaitFor(ctx, 0, regexp.MustCompile(`Link:up`), 60*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		done, _, err := vm.WaitFor(ctx, i+1, regexp.MustCompile(`Configuring \(net0 .*\).*ok`), 40*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		vm.Stop()
		d := done.At - start.At
		t.Logf("fast path %v: iPXE configured in %v (%q)", fast, d.Round(10*time.Millisecond), done.Text)
		return d
	}
	var fast, slow time.Duration
	t.Run("fast", func(t *testing.T) { fast = measure(t, true) })
	t.Run("slow", func(t *testing.T) { slow = measure(t, false) })
	if t.Failed() {
		return
	}
	// Measured here (TCG): about 16 s without, about 0.1 s with.
	if fast*3 > slow || slow-fast < 3*time.Second {
		t.Errorf("iPXE configure time: fast path %v, without %v; want the fast path at least 3x and 3 s faster", fast, slow)
	}
}
