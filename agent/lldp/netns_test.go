package lldp_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/agent/lldp"
	"github.com/razor-mk/razor-mk/internal/testlab"
)

// A real switch agent, Debian's lldpd, on the far end of a link: the
// listener on the node's end names the switch and its port.
func TestNeighbourFromLLDPD(t *testing.T) {
	node := testlab.NewNetns(t, "lnode")
	sw := testlab.NewNetns(t, "lsw")
	testlab.Veth(t, node, "n0", "", sw, "swp7", "")
	testlab.StartLLDPD(t, sw, "swp7", "rack12-tor1", []string{"configure", "ports", "swp7", "lldp", "portdescription", "rack12 node 7 eth0"})
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
