package e2e

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	_ "modernc.org/sqlite"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/wire"
)

// soakDuration bounds the attack; RAZOR_SOAK may set another (a Go
// duration).
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("RAZOR_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RAZOR_SOAK=%q: %v", v, err)
		}
		return d
	}
	return 40 * time.Second
}

// The soak's QEMU node; the floods wait for its registration at most
// soakNodeTimeout.
const (
	soakNodeMAC     = "52:54:00:66:00:50"
	soakNodeTimeout = 4 * time.Minute
)

// soakDialer makes TCP connections from one address inside ns.
func soakDialer(ns *testlab.TestNetns, from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := testlab.InNetns(ns.Name, func() error {
			d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// TestSoak runs a DHCP DISCOVER flood, a slow-body flood, a TFTP RRQ
// flood and a registration storm at once against one razor-netboot
// serve in a network namespace. Throughout, /healthz answers within a
// second and a TFTP download from another address succeeds; afterwards
// the store passes SQLite's integrity check and holds every registration
// that was acknowledged. Meanwhile a QEMU node with the prod microkernel
// PXE boots on the same segment and registers; the floods last until it
// has (at least the soak's duration, at most soakNodeTimeout). Its
// address is reserved, as a known server's is: a flood of new MACs
// exhausts any dynamic pool, which is what the flood also checks.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: not in -short")
	}
	testlab.RequireNetns(t)
	testlab.Require(t, "tftp")
	requireQEMU(t)
	bin := testlab.Binary(t, "razor-netboot")
	mk := buildImage(t, "images/prod.yaml")
	testlab.ProbeAccel(filepath.Join(mk, "vmlinuz"))
	srv := testlab.NewNetns(t, "soaks")
	cli := testlab.NewNetns(t, "soakc")
	// One segment: the server's bridge, the attackers' veth and the
	// node's tap on it.
	testlab.Veth(t, srv, "sk0", "", cli, "sk1", "10.66.0.2/24")
	srv.AddBridge("skbr", "10.66.0.1/24")
	srv.MustIP("link", "set", "sk0", "master", "skbr")
	srv.AddTap("sktap", "skbr")
	for i := 3; i <= 9; i++ {
		cli.MustIP("addr", "add", fmt.Sprintf("10.66.0.%d/24", i), "dev", "sk1")
	}
	dir := t.TempDir()
	ipxeDir := filepath.Join(dir, "ipxe")
	os.MkdirAll(ipxeDir, 0o755)
	boot := make([]byte, 96<<10)
	for i := range boot {
		boot[i] = byte(rand.IntN(256))
	}
	// Every boot file serve checks for at start (TFTP is on).
	for _, f := range []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} {
		if err := os.WriteFile(filepath.Join(ipxeDir, f), boot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := filepath.Join(dir, "data")
	images := filepath.Join(dir, "images")
	installImage(t, mk, filepath.Join(images, "mk"))
	config := filepath.Join(dir, "razor-netboot.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`dhcp_subnets:
  - subnet: 10.66.0.0/24
    ranges: [10.66.0.100-10.66.0.160]
    reservations:
      - mac: %s
        ip: 10.66.0.50
        hostname: soak-node
`, soakNodeMAC)), 0o644); err != nil {
		t.Fatal(err)
	}
	const token = "soak-token"
	// The floods come from this process, on the same two cores as the
	// server and beside other test packages; in the field they come from
	// other machines. The server gets the CPU ahead of them (nice -10),
	// so that /healthz measures the server, not the load generator.
	p := testlab.Start(t, "razor-netboot", srv.Command("nice", "-n", "-10", bin, "serve", "--config", config,
		"--data-dir", dataDir, "--http-addr", "10.66.0.1:8026", "--advertise-ip", "10.66.0.1",
		"--dhcp", "full", "--dhcp-interface", "skbr", "--images-dir", images,
		"--tftp", "10.66.0.1:69", "--ipxe-dir", ipxeDir, "--admin-token", token, "--log-level", "warn"))
	_ = p
	base := "http://10.66.0.1:8026"
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: soakDialer(cli, "10.66.0.9"), DisableKeepAlives: true}}
	up := time.Now().Add(30 * time.Second)
	for {
		resp, err := probe.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(up) {
			t.Fatalf("server not up: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	d := soakDuration(t)
	// The floods stop when the node has registered and d has passed, or
	// at soakNodeTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), soakNodeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var (
		discovers, offers           atomic.Int64
		slowOpen, slowHeld          atomic.Int64
		rrqs, rrqData, rrqErr       atomic.Int64
		regOK, regLimited, regOther atomic.Int64
		healthMax                   atomic.Int64
		healthN                     atomic.Int64
	)
	var healthErrs []string
	var mu sync.Mutex
	acked := map[string]bool{}

	// DHCP DISCOVER flood: new MACs, broadcast, ~300/s.
	var dconn net.PacketConn
	if err := testlab.InNetns(cli.Name, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
				if serr == nil {
					serr = syscall.BindToDevice(int(fd), "sk1")
				}
			})
			return serr
		}}
		var err error
		dconn, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer dconn.Close()
	wg.Go(func() {
		buf := make([]byte, 1500)
		for ctx.Err() == nil {
			dconn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _, err := dconn.ReadFrom(buf)
			if err == nil {
				if m, err := dhcpv4.FromBytes(buf[:n]); err == nil && m.MessageType() == dhcpv4.MessageTypeOffer {
					offers.Add(1)
				}
			}
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
		for ctx.Err() == nil {
			<-tick.C
			for range 3 {
				mac := net.HardwareAddr{0x02, 0x66, byte(rand.IntN(256)), byte(rand.IntN(256)), byte(rand.IntN(256)), byte(rand.IntN(256))}
				m, err := dhcpv4.NewDiscovery(mac)
				if err != nil {
					continue
				}
				if _, err := dconn.WriteTo(m.ToBytes(), bcast); err == nil {
					discovers.Add(1)
				}
			}
		}
	})

	// Slow-body flood: 2 addresses × 150 workers, each holding a POST
	// whose body trickles a byte every 2 s, at the 401 and 429 paths.
	for _, from := range []string{"10.66.0.3", "10.66.0.4"} {
		dial := soakDialer(cli, from)
		for w := range 150 {
			path := []string{"/api/v1/tags", "/razor/api/node/register"}[w%2]
			wg.Go(func() {
				for ctx.Err() == nil {
					c, err := dial(ctx, "tcp", "10.66.0.1:8026")
					if err != nil {
						time.Sleep(100 * time.Millisecond)
						continue
					}
					fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", path)
					slowOpen.Add(1)
					for i := 0; ctx.Err() == nil; i++ {
						c.SetWriteDeadline(time.Now().Add(time.Second))
						if _, err := c.Write([]byte(" ")); err != nil {
							break
						}
						if i == 1 {
							slowHeld.Add(1) // still open after 2 s
						}
						time.Sleep(2 * time.Second)
					}
					c.Close()
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
	}

	// TFTP RRQ flood: 2 addresses, ~200/s, never acknowledged.
	for _, from := range []string{"10.66.0.5", "10.66.0.6"} {
		var uc net.PacketConn
		if err := testlab.InNetns(cli.Name, func() error {
			var err error
			uc, err = net.ListenPacket("udp4", from+":0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer uc.Close()
		rrq := append(binary.BigEndian.AppendUint16(nil, 1), "undionly.kpxe\x00octet\x00"...)
		wg.Go(func() {
			buf := make([]byte, 2048)
			for ctx.Err() == nil {
				uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				n, _, err := uc.ReadFrom(buf)
				if err == nil && n >= 2 {
					switch binary.BigEndian.Uint16(buf) {
					case 3:
						rrqData.Add(1)
					case 5:
						rrqErr.Add(1)
					}
				}
			}
		})
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			dst := &net.UDPAddr{IP: net.ParseIP("10.66.0.1"), Port: 69}
			for ctx.Err() == nil {
				<-tick.C
				if _, err := uc.WriteTo(rrq, dst); err == nil {
					rrqs.Add(1)
				}
			}
		})
	}

	// Registration storm: 2 addresses × 6 workers, distinct nodes.
	var seq atomic.Int64
	for _, from := range []string{"10.66.0.7", "10.66.0.8"} {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: soakDialer(cli, from), MaxIdleConnsPerHost: 8}}
		for range 6 {
			wg.Go(func() {
				for ctx.Err() == nil {
					n := seq.Add(1)
					hwid := fmt.Sprintf("5254aa%06x", n)
					body, _ := wire.RegisterRequest{HWID: hwid, Facts: map[string]string{"soak": "1", "n": fmt.Sprint(n)}}.Encode()
					resp, err := hc.Post(base+wire.DefaultBasePath+"/node/register", "application/json", strings.NewReader(string(body)))
					if err != nil {
						regOther.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
						regOK.Add(1)
						mu.Lock()
						acked[testlab.NormalizeMAC(hwid)] = true
						mu.Unlock()
					case http.StatusTooManyRequests:
						regLimited.Add(1)
						time.Sleep(50 * time.Millisecond)
					default:
						regOther.Add(1)
					}
				}
			})
		}
	}

	// /healthz within a second, every 250 ms, and a TFTP download half
	// way through, from addresses of their own. The probe is curl, a
	// process of its own at nice -10, as a monitoring system on another
	// machine would be: from this process, whose goroutines generate the
	// floods, the probe's own scheduling was measured too (a probe once
	// took 1.04 s while the server's slowest answer was far below).
	wg.Go(func() {
		for ctx.Err() == nil {
			start := time.Now()
			out, err := cli.Command("nice", "-n", "-10", "curl", "-sS", "-o", "/dev/null", "--interface", "10.66.0.9",
				"--max-time", "1", "-w", "%{http_code} %{time_total}", base+"/healthz").Output()
			var code int
			var secs float64
			if err == nil {
				_, err = fmt.Sscan(string(out), &code, &secs)
			}
			took := time.Duration(secs * float64(time.Second))
			if err != nil {
				took = time.Since(start)
			}
			healthN.Add(1)
			if took.Milliseconds() > healthMax.Load() {
				healthMax.Store(took.Milliseconds())
			}
			if err != nil || code != 200 || took > time.Second {
				mu.Lock()
				healthErrs = append(healthErrs, fmt.Sprintf("at %v: HTTP %d, %v (%v)", time.Since(start), code, err, took))
				mu.Unlock()
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	// The node powers on once the floods run.
	time.Sleep(time.Second)
	vm := testlab.StartVM(t, testlab.VMOptions{
		// The server is what the soak measures (/healthz within a
		// second): under TCG the node would otherwise take a whole core
		// from it on a 2-core machine.
		Name: "soak-node", Memory: 512, Netns: srv.Name, Nice: 19,
		NICs:   []testlab.NIC{testlab.TapNIC("sktap", soakNodeMAC)},
		SMBIOS: []string{"type=1,manufacturer=Razor Soak,product=Soak Node,serial=SOAK-0001"},
	})
	soakStart := time.Now()
	ac := &adminapi.Client{Server: base, Token: token, HTTP: &http.Client{Timeout: 5 * time.Second, Transport: probe.Transport}}
	var nodeUp time.Duration
	wg.Go(func() {
		for ctx.Err() == nil {
			if n, err := ac.Node(ctx, soakNodeMAC); err == nil && n.Facts["serialnumber"] == "SOAK-0001" {
				nodeUp = time.Since(vm.Started)
				break
			}
			select {
			case <-ctx.Done():
			case <-vm.Done():
				return
			case <-time.After(time.Second):
			}
		}
		// Keep the floods on for the soak's whole duration at least.
		select {
		case <-ctx.Done():
		case <-time.After(d - time.Since(soakStart)):
		}
		cancel()
	})

	time.Sleep(d / 2)
	out := filepath.Join(dir, "fetched")
	dl := time.Now()
	if b, err := cli.Command("tftp", "-m", "binary", "10.66.0.1", "-c", "get", "undionly.kpxe", out).CombinedOutput(); err != nil {
		t.Errorf("TFTP download under load: %v: %s", err, b)
	} else if got, _ := os.ReadFile(out); len(got) != len(boot) {
		t.Errorf("TFTP download under load: %d bytes, want %d", len(got), len(boot))
	}
	dlTook := time.Since(dl)
	wg.Wait()

	mu.Lock()
	for _, e := range healthErrs {
		t.Errorf("/healthz under load: %s", e)
	}
	mu.Unlock()
	if nodeUp == 0 {
		t.Errorf("the QEMU node did not register within %v of the floods", soakNodeTimeout)
	}
	ac.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: probe.Transport}
	nodes, err := ac.Nodes(context.Background())
	if err != nil {
		t.Fatalf("listing nodes after the soak: %v", err)
	}
	have := map[string]bool{}
	for _, n := range nodes {
		for _, m := range n.MACs {
			have[testlab.NormalizeMAC(m)] = true
		}
	}
	missing := 0
	for m := range acked {
		if !have[m] {
			missing++
		}
	}
	if missing > 0 || len(acked) == 0 {
		t.Errorf("%d of %d acknowledged registrations missing from the store", missing, len(acked))
	}
	metrics := ""
	if resp, err := probe.Get(base + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
	}
	for _, want := range []string{`razor_refused_total{reason="per_addr",svc="http"}`, `razor_refused_total{reason="per_addr",svc="tftp"}`, `razor_log_suppressed_total{event="exhausted"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s after the soak", want)
		}
	}
	p.Stop()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "razor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("store integrity check = %q, %v; want ok", integrity, err)
	}
	t.Logf("soak: a QEMU node (prod microkernel, %s) PXE booted and registered %.1f s after power-on under the floods", testlab.Accel(), nodeUp.Seconds())
	t.Logf("soak %v: DHCP %d DISCOVERs (%d offers); slow bodies %d connections made, %d held past 2 s; TFTP %d RRQs (%d DATA, %d errors); "+
		"registrations %d acknowledged, %d rate-limited, %d other; /healthz %d probes, slowest %d ms; TFTP download under load %v",
		d, discovers.Load(), offers.Load(), slowOpen.Load(), slowHeld.Load(), rrqs.Load(), rrqData.Load(), rrqErr.Load(),
		regOK.Load(), regLimited.Load(), regOther.Load(), healthN.Load(), healthMax.Load(), dlTook.Round(time.Millisecond))
}
