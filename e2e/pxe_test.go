package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/adminapi"
)

// The provisioning network of the PXE tests, inside its own namespace.
const (
	pxeBridge   = "br0"
	pxeServerIP = "10.77.0.1"
	pxeCIDR     = pxeServerIP + "/24"
	pxeRange    = "10.77.0.100-10.77.0.199"
	pxeHTTPAddr = ":8026"
)

// Timeouts for one step of a node under TCG on a loaded two-core machine
// (the whole e2e package runs its VMs at once).
const (
	registerTimeout = 6 * time.Minute
	markerTimeout   = 5 * time.Minute
	powerTimeout    = 2 * time.Minute
)

// pxeLab is a provisioning network: a namespace with a bridge, and
// razor-netboot serving full DHCP, router advertisements, TFTP (the iPXE
// binaries) and HTTP on it, with the prod microkernel and the marker
// target in its images directory. Nodes are QEMU machines on taps of the
// bridge that boot from the network.
type pxeLab struct {
	ns     *testlab.TestNetns
	srv    *server
	images string
	taps   int
}

// newPXELab builds what it needs and starts the server, with UEFI nodes
// on iPXE (the signed chain has its own test, TestSecureBoot).
func newPXELab(t *testing.T) *pxeLab {
	t.Helper()
	return newPXELabWith(t, "pxe", "--dhcp-range", pxeRange, "--uefi-loader", "ipxe")
}

// newPXELabWith is newPXELab with the namespace's name prefix and the
// server's DHCP range and loader flags (or a --config file) given.
func newPXELabWith(t *testing.T, prefix string, serverArgs ...string) *pxeLab {
	t.Helper()
	return newPXELabImages(t, prefix, []string{"images/prod.yaml"}, serverArgs...)
}

// newPXELabImages is newPXELabWith with the images built from specs: the
// first goes in as "mk" (and gives the marker its kernel), the others
// under their spec's name ("prod-arm64").
func newPXELabImages(t *testing.T, prefix string, specs []string, serverArgs ...string) *pxeLab {
	t.Helper()
	requireQEMU(t)
	testlab.RequireNetns(t)
	images := t.TempDir()
	var mk string
	for i, spec := range specs {
		dir := buildImage(t, spec)
		name := strings.TrimSuffix(filepath.Base(spec), ".yaml")
		if i == 0 {
			mk, name = dir, "mk"
			testlab.ProbeAccel(filepath.Join(mk, "vmlinuz"))
		}
		// The images directory: the microkernels (with their manifests,
		// so the server boots them) and the marker (without, so it is
		// only served).
		installImage(t, dir, filepath.Join(images, name))
	}
	installMarker(t, mk, filepath.Join(images, "marker"))

	ns := testlab.NewNetns(t, prefix)
	// No duplicate address detection: the bridge's link-local address,
	// which router advertisements come from, is usable at once.
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		if out, err := ns.Command("sysctl", "-qw", k).CombinedOutput(); err != nil {
			t.Fatalf("sysctl %s: %v: %s", k, err, out)
		}
	}
	ns.AddBridge(pxeBridge, pxeCIDR)
	args := append([]string{"--dhcp", "full", "--dhcp-interface", pxeBridge,
		"--tftp", pxeServerIP + ":69", "--images-dir", images,
		// Commands reach a node at once through the long-poll; a short
		// interval brings it back quickly after a server restart.
		"--checkin-interval", "5", "--checkin-wait", "20", "--checkin-skew", "1"}, serverArgs...)
	srv := startServer(t, ns, pxeHTTPAddr, pxeServerIP, args...)
	return &pxeLab{ns: ns, srv: srv, images: images}
}

// installImage puts the image mkbuild wrote in src into dst: every file
// its manifest names (kernel, initrd, signed loaders) and the manifest.
func installImage(t *testing.T, src, dst string) {
	t.Helper()
	m, err := manifest.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{manifest.FileName, m.Kernel.Path, m.Initrd.Path}
	for _, l := range m.Loaders {
		files = append(files, l.Path)
	}
	for _, f := range files {
		linkOrCopy(t, filepath.Join(src, f), filepath.Join(dst, f))
	}
}

