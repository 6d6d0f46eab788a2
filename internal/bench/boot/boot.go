package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/mkimage"
)

// The set-ups a node is delivered by.
const (
	setupRazor   = "razor-netboot"
	setupDnsmasq = "dnsmasq DHCP+TFTP"
)

// The firmwares a node boots with.
const (
	fwBIOS   = "BIOS"
	fwUEFI   = "UEFI"
	fwUEFISB = "UEFI-SB" // Secure Boot enforced, Microsoft's keys
	fwARM64  = "ARM64"   // QEMU virt with AAVMF: shimaa64 and GRUB
)

// The benchmark's provisioning network.
const (
	bridge   = "br0"
	serverIP = "10.78.0.1"
	dhcpFrom = "10.78.0.100"
	dhcpTo   = "10.78.0.199"
	httpPort = "8026"
)

// combo is one accelerator, firmware and set-up.
type combo struct {
	accel, firmware, setup string
}

// result is one boot: power-on to the kernel's start and to registration
// (with several nodes at once: of the last node to get there, each node's
// in each).
type result struct {
	kernel, registered time.Duration
	each               []time.Duration
	err                error
}

// nodeMAC is the MAC of node i (0-based) of a boot.
func nodeMAC(i int) string { return fmt.Sprintf("52:54:00:be:00:%02x", i+1) }

type bench struct {
	img     mkimage.Image // the amd64 microkernel
	arm     mkimage.Image // the arm64 one (for ARM64)
	server  string
	ipxeDir string
	work    string
	timeout time.Duration
	log     io.Writer
	cpus    int
	nodes   int // machines powered on at once per boot
}

// kernelStart is iPXE's line for the loaded initrd (HTTP or TFTP; iPXE
// may draw a progress figure before "ok"): the kernel starts right after
// it. Should that line come out garbled, the kernel's own first words
// (the BIOS boot stub's EDD probe, the EFI stub) mark the same moment.
var kernelStart = regexp.MustCompile(`/initrd\.\.\..*ok|Probing EDD|EFI stub: `)

