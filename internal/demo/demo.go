package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/mkimage"
	"github.com/razor-mk/razor-mk/server/store"
)

// The demo's provisioning network.
const (
	bridge   = "br0"
	tap      = "tap0"
	serverIP = "10.77.0.1"
	dhcpFrom = "10.77.0.100"
	dhcpTo   = "10.77.0.199"
	httpPort = "8026"
	nodeMAC  = "52:54:00:de:00:01"
)

// The node's SMBIOS identity, which its facts report back.
const (
	nodeManufacturer = "Razor Demo Inc."
	nodeProduct      = "Demo Node"
	nodeSerial       = "DEMO-0001"
	nodeUUID         = "5e1f3a9c-2b4d-4c6e-8f10-d3e0a0de0001"
)

// printer writes timeline lines from several goroutines, timed from
// power-on.
type printer struct {
	mu      sync.Mutex
	out     io.Writer
	powerOn time.Time
}

func (p *printer) event(at time.Time, source, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := at.Sub(p.powerOn).Seconds()
	fmt.Fprintf(p.out, "  %+7.2fs  %-8s %s\n", d, source, text)
}

func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
}

// demo runs the whole show; everything it starts is stopped before it
// returns.
func demo(ctx context.Context, o options, out io.Writer) (err error) {
	if err := testlab.Check("qemu-system-x86_64"); err != nil {
		return err
	}
	server, err := filepath.Abs(o.server)
	if err != nil {
		return err
	}
	if _, err := os.Stat(server); err != nil {
		return fmt.Errorf("razor-netboot binary: %w (run make build)", err)
	}
	img, err := mkimage.New(o.imagesDir, nil).Current()
	if err != nil {
		return fmt.Errorf("microkernel image: %w", err)
	}
	if o.uefi {
		if _, err := os.Stat(testlab.OVMFCode); err != nil {
			return fmt.Errorf("--uefi needs OVMF (Debian package ovmf): %w", err)
		}
	}
	accel, why := o.accel, "requested"
	if accel == "auto" {
		accel, why = testlab.ProbeKVM(filepath.Join(img.Dir, img.Kernel))
	}
	work, err := os.MkdirTemp("", "razor-demo-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	p := &printer{out: out}
	p.say("demo: microkernel %s (%s, kernel %s), QEMU %s (%s)", img.Name, img.Manifest.Variant, img.Manifest.KernelVersion, strings.ToUpper(accel), why)

	// The network: a namespace with a bridge for the server and a tap
	// for the node.
	ns, err := testlab.OpenNetns(o.netns)
	if err != nil {
		return err
	}
	defer func() {
		p.say("demo: cleaning up (node, server, namespace %s)", ns.Name)
		if cerr := ns.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := ns.AddBridge(bridge, serverIP+"/24"); err != nil {
		return err
	}
	if err := ns.AddTap(tap, bridge); err != nil {
		return err
	}

	// The server logs JSON (its errors are shown); the node's timeline is
	// its events, followed through the admin API's event stream.
	registered := make(chan adminapi.Event, 1)
	// Timeline lines wait for the power-on time; closed once it is set,
	// or when demo returns.
	powered := make(chan struct{})
	var powerOnce sync.Once
	markPowered := func() { powerOnce.Do(func() { close(powered) }) }
	defer markPowered()
	var serverLog io.Writer = io.Discard
	if o.serverLog != "" {
		f, err := os.Create(o.serverLog)
		if err != nil {
			return err
		}
		defer f.Close()
		serverLog = f
	}
	onServer := func(l testlab.Line) {
		fmt.Fprintln(serverLog, l.Text)
		e, ok := testlab.ParseEvent(l.Text)
		if !ok {
			return
		}
		if e.Level == "ERROR" {
			p.say("  server error: %s %v", e.Msg, e.Attrs)
		}
	}
	dataDir := filepath.Join(work, "data")
	args := []string{"serve", "--data-dir", dataDir, "--http-addr", ":" + httpPort, "--advertise-ip", serverIP,
		"--dhcp", "full", "--dhcp-interface", bridge, "--dhcp-range", dhcpFrom + "-" + dhcpTo,
		"--tftp", serverIP + ":69", "--images-dir", o.imagesDir,
		"--checkin-interval", "10", "--checkin-wait", "30", "--checkin-skew", "1", "--log-format", "json"}
	srv, err := testlab.StartProc("razor-netboot", ns.Command(server, args...), onServer)
	if err != nil {
		return err
	}
	defer srv.Stop()
	base := "http://" + serverIP + ":" + httpPort
	hc := ns.HTTPClient()
	if err := waitHealthy(ctx, hc, base, srv); err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	client := &adminapi.Client{Server: base, Token: strings.TrimSpace(string(tok)), HTTP: hc}
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	go client.Stream(streamCtx, adminapi.EventQuery{MAC: nodeMAC}, 0, func(e adminapi.Event) error {
		<-powered
		src, text := describe(e)
		p.event(e.Time, src, text)
		if e.Type == "node.registered" {
			select {
			case registered <- e:
			default:
			}
		}
		return nil
	})
	p.say("demo: razor-netboot serves %s on %s: full DHCP %s-%s, TFTP (iPXE binaries), HTTP %s", ns.Name, bridge, dhcpFrom, dhcpTo, base)
	p.say("       (razor-netboot %s)", strings.Join(args, " "))

	// The node.
	firmware := "BIOS: SeaBIOS, QEMU's iPXE NIC ROM"
	if o.uefi {
		firmware = "UEFI: OVMF's PXE, then iPXE (snponly.efi) over TFTP"
	}
	nic := testlab.TapNIC(tap, nodeMAC)
	nic.NoROM = o.uefi // UEFI: OVMF's own PXE client, not the NIC's iPXE ROM
	cfg := testlab.VMOptions{
		Name: "node", Accel: accel, Memory: 512, CPUs: 1, UEFI: o.uefi, NICs: []testlab.NIC{nic},
		SMBIOS: []string{fmt.Sprintf("type=1,manufacturer=%s,product=%s,serial=%s,uuid=%s", nodeManufacturer, nodeProduct, nodeSerial, nodeUUID)},
	}
	var console io.Writer = io.Discard
	if o.console != "" {
		f, err := os.Create(o.console)
		if err != nil {
			return err
		}
		defer f.Close()
		console = f
	}
	onConsole := func(l testlab.Line) {
		<-powered
		fmt.Fprintf(console, "[%8.3f] %s\n", l.Time.Sub(p.powerOn).Seconds(), l.Text)
		if text, ok := milestone(l.Text); ok {
			p.event(l.Time, "console", text)
		}
	}
	vm, err := ns.StartVM(cfg, work, onConsole)
	if err != nil {
		return err
	}
	p.powerOn = vm.Started
	markPowered()
	defer vm.Close()
	p.say("demo: node %s powered on (%s, %d MiB, 1 CPU); timeline from power-on:", nodeMAC, firmware, cfg.Memory)
	p.event(vm.Started, "qemu", "power on: qemu-system-x86_64 "+strings.Join(vm.Cmd.Args[5:], " "))

	var reg adminapi.Event
	select {
	case reg = <-registered:
	case <-vm.Done():
		return fmt.Errorf("QEMU exited before the node registered: %v", vm.Err())
	case <-srv.Done():
		return fmt.Errorf("razor-netboot exited: %v", srv.Err())
	case <-ctx.Done():
		return fmt.Errorf("the node did not register: %w (console tail below)\n%s", ctx.Err(), tail(vm.Lines(), 15))
	}
	n, err := client.Node(ctx, reg.Node)
	if err != nil {
		return fmt.Errorf("reading the node back: %w", err)
	}
	p.say("")
	p.say("demo: node %s registered %.1f s after power-on (QEMU %s).", n.ID, reg.Time.Sub(vm.Started).Seconds(), strings.ToUpper(accel))
	printNode(out, n)
	return nil
}

// waitHealthy polls /healthz until it answers.
func waitHealthy(ctx context.Context, hc *http.Client, base string, srv *testlab.Proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-srv.Done():
			return fmt.Errorf("razor-netboot exited at start: %v\n%s", srv.Err(), tail(srv.Lines(), 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("razor-netboot not healthy within 30 s:\n%s", tail(srv.Lines(), 20))
		}
	}
}

func tail(lines []testlab.Line, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    " + l.Text + "\n")
	}
	return b.String()
}

// factOrder is the readable subset of facts the demo prints, in order.
var factOrder = []string{
	"hostname", "architecture", "processorcount", "physicalprocessorcount", "processor0",
	"memorysize", "memorysize_mb", "manufacturer", "productname", "serialnumber", "uuid",
	"is_virtual", "virtual", "interfaces", "macaddress", "ipaddress", "mk_hw_nic_count",
	"blockdevices", "mk_hw_disk_count", "mk_hw_fw_vendor", "mk_hw_fw_version",
}

// printNode prints the node's identity, a subset of its facts and its
// tags.
func printNode(w io.Writer, n adminapi.Node) {
	fmt.Fprintf(w, "\nnode %s  uuid %s  macs %s  state %s\n", n.ID, n.UUID, strings.Join(n.MACs, " "), n.State)
	fmt.Fprintf(w, "facts (%d in all; a readable subset):\n", len(n.Facts))
	for _, k := range factOrder {
		if v, ok := n.Facts[k]; ok && v != "" {
			fmt.Fprintf(w, "  %-24s %s\n", k, v)
		}
	}
	tags := append([]string(nil), n.Tags...)
	sort.Strings(tags)
	fmt.Fprintf(w, "tags: %s\n", strings.Join(tags, " "))
}

// describe turns one of the node's events into a timeline entry: its
// source (the event's family) and what events.Describe says of it.
func describe(e adminapi.Event) (source, text string) {
	text, _ = events.Describe(store.Event{ID: e.ID, At: e.Time, Type: e.Type, Node: e.Node, MAC: e.MAC, Attrs: e.Attrs})
	source, _, _ = strings.Cut(e.Type, ".")
	switch source {
	case "dhcp", "tftp", "http":
		source = strings.ToUpper(source)
		_, text, _ = strings.Cut(text, " ")
	case "boot":
		source = "HTTP"
	}
	return source, text
}

// milestones are the console lines the timeline shows.
var milestones = []struct {
	re   *regexp.Regexp
	text string
}{
	{regexp.MustCompile(`^SeaBIOS \(version`), "firmware: SeaBIOS"},
	{regexp.MustCompile(`iPXE \(PCI [0-9a-f:.]+\) starting execution`), "firmware runs the NIC's iPXE ROM"},
	{regexp.MustCompile(`>>Start PXE over IPv4`), "firmware: OVMF starts PXE"},
	{regexp.MustCompile(`NBP file downloaded successfully`), "firmware loaded iPXE over TFTP"},
	{regexp.MustCompile(`^iPXE .* -- Open Source Network Boot Firmware`), "iPXE running"},
	{regexp.MustCompile(`/initrd\.\.\..*ok`), "kernel and initrd loaded: the kernel starts"},
	{regexp.MustCompile(`Linux version \d`), "kernel: Linux version banner"},
	{regexp.MustCompile(`msg="init started"`), "microkernel: /init (mk-agent init) started"},
	{regexp.MustCompile(`msg="modules loaded"`), "microkernel: drivers loaded"},
	{regexp.MustCompile(`msg="network up"`), "microkernel: network up"},
	{regexp.MustCompile(`Microkernel Controller starting`), "microkernel: controller (mk-agent run) starting"},
}

// milestone reports whether a console line is one the timeline shows.
func milestone(line string) (string, bool) {
	for _, m := range milestones {
		if m.re.MatchString(line) {
			return m.text, true
		}
	}
	return "", false
}
