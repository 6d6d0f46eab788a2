package power_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/power/powertest"
)

func TestParseAction(t *testing.T) {
	for in, want := range map[string]power.Action{"on": power.On, "power-off": power.Off, "cycle": power.Cycle, "power-status": power.Status} {
		if got, err := power.ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "reboot", "power-", "ON"} {
		if _, err := power.ParseAction(in); !errors.Is(err, power.ErrInvalid) {
			t.Errorf("ParseAction(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
	}{
		{"10.0.0.7", "10.0.0.7", 0},
		{"10.0.0.7:6230", "10.0.0.7", 6230},
		{"bmc-7.rack1.example", "bmc-7.rack1.example", 0},
		{"fd00::7", "fd00::7", 0},
		{"[fd00::7]:623", "fd00::7", 623},
	} {
		h, p, err := power.ParseAddress(tc.in)
		if err != nil || h != tc.host || p != tc.port {
			t.Errorf("ParseAddress(%q) = %q, %d, %v; want %q, %d", tc.in, h, p, err, tc.host, tc.port)
		}
	}
	for _, in := range []string{"", "10.0.0.7:0", "10.0.0.7:70000", "host:x", "bad host", "-x.example", "[fd00::7]", "a..b"} {
		if _, _, err := power.ParseAddress(in); !errors.Is(err, power.ErrInvalid) {
			t.Errorf("ParseAddress(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"10.0.0.7", "10.0.0.7:623", "[fd00::7]:623", "bmc.example", "x:", ":1", "[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := power.ParseAddress(s)
		if err != nil {
			if !errors.Is(err, power.ErrInvalid) {
				t.Fatalf("ParseAddress(%q) = %v, not ErrInvalid", s, err)
			}
			return
		}
		if p < 0 || p > 65535 || power.ValidHost(h) != nil {
			t.Fatalf("ParseAddress(%q) = %q, %d: not a valid host and port", s, h, p)
		}
		// What it returns is accepted again.
		b := power.BMC{Host: h, Port: p, Username: "u"}
		if err := b.Validate(); err != nil {
			t.Fatalf("BMC from ParseAddress(%q) invalid: %v", s, err)
		}
	})
}

func TestBMCValidateAndNeverPrintsPassword(t *testing.T) {
	b := power.BMC{Host: "10.0.0.7", Username: "admin", Password: "s3cret-pw"}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "bmc", b)
	out := buf.String() + b.String() + fmt.Sprint(b) + fmt.Sprintf("%v %s", b, b)
	if strings.Contains(out, "s3cret") {
		t.Errorf("password printed: %s", out)
	}
	if !strings.Contains(buf.String(), "admin@10.0.0.7:623") {
		t.Errorf("log = %q, want admin@10.0.0.7:623", buf.String())
	}
	for _, bad := range []power.BMC{
		{Host: "", Username: "u"},
		{Host: "10.0.0.7", Username: ""},
		{Host: "10.0.0.7", Username: strings.Repeat("u", 17)},
		{Host: "10.0.0.7", Username: "u", Password: strings.Repeat("p", 21)},
		{Host: "10.0.0.7", Username: "u", Port: 70000},
		{Host: "10.0.0.7", Username: "a\nb"},
	} {
		if err := bad.Validate(); !errors.Is(err, power.ErrInvalid) {
			t.Errorf("Validate(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestIPMIAgainstSimulator drives OpenIPMI's ipmi_sim over RMCP+ on
// loopback: status, on, off, cycle, and a wrong password refused.
func TestIPMIAgainstSimulator(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "machine.pid")
	sim := powertest.StartSim(t, powertest.SimOptions{
		StartCmd: fmt.Sprintf("sh -c 'echo $$ > %s; exec sleep 600'", pidFile),
		PIDFile:  pidFile,
	})
	ctl := power.NewIPMI(power.Options{Timeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	do := func(a power.Action, want power.State) {
		t.Helper()
		got, err := ctl.Do(ctx, sim.BMC, a)
		if err != nil || got != want {
			t.Fatalf("Do(%s) = %q, %v; want %q", a, got, err, want)
		}
	}
	do(power.Status, power.StateOff)
	do(power.On, power.StateOn)
	sim.WaitMachine(t, true, 10*time.Second)
	do(power.Status, power.StateOn)
	first := sim.MachinePID()
	do(power.Cycle, power.StateOn)
	deadline := time.Now().Add(15 * time.Second)
	for pid := sim.MachinePID(); pid == 0 || pid == first; pid = sim.MachinePID() {
		if time.Now().After(deadline) {
			t.Fatalf("power cycle: machine pid %d, want a new one (was %d)", pid, first)
		}
		time.Sleep(50 * time.Millisecond)
	}
	do(power.Off, power.StateOff)
	sim.WaitMachine(t, false, 15*time.Second)
	do(power.Status, power.StateOff)
	// Cycle of a machine that is off powers it up.
	do(power.Cycle, power.StateOn)
	sim.WaitMachine(t, true, 10*time.Second)

	// No socket is left open behind a session, failed or not.
	if n := openUDP(t); n > 0 {
		t.Errorf("%d UDP sockets left open", n)
	}
	wrong := sim.BMC
	wrong.Password = "not-the-password"
	_, err := ctl.Do(ctx, wrong, power.Status)
	if !errors.Is(err, power.ErrBMC) || strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "RAKP") {
		t.Errorf("Do(wrong password) = %v, want ErrBMC on one line, naming RAKP, without the password", err)
	}
	if n := openUDP(t); n > 0 {
		t.Errorf("%d UDP sockets left open after a failed session", n)
	}
}

// TestIPMIOverIPv6: an IPv6 BMC address (go-ipmi alone joins host and
// port with "%s:%d").
func TestIPMIOverIPv6(t *testing.T) {
	if _, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	sim := powertest.StartSim(t, powertest.SimOptions{Addr: "::1"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := power.NewIPMI(power.Options{}).Do(ctx, sim.BMC, power.Status)
	if err != nil || got != power.StateOff {
		t.Errorf("Do(status) at [::1] = %q, %v; want off", got, err)
	}
}

// openUDP counts this process's UDP sockets.
func openUDP(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if fs := strings.Fields(line); len(fs) > 9 && inodes[fs[9]] {
				n++
			}
		}
	}
	return n
}