// pxeNode is a machine of the lab.
type pxeNode struct {
	name string
	uefi bool
	// secureBoot and httpBoot: see testlab.VMOptions.
	secureBoot, httpBoot bool
	// arch "arm64" is a QEMU virt machine with AAVMF (see
	// testlab.VMOptions).
	arch  string
	hw    vmFacts
	tap   string
	extra []string // more QEMU devices
}

// power switches a node on: a fresh QEMU on the node's tap (created on
// first use) that boots from the network, BIOS with QEMU's iPXE NIC ROM
// or UEFI with OVMF's own PXE (no NIC ROM), and restarts the machine when
// the guest reboots.
func (l *pxeLab) power(t *testing.T, n *pxeNode) *testlab.VM {
	t.Helper()
	if n.tap == "" {
		l.taps++
		n.tap = fmt.Sprintf("tap%d", l.taps)
		l.ns.AddTap(n.tap, pxeBridge)
	}
	cfg := testlab.VMOptions{
		Name: n.name, CPUs: n.hw.cpus, Memory: n.hw.memMiB, UEFI: n.uefi, SecureBoot: n.secureBoot, HTTPBoot: n.httpBoot, Arch: n.arch,
		NICs:   []testlab.NIC{{Netdev: "tap,ifname=" + n.tap + ",script=no,downscript=no", MAC: n.hw.mac}},
		SMBIOS: []string{n.hw.smbios()},
		Netns:  l.ns.Name,
	}
	if n.uefi {
		// No option ROM: OVMF's own virtio-net driver and PXE client
		// fetch iPXE (snponly.efi) over TFTP.
		cfg.Extra = []string{"-global", "virtio-net-pci.romfile="}
	}
	cfg.Extra = append(cfg.Extra, n.extra...)
	return testlab.StartVM(t, cfg)
}

// bmcGUID is the system GUID the UEFI node's BMC holds.
const bmcGUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"

// registeredSince matches the node holding mac once it has registered at
// or after since.
func registeredSince(mac string, since time.Time) func(adminapi.Node) bool {
	return func(n adminapi.Node) bool {
		return hasMAC(n, mac) && len(n.Facts) > 0 && !n.Registered.Before(since)
	}
}

// checkedInSince matches the node id once it has checked in after since.
func checkedInSince(id string, since time.Time) func(adminapi.Node) bool {
	return func(n adminapi.Node) bool {
		return n.ID == id && n.LastCheckin != nil && n.LastCheckin.After(since)
	}
}

// waitLine waits for a console line matching re from line index from and
// returns the index after it.
func waitLine(t *testing.T, vm *testlab.VM, from int, re *regexp.Regexp, timeout time.Duration) (testlab.Line, int) {
	t.Helper()
	l, i, err := vm.WaitFor(context.Background(), from, re, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return l, i + 1
}

// waitExit waits for QEMU to exit.
func waitExit(t *testing.T, vm *testlab.VM, what string, timeout time.Duration) {
	t.Helper()
	select {
	case <-vm.Done():
	case <-time.After(timeout):
		t.Fatalf("QEMU still running %v after %s", timeout, what)
	}
}

// markerPolicy creates a tag matching serial and a policy binding at most
// one node with that tag to the marker target.
func (l *pxeLab) markerPolicy(t *testing.T, name, serial string) adminapi.Policy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rule, err := json.Marshal([]any{"=", []string{"fact", "serialnumber"}, serial})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.srv.Client.CreateTag(ctx, name, rule); err != nil {
		t.Fatalf("CreateTag(%s, %s) = %v", name, rule, err)
	}
	p, err := l.srv.Client.CreatePolicy(ctx, adminapi.Policy{
		Name: name, Tags: []string{name}, MaxCount: 1,
		Target: adminapi.Target{
			Kind:    "kernel",
			Kernel:  "{{.Server}}/images/marker/vmlinuz",
			Initrd:  "{{.Server}}/images/marker/initrd",
			Cmdline: "console=ttyS0,115200n8 quiet razor.marker.node={{.Node}}",
		},
	})
	if err != nil {
		t.Fatalf("CreatePolicy(%s) = %v", name, err)
	}
	return p
}

