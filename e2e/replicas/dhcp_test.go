package replicas

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/store/pgtest"
	"github.com/razor-mk/razor-mk/server/store/postgres"
)

// join links namespace ns to the bridge br0 of lan with a veth pair:
// dev in ns (with cidr, if any), its peer a port of br0.
func join(t *testing.T, lan, ns *testlab.TestNetns, dev, cidr string) {
	t.Helper()
	ns.MustIP("link", "add", dev, "type", "veth", "peer", "name", "p"+dev, "netns", lan.Name)
	lan.MustIP("link", "set", "p"+dev, "master", "br0")
	lan.MustIP("link", "set", "p"+dev, "up")
	if cidr != "" {
		ns.MustIP("addr", "add", cidr, "dev", dev)
	}
	ns.MustIP("link", "set", dev, "up")
}

// TestReplicasFullDHCP runs two razor-netboot replicas in full DHCP mode
// on one network segment, with one address pool and the lease table of
// one PostgreSQL database: clients asking both at once never get one
// address twice, and the pool is handed out.
func TestReplicasFullDHCP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, network namespaces and two razor-netboot processes")
	}
	testlab.RequireNetns(t)
	ctx := context.Background()
	srv := pgtest.New(t, pgtest.Options{})
	tcpURL, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The servers run in their own network namespaces, where the
	// database's loopback address is not reachable; its Unix socket is.
	u, _ := url.Parse(tcpURL)
	sockURL := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", pgtest.Superuser, u.Path[1:], srv.SocketDir(), srv.Port())
	bin := testlab.Binary(t, "razor-netboot")

	lan := testlab.NewNetns(t, "rlan")
	lan.MustIP("link", "add", "br0", "type", "bridge")
	lan.MustIP("link", "set", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0")
	lan.MustIP("link", "set", "br0", "up")
	const pool = 12
	servers := []struct {
		ns  *testlab.TestNetns
		dev string
		ip  string
	}{{testlab.NewNetns(t, "rsa"), "rsa0", "10.78.0.1"}, {testlab.NewNetns(t, "rsb"), "rsb0", "10.78.0.2"}}
	for i, s := range servers {
		join(t, lan, s.ns, s.dev, s.ip+"/24")
		cmd := s.ns.Command(bin, "serve", "--dhcp", "full", "--dhcp-interface", s.dev,
			"--dhcp-range", fmt.Sprintf("10.78.0.100-10.78.0.%d", 100+pool-1), "--advertise-ip", s.ip,
			"--http-addr", s.ip+":8026", "--tftp", "off", "--store", sockURL, "--data-dir", t.TempDir(),
			"--admin-token", adminToken, "--log-level", "warn")
		p := testlab.Start(t, fmt.Sprintf("replica %d", i), cmd)
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
				err = testlab.InNetns(s.ns.Name, func() error {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			}}}
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := hc.Get("http://" + s.ip + ":8026/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			select {
			case <-p.Done():
				t.Fatalf("replica %d exited:\n%s", i, p.Output())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d not answering: %v\n%s", i, err, p.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	cli := testlab.NewNetns(t, "rcl")
	join(t, lan, cli, "rcl0", "")
	type ack struct {
		ip     netip.Addr
		server string
	}
	var (
		mu   sync.Mutex
		acks = map[string]ack{} // MAC → the address it was ACKed
		naks int
	)
	const clients = 2 * pool
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hw := net.HardwareAddr{0x52, 0x54, 0x00, 0x0c, 0x00, byte(i)}
			var c *nclient4.Client
			if err := testlab.InNetns(cli.Name, func() (err error) {
				c, err = nclient4.New("rcl0", nclient4.WithHWAddr(hw), nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
				return err
			}); err != nil {
				t.Errorf("client %v: %v", hw, err)
				return
			}
			defer c.Close()
			// Like a PXE ROM, try again after a NAK or a silence.
			for range 10 {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				l, err := c.Request(rctx, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
					dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
				cancel()
				if err == nil {
					ip, _ := netip.AddrFromSlice(l.ACK.YourIPAddr.To4())
					mu.Lock()
					acks[strings.ToUpper(hw.String())] = ack{ip, l.ACK.ServerIdentifier().String()}
					mu.Unlock()
					return
				}
				mu.Lock()
				naks++
				mu.Unlock()
				time.Sleep(time.Duration(50+10*i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()

	holder := map[netip.Addr]string{}
	byServer := map[string]int{}
	for mac, a := range acks {
		if o, ok := holder[a.ip]; ok {
			t.Errorf("address %v ACKed to %s and to %s", a.ip, o, mac)
		}
		holder[a.ip] = mac
		byServer[a.server]++
	}
	t.Logf("%d clients: %d got a lease (by server %v), %d failed attempts (NAK or no answer)", clients, len(acks), byServer, naks)
	if len(acks) != pool {
		t.Errorf("%d clients leased an address of a pool of %d, want the whole pool leased", len(acks), pool)
	}
	st, err := postgres.Open(ctx, tcpURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ls, err := st.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]netip.Addr{}
	for _, l := range ls {
		stored[l.MAC] = l.IP
	}
	for mac, a := range acks {
		if stored[mac] != a.ip {
			t.Errorf("client %s was ACKed %v, the store has %v", mac, a.ip, stored[mac])
		}
	}
	if len(ls) != len(acks) {
		t.Errorf("the store holds %d leases, %d were ACKed: %v", len(ls), len(acks), ls)
	}
}
