package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/cli"
	"github.com/razor-mk/razor-mk/internal/daemon"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/power/powertest"
	"github.com/razor-mk/razor-mk/wire"
)

// TestBMCCLIRefusesBadInput: bmc set checks its flags before asking the
// server, naming the flag.
func TestBMCCLIRefusesBadInput(t *testing.T) {
	t.Setenv("RAZOR_SERVER", "http://127.0.0.1:1")
	t.Setenv("RAZOR_TOKEN", "x")
	t.Setenv("RAZOR_BMC_PASSWORD", "")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bmc", "set", "global", "--password-file", pwFile}, "--username is required"},
		{[]string{"bmc", "set", "global", "--username", "admin"}, "no password"},
		{[]string{"bmc", "set", "global", "--username", "admin", "--password-file", "/nonexistent"}, "--password-file"},
		{[]string{"bmc", "set", "global", "--username", "admin", "--password-file", pwFile, "--address", "10.0.0.1:99999"}, "--address"},
		{[]string{"bmc", "set", "global", "--username", "admin", "--password-file", pwFile, "--address", "bad host"}, "--address"},
		{[]string{"nodes", "power-reset", "node1"}, "unknown command"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v = %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}

// TestPowerCLIAgainstSimulator drives the whole path without a VM: the
// CLI → the admin API → core → IPMI over RMCP+ on loopback → OpenIPMI's
// ipmi_sim, whose "machine" is a sleep process.
func TestPowerCLIAgainstSimulator(t *testing.T) {
	powertest.Require(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "machine.pid")
	sim := powertest.StartSim(t, powertest.SimOptions{
		StartCmd: fmt.Sprintf("sh -c 'echo $$ > %s; exec sleep 600'", pidFile),
		PIDFile:  pidFile, Password: "cli-Secret-1",
	})
	url, dataDir := startDaemon(t)
	t.Setenv("RAZOR_DATA_DIR", dataDir)
	t.Setenv("RAZOR_SERVER", url)
	t.Setenv("RAZOR_TOKEN", "")
	t.Setenv("RAZOR_BMC_PASSWORD", "")

	body, _ := wire.RegisterRequest{HWID: "525400000001", Facts: map[string]string{"bmc_ipaddress": "127.0.0.1"}}.Encode()
	resp, err := http.Post(url+wire.DefaultRegisterPath, wire.ContentTypeJSON, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	keyFile := filepath.Join(dataDir, daemon.SecretKeyFile)
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Errorf("key file before any credential: %v, want none", err)
	}
	// The global credential, with the simulator's port; the host is the
	// node's bmc_ipaddress fact. The password comes from stdin.
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetIn(strings.NewReader("cli-Secret-1\n"))
	err = cli.Execute(t.Context(), cmd, []string{"bmc", "set", "global", "--username", "admin", "--address", "127.0.0.1:" + strconv.Itoa(sim.BMC.Port), "--password-file", "-"}, &stdout, &stderr)
	if err != nil || stdout.String() != "set BMC credential global (user admin, password set)\n" {
		t.Fatalf("bmc set = %q, %v", stdout.String(), err)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file = %v, %v; want mode 0600", st, err)
	}
	for _, args := range [][]string{{"bmc", "list"}, {"bmc", "show", "global", "-o", "json"}, {"bmc", "list", "-o", "yaml"}} {
		out, _, err := runCLI(t, args...)
		if err != nil || strings.Contains(out, "cli-Secret-1") || !strings.Contains(out, "admin") {
			t.Errorf("%v = %q, %v; want the credential without its password", args, out, err)
		}
	}
	// Nor in the database.
	db, _ := os.ReadFile(filepath.Join(dataDir, "razor.db"))
	wal, _ := os.ReadFile(filepath.Join(dataDir, "razor.db-wal"))
	if bytes.Contains(db, []byte("cli-Secret-1")) || bytes.Contains(wal, []byte("cli-Secret-1")) {
		t.Errorf("the password is in the database in clear")
	}

	out, _, err := runCLI(t, "nodes", "power-status", "node1")
	if err != nil || !strings.HasPrefix(out, "node1: power off (global, via admin@127.0.0.1:") {
		t.Errorf("power-status = %q, %v", out, err)
	}
	if out, _, err = runCLI(t, "nodes", "power-on", "52:54:00:00:00:01"); err != nil || !strings.HasPrefix(out, "node1: power on") {
		t.Errorf("power-on = %q, %v", out, err)
	}
	sim.WaitMachine(t, true, 10*time.Second)
	if out, _, err = runCLI(t, "nodes", "power-off", "node1", "-o", "json"); err != nil {
		t.Errorf("power-off = %q, %v", out, err)
	}
	var r adminapi.PowerResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.State != "off" || r.Action != "off" || r.Credential != "global" {
		t.Errorf("power-off -o json = %q, %v", out, err)
	}
	sim.WaitMachine(t, false, 15*time.Second)

	// A bind to a power_cycle policy of a node outside the microkernel is
	// refused here: the node registered just now, so it is in the
	// microkernel and is bound without a power action.
	if _, _, err := runCLI(t, "policies", "create", "install", "--local", "exit", "--power-cycle"); err != nil {
		t.Fatal(err)
	}
	if out, _, err = runCLI(t, "nodes", "bind", "node1", "install"); err != nil || out != "bound node1 to install\n" {
		t.Errorf("nodes bind = %q, %v", out, err)
	}
	out, _, err = runCLI(t, "policies", "show", "install", "-o", "yaml")
	if err != nil || !strings.Contains(out, "power_cycle: true") {
		t.Errorf("policies show = %q, %v; want power_cycle: true", out, err)
	}

	// A wrong password: a 502 naming the BMC, never the password.
	t.Setenv("RAZOR_BMC_PASSWORD", "wrong-Secret-2")
	if _, _, err := runCLI(t, "bmc", "set", "node:node1", "--username", "admin", "--address", "127.0.0.1:"+strconv.Itoa(sim.BMC.Port)); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "nodes", "power-status", "node1")
	if err == nil || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "admin@127.0.0.1") || strings.Contains(err.Error(), "wrong-Secret-2") {
		t.Errorf("power-status with a wrong password = %v, want a 502 naming the BMC", err)
	}
	out, _, err = runCLI(t, "nodes", "events", "node1")
	if err != nil || !strings.Contains(out, "power.done         action=on") || !strings.Contains(out, "action=off") || strings.Contains(out, "Secret") {
		t.Errorf("nodes events = %q, %v; want the power actions, no password", out, err)
	}
	if _, _, err := runCLI(t, "bmc", "delete", "node:node1"); err != nil {
		t.Error(err)
	}
}