// unknown marks a kernel-start time the console did not show.
const unknown = time.Duration(-1)

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// boot powers one node on in a fresh lab and waits for its registration.
func (b *bench) boot(ctx context.Context, c combo, seq int) (res result, err error) {
	dir := filepath.Join(b.work, fmt.Sprint(seq))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	ns, err := testlab.OpenNetns(fmt.Sprintf("rzboot-%d-%d", os.Getpid(), seq))
	if err != nil {
		return res, err
	}
	defer ns.Close()
	if err := ns.AddBridge(bridge, serverIP+"/24"); err != nil {
		return res, err
	}
	n := max(b.nodes, 1)
	for i := range n {
		if err := ns.AddTap(fmt.Sprintf("tap%d", i), bridge); err != nil {
			return res, err
		}
	}

	// The registration time of each node, from the server's log.
	type reg struct {
		node int
		at   time.Time
	}
	registered := make(chan reg, n)
	filters := make([]*testlab.NodeFilter, n)
	seen := make([]bool, n)
	for i := range filters {
		filters[i] = testlab.NewNodeFilter(nodeMAC(i))
	}
	onServer := func(l testlab.Line) {
		e, ok := testlab.ParseEvent(l.Text)
		for i, f := range filters {
			if ok && f.Match(e) && e.Msg == "node registered" && !seen[i] {
				seen[i] = true
				registered <- reg{i, e.Time}
			}
		}
	}
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", ":" + httpPort,
		"--advertise-ip", serverIP, "--images-dir", filepath.Dir(b.img.Dir), "--log-format", "json",
		// No random first-checkin delay: one node, and the delay is the
		// same in both set-ups (razor.checkin_skew=0 on the command line).
		"--checkin-skew", "0"}
	var peer *testlab.Proc
	switch c.setup {
	case setupRazor:
		args = append(args, "--dhcp", "full", "--dhcp-interface", bridge, "--dhcp-range", dhcpFrom+"-"+dhcpTo,
			"--tftp", serverIP+":69", "--ipxe-dir", b.ipxeDir)
		// UEFI is the iPXE path; Secure Boot takes the default (auto:
		// shim, as the image carries the signed chain).
		if c.firmware == fwUEFI {
			args = append(args, "--uefi-loader", "ipxe")
		}
	case setupDnsmasq:
		args = append(args, "--dhcp", "off", "--tftp", "off")
		conf, err := b.dnsmasqConfig(dir, c.firmware)
		if err != nil {
			return res, err
		}
		peer, err = testlab.StartProc("dnsmasq", ns.Command("dnsmasq", "--keep-in-foreground", "--conf-file="+conf), nil)
		if err != nil {
			return res, err
		}
		defer peer.Stop()
	}
	srv, err := testlab.StartProc("razor-netboot", ns.Command(b.server, args...), onServer)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	if err := waitHealthy(ctx, ns.HTTPClient(), "http://"+serverIP+":"+httpPort, srv); err != nil {
		return res, err
	}
	if peer != nil {
		// dnsmasq is up once it has read its configuration and bound
		// its sockets; it says so on stderr.
		if _, _, err := peer.WaitFor(ctx, 0, regexp.MustCompile(`(?i)started|TFTP root`), 10*time.Second); err != nil {
			return res, fmt.Errorf("dnsmasq did not start: %w\n%s", err, lines(peer.Lines()))
		}
	}

	uefi := c.firmware != fwBIOS
	arch := ""
	if c.firmware == fwARM64 {
		arch = "arm64"
	}
	vms := make([]*testlab.VM, n)
	for i := range vms {
		nic := testlab.TapNIC(fmt.Sprintf("tap%d", i), nodeMAC(i))
		nic.NoROM = uefi // OVMF's own PXE client, not the NIC's iPXE ROM
		vm, err := ns.StartVM(testlab.VMOptions{
			Name: fmt.Sprintf("node%d", i), Accel: c.accel, Memory: 512, CPUs: b.cpus, UEFI: uefi, SecureBoot: c.firmware == fwUEFISB, Arch: arch, NICs: []testlab.NIC{nic},
			SMBIOS: []string{fmt.Sprintf("type=1,manufacturer=Razor Bench,product=Boot Node,serial=BENCH-%04d,uuid=7a3c5e10-4b2d-4f6a-9c8e-1d2f3a4b5c%02x", i+1, i+1)},
		}, dir, nil)
		if err != nil {
			return res, err
		}
		defer vm.Close()
		vms[i] = vm
	}
	vm := vms[0]
	timeout := b.timeout
	if c.firmware == fwARM64 {
		timeout *= 2 // a foreign architecture under TCG
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	exited := make(chan int, n)
	for i, v := range vms {
		go func() {
			<-v.Done()
			exited <- i
		}()
	}
	res.each = make([]time.Duration, n)
	for got := 0; got < n; got++ {
		select {
		case i := <-exited:
			if res.each[i] == 0 {
				return res, fmt.Errorf("QEMU of node %d exited before it registered: %v\n%s", i, vms[i].Err(), lines(tail(vms[i].Lines(), 20)))
			}
			got--
		case r := <-registered:
			res.each[r.node] = r.at.Sub(vms[r.node].Started)
			res.registered = max(res.registered, res.each[r.node])
		case <-srv.Done():
			return res, fmt.Errorf("razor-netboot exited: %v\n%s", srv.Err(), lines(tail(srv.Lines(), 20)))
		case <-timer.C:
			return res, fmt.Errorf("%d of %d nodes registered within %v; first node's console tail:\n%s", got, n, timeout, lines(tail(vm.Lines(), 20)))
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	if n > 1 {
		// Several nodes: the kernel start is not what is measured.
		res.kernel = unknown
		return res, nil
	}
	// The console reader may trail the server log by a moment.
	l, _, err := vm.WaitFor(ctx, 0, kernelStart, 3*time.Second)
	if err != nil {
		// The registration stands; only the kernel-start time of this
		// run is unknown. Show what the console had, to see why.
		var near []string
		for _, cl := range vm.Lines() {
			if strings.Contains(cl.Text, "initrd") || strings.Contains(cl.Text, "EDD") {
				near = append(near, fmt.Sprintf("%q", trunc(cl.Text, 200)))
			}
		}
		fmt.Fprintf(b.log, "60-boot: registered, but no console line marks the kernel start (%v); lines about the initrd: %s\n",
			err, strings.Join(near, ", "))
		res.kernel = unknown
		return res, nil
	}
	res.kernel = l.At
	return res, nil
}

// dnsmasqConfig writes the usual iPXE chain-loading set-up: BIOS PXE
// gets undionly.kpxe, UEFI x86-64 PXE gets ipxe.efi, iPXE (DHCP option
// 175) gets boot.ipxe, a static script that loads the microkernel over
// TFTP. With secure, UEFI PXE gets shimx64.efi instead, which loads the
// image's signed GRUB, whose static grub/grub.cfg loads the microkernel
// over TFTP. dnsmasq serves TFTP as nobody, so the root is
// world-readable.
func (b *bench) dnsmasqConfig(dir, firmware string) (string, error) {
	img := b.img
	if firmware == fwARM64 {
		img = b.arm
	}
	secure := firmware == fwUEFISB || firmware == fwARM64
	root := filepath.Join(dir, "tftp")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{b.work, dir, root} {
		if err := os.Chmod(d, 0o755); err != nil {
			return "", err
		}
	}
	copies := map[string]string{
		filepath.Join(img.Dir, img.Kernel):        "vmlinuz",
		filepath.Join(img.Dir, img.Initrd):        "initrd",
		filepath.Join(b.ipxeDir, "undionly.kpxe"): "undionly.kpxe",
		filepath.Join(b.ipxeDir, "ipxe.efi"):      "ipxe.efi",
	}
	if secure {
		for _, role := range []string{manifest.LoaderShim, manifest.LoaderGRUB} {
			p, ok := img.LoaderPath(role)
			if !ok {
				return "", fmt.Errorf("image %s has no %s loader", img.Name, role)
			}
			copies[filepath.Join(img.Dir, p)] = filepath.Base(p)
		}
		if err := os.MkdirAll(filepath.Join(root, "grub"), 0o755); err != nil {
			return "", err
		}
		cfg := fmt.Sprintf("set timeout=0\nlinux /vmlinuz %s razor.server=http://%s:%s razor.checkin_skew=0\ninitrd /initrd\nboot\n",
			img.Manifest.Cmdline, serverIP, httpPort)
		if err := os.WriteFile(filepath.Join(root, "grub", "grub.cfg"), []byte(cfg), 0o644); err != nil {
			return "", err
		}
	}
	for src, name := range copies {
		if err := copyFile(src, filepath.Join(root, name)); err != nil {
			return "", err
		}
	}
	// Debian's 2019 iPXE under UEFI needs initrd=<name> for the kernel's
	// EFI stub to find the initrd; BIOS kernels ignore it.
	script := fmt.Sprintf("#!ipxe\nkernel tftp://%s/vmlinuz %s razor.server=http://%s:%s razor.checkin_skew=0 initrd=initrd\ninitrd tftp://%s/initrd\nboot\n",
		serverIP, b.img.Manifest.Cmdline, serverIP, httpPort, serverIP)
	if err := os.WriteFile(filepath.Join(root, "boot.ipxe"), []byte(script), 0o644); err != nil {
		return "", err
	}
	efiBoot := "ipxe.efi"
	switch firmware {
	case fwUEFISB:
		efiBoot = "shimx64.efi"
	case fwARM64:
		efiBoot = "shimaa64.efi"
	}
	conf := strings.Join([]string{
		"port=0", // no DNS
		"interface=" + bridge,
		"bind-interfaces",
		"dhcp-range=" + dhcpFrom + "," + dhcpTo + ",255.255.255.0,1h",
		"dhcp-leasefile=" + filepath.Join(dir, "dnsmasq.leases"),
		"dhcp-match=set:ipxe,175",
		"dhcp-vendorclass=set:efi64,PXEClient:Arch:00007",
		"dhcp-vendorclass=set:efi64,PXEClient:Arch:00011",
		"dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe",
		"dhcp-boot=tag:!ipxe,tag:efi64," + efiBoot,
		"dhcp-boot=tag:ipxe,boot.ipxe",
		"enable-tftp",
		"tftp-root=" + root,
		"log-facility=-",
		"pid-file=",
		"",
	}, "\n")
	p := filepath.Join(dir, "dnsmasq.conf")
	return p, os.WriteFile(p, []byte(conf), 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// waitHealthy polls /healthz until it answers.
func waitHealthy(ctx context.Context, hc *http.Client, base string, srv *testlab.Proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
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
			return fmt.Errorf("razor-netboot exited at start: %v\n%s", srv.Err(), lines(tail(srv.Lines(), 20)))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("razor-netboot not healthy within 30 s")
}

func tail(ls []testlab.Line, n int) []testlab.Line {
	if len(ls) > n {
		return ls[len(ls)-n:]
	}
	return ls
}

func lines(ls []testlab.Line) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString("    " + l.Text + "\n")
	}
	return b.String()
}
