// Package powertest runs OpenIPMI's BMC simulator, ipmi_sim (Debian
// package openipmi), for tests: a LAN BMC speaking IPMI v1.5 and v2.0
// (RMCP+) whose chassis power is a process it starts (StartCmd) and
// stops, and optionally a serial port (codec VM) that QEMU's
// ipmi-bmc-extern device connects to.
package powertest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/power"
)

// SimOptions describe one simulated BMC.
type SimOptions struct {
	// Addr and Port are where the LAN interface listens (default
	// 127.0.0.1, a free port).
	Addr string
	Port int
	// SerialPort is where the VM serial interface listens, on
	// 127.0.0.1, for QEMU's ipmi-bmc-extern chardev (default: a free
	// port; ipmi_sim refuses chassis control without one).
	SerialPort int
	// StartCmd is the machine: a shell command ipmi_sim runs on power-on
	// (as sh -c "exec …") and kills on power-off; the chassis is on while
	// it runs. It must write its process id to PIDFile, so that cleanup
	// can stop a machine that outlives the simulator.
	StartCmd string
	PIDFile  string
	// StartNow powers the machine on when the simulator starts.
	StartNow bool
	// PowerOffWait is how long a power-off waits for the machine to shut
	// down gracefully before SIGTERM (default 1 s; ipmi_sim asks only a
	// VM connected to its serial port).
	PowerOffWait int
	Username     string // default "admin"
	Password     string // default "razor-test"
	// Netns, if set, runs the simulator in that namespace.
	Netns *testlab.TestNetns
	// LANAddress, if set, is written to the BMC's LAN configuration
	// (IPMI v2.0 §23.2, parameter 3) before the machine starts: the
	// address the BMC reports as its own (the agent's bmc_ipaddress);
	// ipmi_sim starts with 0.0.0.0.
	LANAddress string
}

// Sim is a running ipmi_sim.
type Sim struct {
	BMC  power.BMC // how to reach it
	Proc *testlab.Proc
	opts SimOptions
}

// Require skips t when ipmi_sim is not installed.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ipmi_sim"); err != nil {
		t.Skip("ipmi_sim not installed (make deps installs openipmi)")
	}
}

// StartSim writes the simulator's configuration in a temporary directory
// and starts it; t.Cleanup stops the machine (by PIDFile) and then the
// simulator.
func StartSim(t testing.TB, o SimOptions) *Sim {
	t.Helper()
	Require(t)
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = testlab.FreePort(t)
	}
	if o.SerialPort == 0 {
		o.SerialPort = testlab.FreePort(t)
	}
	if o.Username == "" {
		o.Username = "admin"
	}
	if o.Password == "" {
		o.Password = "razor-test"
	}
	if o.PowerOffWait == 0 {
		o.PowerOffWait = 1
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "lan.conf")
	emu := filepath.Join(dir, "bmc.emu")
	write(t, conf, lanConf(o))
	// The BMC at IPMB address 0x20 with chassis support (device support
	// 0x9f), as ipmi_sim_cmd(5) describes mc_add.
	write(t, emu, "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n")
	args := []string{"-c", conf, "-f", emu, "-s", state, "-n"}
	var cmd *exec.Cmd
	if o.Netns != nil {
		cmd = o.Netns.Command("ipmi_sim", args...)
	} else {
		cmd = exec.Command("ipmi_sim", args...)
	}
	s := &Sim{opts: o, BMC: power.BMC{Host: o.Addr, Port: o.Port, Username: o.Username, Password: o.Password}}
	s.Proc = testlab.Start(t, "ipmi_sim", cmd)
	// Registered after Start, so it runs first: the machine goes before
	// the simulator (whose output pipe the machine shares).
	t.Cleanup(s.killMachine)
	s.waitListening(t)
	if o.LANAddress != "" {
		s.configure(t)
	}
	return s
}

