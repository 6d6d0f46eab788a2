package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
)

// lldpSwitch is the system name the lab's switch agent announces.
const lldpSwitch = "e2e-tor1"

// startLLDPD runs Debian's lldpd on the lab's bridge as a switch would on
// the node's port: it announces lldpSwitch every second, so nodes on the
// bridge hear it within their LLDP window.
func startLLDPD(t *testing.T, ns *testlab.TestNetns, bridge string) {
	t.Helper()
	testlab.Require(t, "lldpd", "lldpcli")
	// lldpd's unprivileged half must reach its control socket: a
	// directory others may enter.
	dir, err := os.MkdirTemp("", "lldpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lldpd.sock")
	testlab.Start(t, "lldpd", ns.Command("lldpd", "-d", "-u", sock, "-I", bridge, "-M", "4"))
	for _, args := range [][]string{
		{"configure", "system", "hostname", lldpSwitch},
		{"configure", "lldp", "tx-interval", "1"},
	} {
		var out []byte
		for range 50 {
			if out, err = ns.Command("lldpcli", append([]string{"-u", sock}, args...)...).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("lldpcli %v: %v: %s", args, err, out)
		}
	}
}
