package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/power/powertest"
)

// The lab BMC's LAN address, on the PXE lab's bridge.
const bmcLANIP = "10.77.0.250"

// TestPowerThroughBMC: OpenIPMI's ipmi_sim is the node's BMC, on the
// provisioning network (LAN, RMCP+) and wired to the QEMU machine it
// powers (ipmi-bmc-extern on a KCS interface, over a chardev socket). The
// machine is ipmi_sim's start command: powering on runs QEMU, powering
// off ends it. The node reports the BMC's LAN address as a fact; with a
// global credential and that fact, razor-netboot switches the node off
// through the BMC, reads the state, switches it on, and the node PXE
// boots and checks in. Switched off again and silent past the register
// timeout, the node is bound by an admin to a policy whose target says
// power_cycle: the server powers it up and it boots the target.
func TestPowerThroughBMC(t *testing.T) {
	t.Parallel()
	powertest.Require(t)
	// A node off for longer than the register timeout is no longer in
	// the microkernel: 30 s (not 2 min) keeps the bind step short; a
	// running node checks in at least every 26 s (wait 20 + interval 5 +
	// skew 1).
	lab := newPXELabWith(t, "pwr", "--dhcp-range", pxeRange, "--register-timeout", "30s")
	lab.ns.MustIP("addr", "add", bmcLANIP+"/24", "dev", pxeBridge)
	lab.taps++
	tap := fmt.Sprintf("tap%d", lab.taps)
	lab.ns.AddTap(tap, pxeBridge)
	hw := vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:77:02:01", manufacturer: "Razor PXE Inc.", product: "PXE BMC Box",
		serial: "E2E-PXE-BMC", uuid: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0101"}

	dir := t.TempDir()
	pidFile := filepath.Join(dir, "qemu.pid")
	console := filepath.Join(dir, "console.log")
	serial := testlab.FreePort(t)
	cfg := testlab.VMOptions{Name: "bmc-node", CPUs: hw.cpus, Memory: hw.memMiB,
		NICs: []testlab.NIC{testlab.TapNIC(tap, hw.mac)}, SMBIOS: []string{hw.smbios()},
		Extra: []string{
			"-chardev", fmt.Sprintf("socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=1", serial),
			"-device", "ipmi-bmc-extern,chardev=ipmi0,id=bmc0",
			"-device", "isa-ipmi-kcs,bmc=bmc0",
		}}
	// ipmi_sim runs its start command with sh -c "exec …": a script that
	// records QEMU's pid (for cleanup) and keeps its console.
	var q []string
	for _, a := range cfg.Argv("") {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	script := filepath.Join(dir, "machine.sh")
	body := fmt.Sprintf("#!/bin/sh\necho $$ > %s\nexec %s >> %s 2>&1 </dev/null\n", pidFile, strings.Join(q, " "), console)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(console)
			t.Logf("bmc-node console:\n%s", b)
		}
	})
	start := time.Now()
	sim := powertest.StartSim(t, powertest.SimOptions{Addr: bmcLANIP, Port: 623, SerialPort: serial, LANAddress: bmcLANIP,
		StartCmd: script, PIDFile: pidFile, StartNow: true, Username: "ADMIN", Password: "e2e-Bmc-Pass", Netns: lab.ns})
	sim.WaitMachine(t, true, 10*time.Second)

	n := lab.srv.waitNode(t, nil, "registered with "+hw.mac, registerTimeout, registeredSince(hw.mac, start))
	t.Logf("node %s registered %.0f s after the BMC powered it on", n.ID, time.Since(start).Seconds())
	// The agent read the BMC over KCS, its LAN address included.
	if n.Facts["bmc_present"] != "true" || n.Facts["bmc_ipaddress"] != bmcLANIP {
		t.Errorf("node facts bmc_present=%q bmc_ipaddress=%q, want true and %s", n.Facts["bmc_present"], n.Facts["bmc_ipaddress"], bmcLANIP)
	}
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout+markerTimeout+4*powerTimeout)
	defer cancel()
	c := lab.srv.Client
	// A global credential without an address: the BMC is reached at the
	// node's bmc_ipaddress fact.
	if _, err := c.SetBMC(ctx, "global", adminapi.BMCRequest{Username: "ADMIN", Password: "e2e-Bmc-Pass"}); err != nil {
		t.Fatal(err)
	}
	// The BMC's chassis state follows the machine once it has seen the
	// machine go or come (ipmi_sim notices QEMU's end when its socket
	// closes): a few seconds.
	powerIs := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, err := c.Power(ctx, n.ID, "status")
			if err == nil && r.State == want && r.BMC == "ADMIN@"+bmcLANIP+":623" && r.Credential == "global" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("power-status = %+v, %v; want %s", r, err, want)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	powerIs("on")
	off := time.Now()
	if _, err := c.Power(ctx, n.ID, "off"); err != nil {
		t.Fatalf("power-off: %v", err)
	}
	sim.WaitMachine(t, false, powerTimeout)
	t.Logf("QEMU ended %.1f s after power-off through the BMC", time.Since(off).Seconds())
	powerIs("off")
	on := time.Now()
	if _, err := c.Power(ctx, n.ID, "on"); err != nil {
		t.Fatalf("power-on: %v", err)
	}
	sim.WaitMachine(t, true, 30*time.Second)
	lab.srv.waitNode(t, nil, "checked in after the power-on", registerTimeout, checkedInSince(n.ID, on))
	t.Logf("node %s checked in %.0f s after power-on through the BMC", n.ID, time.Since(on).Seconds())
	powerIs("on")

	// A bind to a policy whose target says power_cycle, of the node once
	// it is off and silent past the register timeout: the server
	// power-cycles it (powers it up), and it PXE boots the target.
	if _, err := c.Power(ctx, n.ID, "off"); err != nil {
		t.Fatalf("power-off: %v", err)
	}
	sim.WaitMachine(t, false, powerTimeout)
	// The policy only once the node is inactive: a policy change answers
	// held long-poll checkins at once, and the one the node left behind
	// when it was switched off would bind it from the dead microkernel.
	lab.srv.waitNode(t, nil, "inactive (silent past the register timeout)", powerTimeout, func(x adminapi.Node) bool {
		return x.ID == n.ID && x.State == "inactive"
	})
	p := lab.markerPolicy(t, "marker-bmc", hw.serial)
	p.Target.PowerCycle = true
	if _, err := c.UpdatePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	bound := time.Now()
	br, err := c.BindNode(ctx, n.ID, "marker-bmc")
	if err != nil || br.Power == nil || br.Power.Action != "cycle" || br.Node.Policy != "marker-bmc" {
		t.Fatalf("bind = %+v, %v; want bound and power-cycled", br, err)
	}
	sim.WaitMachine(t, true, 30*time.Second)
	want := fmt.Sprintf("%s node=%s serial=%s", markerPrefix, n.ID, hw.serial)
	deadline := time.Now().Add(markerTimeout)
	for {
		b, _ := os.ReadFile(console)
		if strings.Contains(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the console within %v of the bind", want, markerTimeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("node %s booted its policy's target %.0f s after the bind power-cycled it", n.ID, time.Since(bound).Seconds())
	sim.WaitMachine(t, false, powerTimeout) // the marker powers off

	evs, err := c.NodeEvents(ctx, n.ID, adminapi.EventQuery{Types: []string{"power.done", "power.failed"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+" "+e.Attrs["action"]+" "+e.Attrs["reason"])
	}
	if want := "power.done off admin,power.done on admin,power.done off admin,power.done cycle bound to marker-bmc"; strings.Join(got, ",") != want {
		t.Errorf("power events = %q, want %q", strings.Join(got, ","), want)
	}
}
