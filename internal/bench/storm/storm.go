package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/razor-mk/razor-mk/wire"
	"github.com/vishvananda/netlink"
)

// Options configure a storm.
type Options struct {
	// Interface is the client interface: the nodes' DHCP socket is bound
	// to it and their leased addresses are added to it.
	Interface string
	// Nodes is how many nodes power on (200 if 0).
	Nodes int
	// Spread: power-on times are spread evenly over it.
	Spread time.Duration
	// Timeout: a node not registered by then has failed (180 s if 0).
	Timeout time.Duration
	// NoTFTP skips the ROM's TFTP download (the DHCP answer's file is
	// then not fetched).
	NoTFTP bool
	// Progress, if set, gets a line every two seconds.
	Progress io.Writer
	// Logger gets per-node failures at debug level; nil discards.
	Logger *slog.Logger
}

// Phases of a node's boot, in order; a node's time of each is when it
// ended, measured from its power-on.
const (
	phROMDHCP  = iota // DHCP as the PXE ROM
	phTFTP            // the boot file over TFTP
	phIPXEDHCP        // DHCP as iPXE
	phScripts         // chain script and per-node script
	phImages          // kernel and initrd over HTTP
	phKernel          // DHCP as the booted kernel
	phRegister        // first checkin and registration
	nPhases
)

var phaseNames = [nPhases]string{"ROM DHCP", "TFTP", "iPXE DHCP", "scripts", "kernel+initrd", "kernel DHCP", "checkin+register"}

// nodeResult is one node's outcome.
type nodeResult struct {
	ends  [nPhases]time.Duration // cumulative, from power-on
	bytes int64                  // kernel and initrd bytes received
	err   error
}

// Result is a storm's outcome.
type Result struct {
	Nodes, Registered int
	Errors            map[string]int // error message (node specifics removed) → count
	Total             []time.Duration
	Phase             [nPhases][]time.Duration // duration of each phase of registered nodes
	Bytes             int64
	// DHCPRetries and TFTPRetries count messages sent again after a
	// timeout, by all nodes.
	DHCPRetries, TFTPRetries int64
}

// Run powers on o.Nodes nodes and waits until each has registered or
// failed.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Nodes <= 0 {
		o.Nodes = 200
	}
	if o.Timeout <= 0 {
		o.Timeout = 180 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Nodes > 0xffff {
		return nil, errors.New("storm: at most 65535 nodes")
	}
	link, err := netlink.LinkByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("storm: interface %q: %w", o.Interface, err)
	}
	dc, err := listenDHCP(ctx, o.Interface, o.Logger)
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	s := &storm{o: o, dhcp: dc, link: link, added: map[netip.Addr]bool{}}

	results := make([]nodeResult, o.Nodes)
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.Nodes {
		at := time.Duration(0)
		if o.Nodes > 1 {
			at = o.Spread * time.Duration(i) / time.Duration(o.Nodes-1)
		}
		wg.Go(func() {
			defer done.Add(1)
			select {
			case <-time.After(time.Until(start.Add(at))):
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			nctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			results[i] = s.node(nctx, i)
			if results[i].err != nil {
				o.Logger.Debug("storm: node failed", "node", i, "err", results[i].err)
			}
		})
	}
	if o.Progress != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					fmt.Fprintf(o.Progress, "storm: %.0fs: %d of %d nodes done\n", time.Since(start).Seconds(), done.Load(), o.Nodes)
				}
			}
		}()
	}
	wg.Wait()
	res := summarise(results)
	res.DHCPRetries, res.TFTPRetries = dc.retries.Load(), s.tftpRetries.Load()
	return res, nil
}

// storm is the state the nodes share.
type storm struct {
	o    Options
	dhcp *dhcpConn
	link netlink.Link

	mu    sync.Mutex
	added map[netip.Addr]bool

	tftpRetries atomic.Int64 // TFTP packets sent again after a timeout
}

// mac is node i's MAC, locally administered: 02:52:4d:00:HH:LL.
func mac(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x52, 0x4d, 0x00, byte(i >> 8), byte(i)}
}

// Options a PXE ROM and iPXE send (BIOS, x86).
var (
	optPXE  = dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	optArch = dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))
	optIPXE = dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE")))
)

