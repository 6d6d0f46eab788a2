package dhcp

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// OnExchange sees each exchange: the request, the reply, the address,
// the client's architecture and vendor class, and why there was none.
func TestOnExchange(t *testing.T) {
	var mu sync.Mutex
	var got []Exchange
	cfg := fullConfig()
	cfg.OnExchange = func(x Exchange) { mu.Lock(); got = append(got, x); mu.Unlock() }
	s := newServer(t, cfg, &leases.Memory{Now: func() time.Time { return now0 }})
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
	}
	dora(t, s, mac(1), pxe...)
	dora(t, s, mac(2))
	dora(t, s, mac(3))
	exchange(t, s, msg(t, mac(4), dhcpv4.MessageTypeDiscover, pxe...), false) // pool exhausted
	mu.Lock()
	defer mu.Unlock()
	type row struct{ MAC, Type, Reply, IP, Arch, Vendor, File string }
	var rows []row
	for _, x := range got {
		ip := ""
		if x.IP.IsValid() {
			ip = x.IP.String()
		}
		rows = append(rows, row{x.MAC, x.Type, x.Reply, ip, x.Arch, x.VendorClass, x.File})
	}
	bios, vc := iana.INTEL_X86PC.String(), "PXEClient:Arch:00000:UNDI:002001"
	want := []row{
		{"52:54:00:00:00:01", "discover", "offer", "10.77.0.100", bios, vc, "undionly.kpxe"},
		{"52:54:00:00:00:01", "request", "ack", "10.77.0.100", bios, vc, "undionly.kpxe"},
		{"52:54:00:00:00:02", "discover", "offer", "10.77.0.101", "", "", ""},
		{"52:54:00:00:00:02", "request", "ack", "10.77.0.101", "", "", ""},
		{"52:54:00:00:00:03", "discover", "offer", "10.77.0.102", "", "", ""},
		{"52:54:00:00:00:03", "request", "ack", "10.77.0.102", "", "", ""},
		{"52:54:00:00:00:04", "discover", "", "", bios, vc, ""},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("exchanges (-want +got):\n%s", diff)
	}
	if last := got[len(got)-1]; last.Reason == "" {
		t.Errorf("unanswered exchange has no reason: %+v", last)
	}
}