// configure sets the LAN address over RMCP+ (from inside the namespace),
// then powers the machine on when StartNow asks: ipmi_sim itself was told
// not to, so that the machine never sees the unset address.
func (s *Sim) configure(t testing.TB) {
	t.Helper()
	ip, err := netip.ParseAddr(s.opts.LANAddress)
	if err != nil || !ip.Is4() {
		t.Fatalf("powertest: LANAddress %q: want an IPv4 address", s.opts.LANAddress)
	}
	fn := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := client.NewClient(s.BMC.Host, s.BMC.Port, s.BMC.Username, s.BMC.Password)
		if err != nil {
			return err
		}
		c.WithCipherSuiteID(3)
		if err := c.Connect(ctx); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer c.Close(ctx)
		b := ip.As4()
		if _, err := c.SetLanConfigParam(ctx, 1, types.LanConfigParamSelector_IP, b[:]); err != nil {
			return fmt.Errorf("set LAN address: %w", err)
		}
		if s.opts.StartNow {
			if _, err := c.ChassisControl(ctx, chassis.ChassisControlPowerUp); err != nil {
				return fmt.Errorf("power on: %w", err)
			}
		}
		return nil
	}
	if s.opts.Netns != nil {
		err = testlab.InNetns(s.opts.Netns.Name, fn)
	} else {
		err = fn()
	}
	if err != nil {
		t.Fatalf("powertest: configure the BMC: %v\n%s", err, s.Proc.Output())
	}
}

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lanConf is ipmi_sim's configuration (ipmi_lan(5)): one LAN channel
// accepting every authentication type up to admin, one admin user, the
// machine's start command and power-off timings.
func lanConf(o SimOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name \"razortest\"\nset_working_mc 0x20\n  startlan 1\n    addr %s %d\n    priv_limit admin\n", o.Addr, o.Port)
	for _, p := range []string{"callback", "user", "operator", "admin"} {
		fmt.Fprintf(&b, "    allowed_auths_%s none md2 md5 straight\n", p)
	}
	b.WriteString("    guid a123456789abcdefa123456789abcdef\n  endlan\n")
	fmt.Fprintf(&b, "  serial 15 127.0.0.1 %d codec VM\n", o.SerialPort)
	if o.StartCmd != "" {
		// With a LAN address to set first, configure starts the machine.
		now := o.StartNow && o.LANAddress == ""
		fmt.Fprintf(&b, "  startcmd %q\n  startnow %t\n  poweroff_wait %d\n  kill_wait 3\n", o.StartCmd, now, o.PowerOffWait)
	}
	fmt.Fprintf(&b, "  user 2 true %q %q admin 10 none md2 md5 straight\n", o.Username, o.Password)
	return b.String()
}

// waitListening waits until the LAN port is bound (ipmi_sim prints
// nothing when it is ready).
func (s *Sim) waitListening(t testing.TB) {
	t.Helper()
	want := net.JoinHostPort(s.opts.Addr, strconv.Itoa(s.opts.Port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var c *exec.Cmd
		if s.opts.Netns != nil {
			c = s.opts.Netns.Command("ss", "-Hnul")
		} else {
			c = exec.Command("ss", "-Hnul")
		}
		out, _ := c.Output()
		if strings.Contains(string(out), want) {
			return
		}
		select {
		case <-s.Proc.Done():
			t.Fatalf("ipmi_sim exited at start:\n%s", s.Proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("ipmi_sim not listening on %s within 10 s:\n%s", want, s.Proc.Output())
}

// MachinePID is the running machine's process id, 0 when it is off.
func (s *Sim) MachinePID() int {
	if s.opts.PIDFile == "" {
		return 0
	}
	b, err := os.ReadFile(s.opts.PIDFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	// Signal 0 checks existence; a zombie (not yet reaped by ipmi_sim)
	// counts as gone.
	if syscall.Kill(pid, 0) != nil {
		return 0
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			return 0
		}
	}
	return pid
}

// WaitMachine waits until the machine runs (on) or has gone (!on).
func (s *Sim) WaitMachine(t testing.TB, on bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for (s.MachinePID() != 0) != on {
		if time.Now().After(deadline) {
			t.Fatalf("machine on = %t, want %t after %v", !on, on, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killMachine stops the machine the simulator started, which it does not
// stop when it is itself killed.
func (s *Sim) killMachine() {
	if pid := s.MachinePID(); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
