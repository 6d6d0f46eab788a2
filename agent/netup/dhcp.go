package netup

import (
	"context"
	"fmt"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// nclient is the real DHCPClient.
type nclient struct {
	c    *nclient4.Client
	mods []dhcpv4.Modifier
}

// NClient4 is the NewDHCPFunc of a real system: nclient4 over a raw
// socket on the link (it works before the link has an address), asking
// for RequestedOptions and naming the host with option 12.
func NClient4(link Link, hostname string) (DHCPClient, error) {
	c, err := nclient4.New(link.Name,
		nclient4.WithHWAddr(link.MAC),
		// nclient4 retransmits within one attempt; RFC 2131 §4.1 suggests
		// 4 s, doubling — the microkernel wants a faster first try.
		nclient4.WithTimeout(2*time.Second),
		nclient4.WithRetry(4),
	)
	if err != nil {
		return nil, fmt.Errorf("netup: dhcp on %s: %w", link.Name, err)
	}
	mods := []dhcpv4.Modifier{dhcpv4.WithRequestedOptions(RequestedOptions...)}
	if hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(hostname)))
	}
	return &nclient{c: c, mods: mods}, nil
}

func (n *nclient) Request(ctx context.Context) (*nclient4.Lease, error) {
	return n.c.Request(ctx, n.mods...)
}

func (n *nclient) Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error) {
	return n.c.Renew(ctx, l, n.mods...)
}

func (n *nclient) Close() error { return n.c.Close() }