// policy reads a policy.
func (l *pxeLab) policy(t *testing.T, name string) adminapi.Policy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := l.srv.Client.Policy(ctx, name)
	if err != nil {
		t.Fatalf("Policy(%s) = %v", name, err)
	}
	return p
}

// node reads a node.
func (l *pxeLab) node(t *testing.T, id string) adminapi.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := l.srv.Client.Node(ctx, id)
	if err != nil {
		t.Fatalf("Node(%s) = %v", id, err)
	}
	return n
}

// command queues an admin command for a node and returns when it was
// queued.
func (l *pxeLab) command(t *testing.T, id, cmd string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Now()
	if _, err := l.srv.Client.QueueCommand(ctx, id, cmd); err != nil {
		t.Fatalf("QueueCommand(%s, %s) = %v", id, cmd, err)
	}
	return at
}

// checkDelivered fails unless every command queued for the node has been
// delivered.
func (l *pxeLab) checkDelivered(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmds, err := l.srv.Client.Commands(ctx, id)
	if err != nil {
		t.Fatalf("Commands(%s) = %v", id, err)
	}
	for _, c := range cmds {
		if c.Delivered == nil {
			t.Errorf("command %d (%s) for %s not delivered", c.ID, c.Command, id)
		}
	}
}

// kernelHandoff is the iPXE line printed when the initrd is loaded; the
// kernel starts right after it.
var kernelHandoff = regexp.MustCompile(`/initrd\.\.\..*ok`)

// logBoot logs a boot's milestones relative to power-on.
func logBoot(t *testing.T, vm *testlab.VM, what string, registered time.Time) {
	t.Helper()
	kernel := "?"
	if l, _, err := vm.WaitFor(context.Background(), 0, kernelHandoff, time.Millisecond); err == nil {
		kernel = fmt.Sprintf("%.1f s", l.At.Seconds())
	}
	t.Logf("%s: power-on to kernel %s, to registered %.1f s (%s: %s)", what, kernel,
		registered.Sub(vm.Started).Seconds(), testlab.Accel(), testlab.AccelReason())
}