// node boots node i: see the package doc.
func (s *storm) node(ctx context.Context, i int) (r nodeResult) {
	t0 := time.Now()
	hw := mac(i)
	mark := func(p int) { r.ends[p] = time.Since(t0) }
	fail := func(phase string, err error) nodeResult {
		r.err = fmt.Errorf("%s: %w", phase, err)
		return r
	}

	// 1. The PXE ROM.
	ack, err := s.dhcp.dora(ctx, hw, optPXE, optArch)
	if err != nil {
		return fail("ROM dhcp", err)
	}
	ip, err := s.addLease(ack)
	if err != nil {
		return fail("ROM dhcp", err)
	}
	mark(phROMDHCP)
	if !s.o.NoTFTP {
		server := ack.ServerIPAddr
		if server == nil || server.IsUnspecified() {
			server = ack.ServerIdentifier()
		}
		srv, ok := netip.AddrFromSlice(server.To4())
		if !ok || ack.BootFileName == "" {
			return fail("ROM dhcp", fmt.Errorf("no next server or boot file in the ACK (file %q)", ack.BootFileName))
		}
		if _, err := tftpGet(ctx, ip, srv, ack.BootFileName, &s.tftpRetries); err != nil {
			return fail("ROM tftp", err)
		}
	}
	mark(phTFTP)

	// 2. iPXE.
	ack, err = s.dhcp.dora(ctx, hw, optPXE, optArch, optIPXE)
	if err != nil {
		return fail("iPXE dhcp", err)
	}
	if ip, err = s.addLease(ack); err != nil {
		return fail("iPXE dhcp", err)
	}
	mark(phIPXEDHCP)
	hc := httpClient(ip)
	defer hc.CloseIdleConnections()
	scriptURL := ack.BootFileName
	if !strings.HasPrefix(scriptURL, "http://") {
		return fail("iPXE dhcp", fmt.Errorf("boot file %q is not a script URL", scriptURL))
	}
	chain, err := get(ctx, hc, scriptURL, io.Discard)
	if err != nil {
		return fail("chain script", err)
	}
	if !strings.Contains(chain, "chain") && !strings.Contains(chain, "kernel ") {
		return fail("chain script", fmt.Errorf("neither chain nor kernel in %q", firstLine(chain)))
	}
	u := strings.SplitN(scriptURL, "?", 2)[0] + "?" + url.Values{
		"mac": {strings.ReplaceAll(hw.String(), ":", "-")}, "arch": {"x86_64"}, "platform": {"pcbios"},
	}.Encode()
	script, err := get(ctx, hc, u, io.Discard)
	if err != nil {
		return fail("boot script", err)
	}
	kernel, initrd, cmdline := parseScript(script)
	if kernel == "" || initrd == "" {
		return fail("boot script", fmt.Errorf("no kernel and initrd in the script: %q", firstLine(script)))
	}
	mark(phScripts)

	// The kernel and initrd, as the script says.
	var n counter
	for _, f := range []string{kernel, initrd} {
		if _, err := get(ctx, hc, f, &n); err != nil {
			return fail("images", err)
		}
	}
	r.bytes = int64(n)
	mark(phImages)
	hc.CloseIdleConnections()

	// 3. The booted kernel's DHCP client, then the agent.
	ack, err = s.dhcp.dora(ctx, hw)
	if err != nil {
		return fail("kernel dhcp", err)
	}
	if ip, err = s.addLease(ack); err != nil {
		return fail("kernel dhcp", err)
	}
	mark(phKernel)
	hc = httpClient(ip)
	defer hc.CloseIdleConnections()
	server, token := kernelArg(cmdline, "razor.server"), kernelArg(cmdline, "razor.token")
	if server == "" {
		// The microkernel's default: the host of the script's URL.
		pu, err := url.Parse(scriptURL)
		if err != nil {
			return fail("checkin", err)
		}
		server = "http://" + pu.Host
	}
	server = strings.TrimSuffix(server, "/")
	hwid := strings.ReplaceAll(hw.String(), ":", "")
	q := wire.CheckinRequest{HWID: hwid, FirstCheckin: true, Token: token}.Query()
	body, err := get(ctx, hc, server+wire.DefaultCheckinPath+"?"+q.Encode(), io.Discard)
	if err != nil {
		return fail("checkin", err)
	}
	reply, _, err := wire.ParseReply([]byte(body))
	if err != nil {
		return fail("checkin", err)
	}
	if c := reply.Command(); c != wire.Register {
		return fail("checkin", fmt.Errorf("command %q (errcode %d %s), want register", c, reply.ErrCode, reply.Error))
	}
	reg, err := wire.RegisterRequest{HWID: hwid, Token: token, Facts: facts(i, hw, ip)}.Encode()
	if err != nil {
		return fail("register", err)
	}
	body, err = post(ctx, hc, server+wire.DefaultRegisterPath, reg)
	if err != nil {
		return fail("register", err)
	}
	if reply, _, err = wire.ParseReply([]byte(body)); err != nil {
		return fail("register", err)
	}
	if reply.ErrCode != 0 {
		return fail("register", fmt.Errorf("errcode %d: %s", reply.ErrCode, reply.Error))
	}
	mark(phRegister)
	return r
}

