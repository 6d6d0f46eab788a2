package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const helperEnv = "RAZOR_FACTS_TEST_HELPER"

// TestMain runs this test binary as the helper process of
// TestLiveVirtualInterfacesExcluded when helperEnv is set: it gathers the
// facts of the network namespace it runs in and prints them as JSON.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(gatherHelper())
	}
	os.Exit(m.Run())
}

func gatherHelper() int {
	res := Gather(context.Background(), Options{})
	id, err := GetIdentity(Options{})
	out := map[string]any{"facts": res.Facts, "hw_id": id.HWID}
	if err != nil {
		out["identity_error"] = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestLiveVirtualInterfacesExcluded creates, in a network namespace of its
// own, a veth pair, a bridge and a tap device, and checks against the real
// kernel's sysfs that they are listed as interfaces with their addresses,
// but count neither in hw_id nor as NICs.
func TestLiveVirtualInterfacesExcluded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	ns := fmt.Sprintf("rzfacts%04x", rand.IntN(0x10000))
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("netns", "add", ns); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { _ = run("netns", "del", ns) })
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "veth0", "address", "02:aa:bb:cc:dd:01", "type", "veth", "peer", "name", "veth1", "address", "02:aa:bb:cc:dd:02"},
		{"-n", ns, "link", "add", "br0", "address", "02:aa:bb:cc:dd:03", "type", "bridge"},
		{"netns", "exec", ns, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "veth0", "up"},
		{"-n", ns, "link", "set", "veth1", "up"},
		{"-n", ns, "addr", "add", "10.99.0.1/24", "dev", "veth0"},
	} {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper in netns: %v: %s", err, out)
	}
	// The helper's JSON line comes before the test framework's PASS.
	var got struct {
		Facts         map[string]string `json:"facts"`
		HWID          string            `json:"hw_id"`
		IdentityError string            `json:"identity_error"`
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if want := "br0,lo,tap0,veth0,veth1"; got.Facts["interfaces"] != want {
		t.Errorf("interfaces = %q, want %q", got.Facts["interfaces"], want)
	}
	if got.HWID != "" {
		t.Errorf("GetIdentity().HWID = %q, want none: veth, bridge and tap are not physical", got.HWID)
	}
	for k, want := range map[string]string{
		"macaddress_veth0": "02:AA:BB:CC:DD:01",
		"macaddress_br0":   "02:AA:BB:CC:DD:03",
		"ipaddress_veth0":  "10.99.0.1",
		"netmask_veth0":    "255.255.255.0",
		"network_veth0":    "10.99.0.0",
		"ipaddress":        "10.99.0.1",
		"ipaddress_lo":     "127.0.0.1",
		"mk_hw_nic_count":  "0",
	} {
		if got.Facts[k] != want {
			t.Errorf("Facts[%q] = %q, want %q", k, got.Facts[k], want)
		}
	}
}