// TestPXEBootsPolicyTargets is the whole Razor loop over the network, for
// a BIOS node (SeaBIOS, QEMU's iPXE NIC ROM) and a UEFI node (OVMF's own
// PXE, then Debian's snponly.efi over TFTP), booted side by side:
//
//  1. both PXE boot the microkernel and register with facts that match
//     their QEMU hardware;
//  2. an admin reboot reaches the BIOS node, which PXE boots again and
//     registers again; an admin poweroff switches it off (QEMU exits);
//     powered on again, it registers again;
//  3. a tag on the BIOS node's serial and a policy are created: the BIOS
//     node is told to reboot, PXE boots the policy's marker target, whose
//     line appears on its console; the policy's count is 1; the UEFI node,
//     which does not match, stays in the microkernel and keeps checking in;
//  4. the server restarts: no node, binding or count is lost, and the
//     UEFI node checks in with the new process;
//  5. a policy for the UEFI node's serial boots it into the marker too.
func TestPXEBootsPolicyTargets(t *testing.T) {
	t.Parallel()
	lab := newPXELab(t)
	bios := &pxeNode{name: "bios", hw: vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:77:01:01",
		manufacturer: "Razor PXE Inc.", product: "PXE BIOS Box", serial: "E2E-PXE-BIOS",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0001"}}
	uefi := &pxeNode{name: "uefi", uefi: true, hw: vmFacts{cpus: 1, memMiB: 512, mac: "52:54:00:77:01:02",
		manufacturer: "Razor PXE Inc.", product: "PXE UEFI Box", serial: "E2E-PXE-UEFI",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0002"},
		// A BMC (QEMU's simulated one on a KCS interface), as servers have.
		extra: []string{"-device", "ipmi-bmc-sim,id=bmc0,mfg_id=674,product_id=4660,fwrev1=3,fwrev2=0x21,guid=" + bmcGUID,
			"-device", "isa-ipmi-kcs,bmc=bmc0"}}
	// The bridge plays a switch port: LLDP frames go to every node.
	sendLLDP(t, lab.ns, pxeBridge)
	start := time.Now()
	biosVM := lab.power(t, bios)
	uefiVM := lab.power(t, uefi)

	// 1 and 2, BIOS: register; an admin reboot makes it PXE boot and
	// register again; an admin poweroff switches it off; powered on
	// again, it registers again.
	b := lab.srv.waitNode(t, biosVM, "registered with "+bios.hw.mac, registerTimeout, registeredSince(bios.hw.mac, start))
	logBoot(t, biosVM, "BIOS node", time.Now())
	checkFacts(t, b, bios.hw)
	checkBootEvents(t, lab.srv.Client, b.ID)
	// The switch and port it is cabled to, from the LLDP frames (in its
	// first registration, or the one the agent makes when they arrive).
	withLLDP := lab.srv.waitNode(t, biosVM, "reporting its LLDP neighbour", registerTimeout, func(n adminapi.Node) bool {
		return n.ID == b.ID && n.Facts["lldp_interfaces"] != ""
	})
	t.Logf("BIOS node's LLDP neighbour: interfaces %s", withLLDP.Facts["lldp_interfaces"])
	for _, nic := range strings.Split(withLLDP.Facts["lldp_interfaces"], ",") {
		if got := withLLDP.Facts["lldp_switch_"+nic]; got != lldpSwitch {
			t.Errorf("BIOS node fact lldp_switch_%s = %q, want %q", nic, got, lldpSwitch)
		}
		if got := withLLDP.Facts["lldp_port_id_"+nic]; got != lldpPort {
			t.Errorf("BIOS node fact lldp_port_id_%s = %q, want %q", nic, got, lldpPort)
		}
	}
	romStart := regexp.MustCompile(`iPXE \(PCI [0-9a-f:.]+\) starting execution`)
	_, afterFirst := waitLine(t, biosVM, 0, romStart, time.Millisecond)
	rebootAt := lab.command(t, b.ID, "reboot")
	waitLine(t, biosVM, afterFirst, romStart, powerTimeout)
	b = lab.srv.waitNode(t, biosVM, "registered again after the admin reboot", registerTimeout, registeredSince(bios.hw.mac, rebootAt))
	lab.checkDelivered(t, b.ID)
	lab.command(t, b.ID, "poweroff")
	waitExit(t, biosVM, "an admin poweroff", powerTimeout)
	lab.checkDelivered(t, b.ID)
	on := time.Now()
	biosVM = lab.power(t, bios)
	b = lab.srv.waitNode(t, biosVM, "registered again after power-on", registerTimeout, registeredSince(bios.hw.mac, on))
	if !strings.EqualFold(b.UUID, bios.hw.uuid) {
		t.Errorf("BIOS node after power-on: uuid %q, want %q (the same node)", b.UUID, bios.hw.uuid)
	}

	// 1, UEFI: register.
	u := lab.srv.waitNode(t, uefiVM, "registered with "+uefi.hw.mac, registerTimeout, registeredSince(uefi.hw.mac, start))
	logBoot(t, uefiVM, "UEFI node", time.Now())
	checkFacts(t, u, uefi.hw)
	if _, _, err := uefiVM.WaitFor(context.Background(), 0, regexp.MustCompile(`Start PXE over IPv4`), time.Millisecond); err != nil {
		t.Errorf("UEFI console shows no OVMF PXE: %v", err)
	}

	// 3. A policy for the BIOS node: reboot, PXE, marker.
	policyAt := time.Now()
	lab.markerPolicy(t, "marker-bios", bios.hw.serial)
	want := regexp.MustCompile(fmt.Sprintf(`%s node=%s serial=%s uuid=(?i:%s)`, markerPrefix, regexp.QuoteMeta(b.ID),
		regexp.QuoteMeta(bios.hw.serial), regexp.QuoteMeta(bios.hw.uuid)))
	line, _ := waitLine(t, biosVM, 0, want, markerTimeout)
	t.Logf("BIOS node booted its policy's target %.1f s after the policy was created: %q", time.Since(policyAt).Seconds(), line.Text)
	waitExit(t, biosVM, "the marker powered off", powerTimeout)
	if p := lab.policy(t, "marker-bios"); p.Bound != 1 {
		t.Errorf("policy marker-bios bound = %d, want 1", p.Bound)
	}
	if n := lab.node(t, b.ID); n.Policy != "marker-bios" {
		t.Errorf("BIOS node policy = %q, want marker-bios", n.Policy)
	}
	// The UEFI node does not match: it stays in the microkernel, unbound,
	// and keeps checking in.
	lab.srv.waitNode(t, uefiVM, "checking in after the policy", registerTimeout, checkedInSince(u.ID, policyAt))
	if n := lab.node(t, u.ID); n.Policy != "" {
		t.Errorf("UEFI node bound to %q, want no policy", n.Policy)
	}
	// Its BMC, as QEMU's simulated BMC describes itself (Debian 12's
	// QEMU 7.2 does not answer Get System GUID, so no bmc_guid here).
	withBMC := lab.srv.waitNode(t, uefiVM, "reporting its BMC", registerTimeout, func(n adminapi.Node) bool {
		return n.ID == u.ID && n.Facts["bmc_present"] == "true"
	})
	for k, want := range map[string]string{"bmc_ipmi_version": "2.0", "bmc_manufacturer_id": "674", "bmc_manufacturer": "Dell",
		"bmc_product_id": "4660", "bmc_firmware_version": "3.21"} {
		if got := withBMC.Facts[k]; got != want {
			t.Errorf("UEFI node fact %s = %q, want %q (QEMU's BMC)", k, got, want)
		}
	}
	if biosNode := lab.node(t, b.ID); biosNode.Facts["bmc_present"] != "" {
		t.Errorf("BIOS node (no BMC) reports bmc_present = %q", biosNode.Facts["bmc_present"])
	}
	if _, _, err := uefiVM.WaitFor(context.Background(), 0, regexp.MustCompile(markerPrefix), time.Millisecond); err == nil {
		t.Error("UEFI node booted the marker without a matching policy")
	}

	// 4. A server restart loses nothing.
	lab.srv.restart(t)
	restarted := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	nodes, err := lab.srv.Client.Nodes(ctx)
	cancel()
	if err != nil {
		t.Fatalf("Nodes after restart = %v", err)
	}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	if len(nodes) != 2 || !hasNode(nodes, b.ID) || !hasNode(nodes, u.ID) {
		t.Errorf("nodes after restart = %v, want [%s %s]", ids, b.ID, u.ID)
	}
	if n := lab.node(t, b.ID); n.Policy != "marker-bios" {
		t.Errorf("BIOS node policy after restart = %q, want marker-bios", n.Policy)
	}
	if p := lab.policy(t, "marker-bios"); p.Bound != 1 {
		t.Errorf("policy marker-bios bound after restart = %d, want 1", p.Bound)
	}
	lab.srv.waitNode(t, uefiVM, "checking in after the server restart", registerTimeout, checkedInSince(u.ID, restarted))

	// 5. A policy for the UEFI node.
	policyAt = time.Now()
	lab.markerPolicy(t, "marker-uefi", uefi.hw.serial)
	want = regexp.MustCompile(fmt.Sprintf(`%s node=%s serial=%s uuid=(?i:%s)`, markerPrefix, regexp.QuoteMeta(u.ID),
		regexp.QuoteMeta(uefi.hw.serial), regexp.QuoteMeta(uefi.hw.uuid)))
	line, _ = waitLine(t, uefiVM, 0, want, markerTimeout)
	t.Logf("UEFI node booted its policy's target %.1f s after the policy was created: %q", time.Since(policyAt).Seconds(), line.Text)
	waitExit(t, uefiVM, "the marker powered off", powerTimeout)
	if p := lab.policy(t, "marker-uefi"); p.Bound != 1 {
		t.Errorf("policy marker-uefi bound = %d, want 1", p.Bound)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	nodes, err = lab.srv.Client.Nodes(ctx)
	cancel()
	if err != nil || len(nodes) != 2 {
		t.Errorf("nodes at the end = %d (%v), want 2", len(nodes), err)
	}
	t.Logf("scenario took %v", time.Since(start).Round(time.Second))
}

// hasNode reports whether the list holds id.
func hasNode(nodes []adminapi.Node, id string) bool {
	for _, n := range nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}