// addLease adds the ACK's address to the client interface (once), so
// that the node's traffic comes from it.
func (s *storm) addLease(ack *dhcpv4.DHCPv4) (netip.Addr, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return netip.Addr{}, errors.New("no address in the ACK")
	}
	ones := 24
	if m := ack.SubnetMask(); m != nil {
		ones, _ = m.Size()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.added[ip] {
		return ip, nil
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ones, 32)}}
	if err := netlink.AddrAdd(s.link, a); err != nil && !errors.Is(err, errExist) {
		return netip.Addr{}, fmt.Errorf("adding %s to %s: %w", a.IPNet, s.o.Interface, err)
	}
	s.added[ip] = true
	return ip, nil
}

// httpClient makes a node's HTTP client: connections from ip, one
// connection kept, everything bounded.
func httpClient(ip netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)), Timeout: 10 * time.Second}
	return &http.Client{
		Timeout: 120 * time.Second,
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			MaxIdleConnsPerHost:   1,
			ResponseHeaderTimeout: 60 * time.Second,
			DisableCompression:    true,
		},
	}
}

// get fetches u; a small body (a script, a reply) is returned, a large
// one only copied to w.
func get(ctx context.Context, hc *http.Client, u string, w io.Writer) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	return do(hc, req, w)
}

func post(ctx context.Context, hc *http.Client, u string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", wire.ContentTypeJSON)
	return do(hc, req, io.Discard)
}

func do(hc *http.Client, req *http.Request, w io.Writer) (string, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength <= 64<<10 || resp.ContentLength < 0 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return string(b), fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, firstLine(string(b)))
		}
		_, err = w.Write(b)
		return string(b), err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && n != resp.ContentLength {
		err = fmt.Errorf("%s: %d of %d bytes", req.URL.Path, n, resp.ContentLength)
	}
	return "", err
}

// counter is an io.Writer that counts.
type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

// parseScript finds the kernel and initrd URLs of an iPXE script and the
// kernel's command line.
func parseScript(s string) (kernel, initrd, cmdline string) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(strings.SplitN(sc.Text(), "||", 2)[0])
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "kernel":
			kernel, cmdline = f[1], strings.Join(f[2:], " ")
		case "initrd":
			initrd = f[1]
		}
	}
	return kernel, initrd, cmdline
}

// kernelArg returns the value of key= on a kernel command line.
func kernelArg(cmdline, key string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// facts are a node's registration facts, a few as the agent sends.
func facts(i int, hw net.HardwareAddr, ip netip.Addr) map[string]string {
	return map[string]string{
		"hostname": fmt.Sprintf("storm%03d", i), "macaddress": hw.String(), "ipaddress": ip.String(),
		"processorcount": "2", "memorysize_mb": "4096", "manufacturer": "Razor storm", "productname": "simulated",
		"serialnumber": fmt.Sprintf("STORM%05d", i), "architecture": "x86_64",
	}
}

// errExist is netlink's answer for an address already on the interface.
var errExist = syscall.EEXIST
