package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// sbSteps are the events of a microkernel boot through shim and GRUB: the
// kernel goes over TFTP, as Debian's signed GRUB loads nothing over HTTP.
var sbSteps = []string{"dhcp.", "boot.script", "tftp.send", "node.checkin", "node.registered"}

// TestSecureBoot boots UEFI machines with Secure Boot enforced and
// Microsoft's keys enrolled, as servers ship:
//   - with no loader configured, a node gets shim → Debian's signed
//     netboot GRUB → the per-node GRUB configuration → Debian's signed
//     kernel, registers with secure_boot true, and later boots its
//     policy's kernel target through GRUB too;
//   - a node that a reservation gives iPXE (unsigned) is refused by the
//     firmware: the test really has Secure Boot on.
func TestSecureBoot(t *testing.T) {
	t.Parallel()
	sb := &pxeNode{name: "sb", uefi: true, secureBoot: true, hw: vmFacts{cpus: 1, memMiB: 512, mac: "52:54:00:77:03:01",
		manufacturer: "Razor SB Inc.", product: "Secure Box", serial: "E2E-SB-1",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0301"}}
	unsigned := &pxeNode{name: "unsigned", uefi: true, secureBoot: true, hw: vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:77:03:02",
		manufacturer: "Razor SB Inc.", product: "Secure Box", serial: "E2E-SB-2",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0302"}}
	// The reservation is the per-host loader setting; the rest of the
	// subnet takes the default (auto: shim, as the image has it).
	conf := filepath.Join(t.TempDir(), "razor-netboot.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`dhcp_subnets:
  - subnet: 10.77.0.0/24
    ranges: [%q]
    reservations:
      - mac: %q
        uefi_loader: ipxe
`, pxeRange, unsigned.hw.mac)), 0o644); err != nil {
		t.Fatal(err)
	}
	lab := newPXELabWith(t, "sb", "--config", conf)
	start := time.Now()
	sbVM := lab.power(t, sb)
	unsignedVM := lab.power(t, unsigned)

	n := lab.srv.waitNode(t, sbVM, "registered through shim and GRUB with Secure Boot on", registerTimeout, registeredSince(sb.hw.mac, start))
	logBoot(t, sbVM, "Secure Boot node", time.Now())
	checkFacts(t, n, sb.hw)
	for k, want := range map[string]string{"secure_boot": "true", "boot_mode": "uefi", "lockdown": "integrity"} {
		if got := n.Facts[k]; got != want {
			t.Errorf("Secure Boot node fact %s = %q, want %q", k, got, want)
		}
	}
	for _, re := range []string{`NBP filename is shimx64\.efi`, `Fetching Netboot Image grubx64\.efi`, `Razor: booting microkernel`} {
		if _, _, err := sbVM.WaitFor(context.Background(), 0, regexp.MustCompile(re), time.Millisecond); err != nil {
			t.Errorf("Secure Boot node console lacks %q: %v", re, err)
		}
	}
	checkSteps(t, lab.srv.Client, n.ID, sbSteps)

	// The unsigned iPXE is refused by the firmware, and that node never
	// reaches the server's boot configuration.
	refused := regexp.MustCompile(`failed to load Boot\d+ "UEFI PXEv4 \(MAC:525400770302\)".*Access Denied`)
	if _, _, err := unsignedVM.WaitFor(context.Background(), 0, refused, powerTimeout); err != nil {
		t.Errorf("the firmware did not refuse the unsigned iPXE: %v\n%s", err, tail(unsignedVM.Console(), 20))
	}
	if _, _, err := unsignedVM.WaitFor(context.Background(), 0, regexp.MustCompile(`iPXE initialising|Razor:`), time.Millisecond); err == nil {
		t.Error("the unsigned iPXE ran under Secure Boot")
	}

	// A policy's kernel target (this server's /images/marker) boots
	// through GRUB under Secure Boot: the marker's kernel is Debian's
	// signed one.
	policyAt := time.Now()
	lab.markerPolicy(t, "marker-sb", sb.hw.serial)
	want := regexp.MustCompile(fmt.Sprintf(`%s node=%s serial=%s uuid=(?i:%s)`, markerPrefix, regexp.QuoteMeta(n.ID),
		regexp.QuoteMeta(sb.hw.serial), regexp.QuoteMeta(sb.hw.uuid)))
	line, _ := waitLine(t, sbVM, 0, want, markerTimeout)
	t.Logf("Secure Boot node booted its policy's target through GRUB %.1f s after the policy was created: %q", time.Since(policyAt).Seconds(), line.Text)
	waitExit(t, sbVM, "the marker powered off", powerTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := lab.srv.Client.NodeEvents(ctx, n.ID, adminapi.EventQuery{Types: []string{"boot.script"}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Attrs["kind"]+"/"+e.Attrs["loader"])
	}
	if len(kinds) == 0 || kinds[len(kinds)-1] != "kernel/grub" {
		t.Errorf("boot.script events of the Secure Boot node: %v, want the last kernel/grub", kinds)
	}
}

// TestUEFIHTTPBoot: OVMF with its PXE off boots through UEFI HTTP Boot
// from a server whose TFTP is off: DHCP answers HTTPClient with the iPXE
// URL, iPXE fetches the boot script, the node registers.
func TestUEFIHTTPBoot(t *testing.T) {
	t.Parallel()
	node := &pxeNode{name: "httpboot", uefi: true, httpBoot: true, hw: vmFacts{cpus: 1, memMiB: 512, mac: "52:54:00:77:04:01",
		manufacturer: "Razor HTTP Inc.", product: "HTTP Box", serial: "E2E-HTTP-1",
		uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0401"}}
	lab := newPXELabWith(t, "hb", "--dhcp-range", pxeRange, "--tftp", "off")
	start := time.Now()
	vm := lab.power(t, node)
	n := lab.srv.waitNode(t, vm, "registered through UEFI HTTP Boot", registerTimeout, registeredSince(node.hw.mac, start))
	logBoot(t, vm, "HTTP Boot node", time.Now())
	checkFacts(t, n, node.hw)
	if got := n.Facts["secure_boot"]; got != "false" {
		t.Errorf("HTTP Boot node fact secure_boot = %q, want false (plain OVMF)", got)
	}
	for _, re := range []string{`Start HTTP Boot over IPv4`, `URI: http://10\.77\.0\.1:8026/ipxe/snponly\.efi`} {
		if _, _, err := vm.WaitFor(context.Background(), 0, regexp.MustCompile(re), time.Millisecond); err != nil {
			t.Errorf("HTTP Boot node console lacks %q: %v", re, err)
		}
	}
	if _, _, err := vm.WaitFor(context.Background(), 0, regexp.MustCompile(`Start PXE`), time.Millisecond); err == nil {
		t.Error("the HTTP Boot node tried PXE")
	}
	checkSteps(t, lab.srv.Client, n.ID, bootSteps)
}

// checkSteps checks that node's events hold steps in order, giving the
// server's event writer (which batches) a few seconds.
func checkSteps(t *testing.T, c *adminapi.Client, node string, steps []string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		evs, err := c.NodeEvents(ctx, node, adminapi.EventQuery{})
		cancel()
		if err != nil {
			t.Fatalf("node %s events: %v", node, err)
		}
		if stepsDone(evs, steps) == len(steps) || time.Now().After(deadline) {
			inOrder(t, "API", evs, steps)
			return
		}
		time.Sleep(time.Second)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
