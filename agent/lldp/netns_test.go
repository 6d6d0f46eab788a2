package lldp_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/agent/lldp"
	"github.com/razor-mk/razor-mk/internal/testlab"
)

// A real switch agent, Debian's lldpd, on the far end of a link: the
// listener on the node's end names the switch and its port.
func TestNeighbourFromLLDPD(t *testing.T) {
	testlab.Require(t, "lldpd", "lldpcli")
	node := testlab.NewNetns(t, "lnode")
	sw := testlab.NewNetns(t, "lsw")
	testlab.Veth(t, node, "n0", "", sw, "swp7", "")
	// lldpd's unprivileged half (user _lldpd) must reach its control
	// socket: a directory of its own that others may enter, not under
	// the test's private temporary directory.
	dir, err := os.MkdirTemp("", "lldpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lldpd.sock")
	// -d: foreground; -u: our own control socket; -I: only this port;
	// -M 4: a network device; -ll: keep the logs for a failure.
	testlab.Start(t, "lldpd", sw.Command("lldpd", "-d", "-u", sock, "-I", "swp7", "-M", "4"))
	cli := func(args ...string) {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // lldpd needs a moment to open its socket
			if out, err = sw.Command("lldpcli", append([]string{"-u", sock}, args...)...).CombinedOutput(); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("lldpcli %s: %v: %s", strings.Join(args, " "), err, out)
	}
	cli("configure", "system", "hostname", "rack12-tor1")
	cli("configure", "ports", "swp7", "lldp", "portdescription", "rack12 node 7 eth0")
	cli("configure", "lldp", "tx-interval", "1")
	// (The port VLAN TLV needs VLAN devices, which this kernel may lack;
	// TestParse reads it from the bytes a switch sends.)

	l := &lldp.Listener{Window: 20 * time.Second, Interfaces: func() ([]net.Interface, error) {
		ifi, err := net.InterfaceByName("n0")
		if err != nil {
			return nil, err
		}
		return []net.Interface{*ifi}, nil
	}}
	start := time.Now()
	if err := testlab.InNetns(node.Name, func() error { return l.Run(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	f := l.Facts()
	t.Logf("facts after %v: %v", time.Since(start).Round(time.Millisecond), f)
	for k, want := range map[string]string{
		"lldp_switch_n0":     "rack12-tor1",
		"lldp_port_id_n0":    "",
		"lldp_port_descr_n0": "rack12 node 7 eth0",
		"lldp_interfaces":    "n0",
	} {
		got, ok := f[k]
		if !ok || (want != "" && got != want) {
			t.Errorf("fact %s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	out, _ := exec.Command("ip", "-n", sw.Name, "link", "show", "swp7").Output()
	if mac := strings.Fields(strings.SplitN(string(out), "link/ether", 2)[1])[0]; f["lldp_port_id_n0"] != mac && f["lldp_port_id_n0"] != "swp7" {
		t.Errorf("lldp_port_id_n0 = %q, want the switch port's name or MAC (%s)", f["lldp_port_id_n0"], mac)
	}
}
