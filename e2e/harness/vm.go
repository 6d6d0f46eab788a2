// Package harness runs the end-to-end tests' machinery: QEMU virtual
// machines whose serial console is read line by line, network namespaces
// with bridges and taps, and the project's own binaries built once per
// test run. Everything a test creates is torn down by t.Cleanup, also when
// the test fails.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// VMConfig describes one QEMU machine.
type VMConfig struct {
	Name   string // for logs
	Accel  string // "kvm" or "tcg"; "" = Accel()
	Memory int    // MiB, default 512
	CPUs   int    // default 1
	// Kernel, Initrd and Append boot a kernel directly (-kernel); leave
	// Kernel empty to boot from the network (-boot n).
	Kernel, Initrd, Append string
	// UEFI boots OVMF instead of SeaBIOS.
	UEFI bool
	// NICs: each is a QEMU -netdev spec without id (e.g. "user,hostfwd=tcp::2222-:22"
	// or "tap,ifname=tap0,script=no,downscript=no") and a MAC.
	NICs []NIC
	// SMBIOS holds -smbios arguments, e.g. "type=1,manufacturer=Acme,serial=S1".
	SMBIOS []string
	// Netns runs QEMU inside this network namespace (for taps there).
	Netns string
	// ExitOnReboot makes QEMU exit when the guest reboots (-no-reboot);
	// otherwise a reboot restarts the machine, firmware and all.
	ExitOnReboot bool
	// Extra QEMU arguments.
	Extra []string
}

// NIC is one network card.
type NIC struct {
	Netdev string // e.g. "user" or "tap,ifname=tap0,script=no,downscript=no"
	MAC    string // 52:54:00:…
	Model  string // default virtio-net-pci
	// ROMFile overrides the NIC's option ROM ("" = QEMU's default iPXE ROM).
	ROMFile string
}

// VM is a running QEMU machine.
type VM struct {
	cfg     VMConfig
	cmd     *exec.Cmd
	started time.Time
	vars    string // OVMF vars copy

	mu     sync.Mutex
	lines  []Line
	notify chan struct{}
	done   chan struct{}
	err    error
}

// Line is one console line with the time it arrived.
type Line struct {
	At   time.Duration // since the VM started
	Text string
}

// ovmfCode and ovmfVars are Debian's ovmf package files.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// StartVM starts QEMU and registers its teardown with t.Cleanup. On test
// failure the console log is attached to the test output.
func StartVM(t testing.TB, cfg VMConfig) *VM {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (make deps installs qemu-system-x86)")
	}
	if cfg.Memory == 0 {
		cfg.Memory = 512
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.Accel == "" {
		cfg.Accel = Accel()
	}
	if cfg.Name == "" {
		cfg.Name = "vm"
	}
	args := []string{
		"-nographic", "-nodefaults", "-serial", "stdio",
		"-machine", "q35,accel=" + cfg.Accel,
		"-m", fmt.Sprint(cfg.Memory), "-smp", fmt.Sprint(cfg.CPUs),
	}
	if cfg.ExitOnReboot {
		args = append(args, "-no-reboot")
	}
	if cfg.Accel == "kvm" {
		args = append(args, "-cpu", "host")
	} else {
		args = append(args, "-cpu", "max")
	}
	v := &VM{cfg: cfg, notify: make(chan struct{}), done: make(chan struct{})}
	if cfg.UEFI {
		vars, err := os.CreateTemp("", "ovmf-vars-*.fd")
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(ovmfVars)
		if err != nil {
			t.Skipf("OVMF not installed (make deps installs ovmf): %v", err)
		}
		if _, err := vars.Write(src); err != nil {
			t.Fatal(err)
		}
		vars.Close()
		v.vars = vars.Name()
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+v.vars)
	}
	for _, s := range cfg.SMBIOS {
		args = append(args, "-smbios", s)
	}
	for i, n := range cfg.NICs {
		id := fmt.Sprintf("n%d", i)
		model := n.Model
		if model == "" {
			model = "virtio-net-pci"
		}
		dev := fmt.Sprintf("%s,netdev=%s,mac=%s", model, id, n.MAC)
		if n.ROMFile != "" {
			dev += ",romfile=" + n.ROMFile
		}
		args = append(args, "-netdev", n.Netdev+",id="+id, "-device", dev)
	}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
		if cfg.Append != "" {
			args = append(args, "-append", cfg.Append)
		}
	} else {
		args = append(args, "-boot", "n")
	}
	args = append(args, cfg.Extra...)

	name, argv := "qemu-system-x86_64", args
	if cfg.Netns != "" {
		name, argv = "ip", append([]string{"netns", "exec", cfg.Netns, "qemu-system-x86_64"}, args...)
	}
	v.cmd = exec.Command(name, argv...)
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stderr = v.cmd.Stdout
	v.cmd.Stdin = nil
	t.Logf("%s: qemu-system-x86_64 %s", cfg.Name, strings.Join(args, " "))
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go v.read(stdout)
	t.Cleanup(func() {
		v.Stop()
		if v.vars != "" {
			os.Remove(v.vars)
		}
		if t.Failed() {
			t.Logf("%s console (%s):\n%s", cfg.Name, cfg.Accel, v.Console())
		}
	})
	return v
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[c()][0-9A-Za-z]?|\r`)

func (v *VM) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	// Console output may contain bare \r (iPXE progress); split on \n.
	for sc.Scan() {
		text := ansi.ReplaceAllString(sc.Text(), "")
		v.mu.Lock()
		v.lines = append(v.lines, Line{At: time.Since(v.started), Text: text})
		close(v.notify)
		v.notify = make(chan struct{})
		v.mu.Unlock()
	}
	err := v.cmd.Wait()
	v.mu.Lock()
	v.err = err
	close(v.notify)
	v.notify = make(chan struct{})
	v.mu.Unlock()
	close(v.done)
}

// ErrExited is returned by Wait when QEMU exits first.
var ErrExited = errors.New("harness: qemu exited")

// WaitFor waits until a console line, starting at line index from, matches
// re, and returns that line and its index. It fails with the console tail
// after timeout or when QEMU exits.
func (v *VM) WaitFor(ctx context.Context, from int, re *regexp.Regexp, timeout time.Duration) (Line, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		v.mu.Lock()
		for i := from; i < len(v.lines); i++ {
			if re.MatchString(v.lines[i].Text) {
				l := v.lines[i]
				v.mu.Unlock()
				return l, i, nil
			}
		}
		from = len(v.lines)
		ch := v.notify
		exited := v.isDone()
		v.mu.Unlock()
		if exited {
			return Line{}, from, fmt.Errorf("%w (%v) before %q", ErrExited, v.err, re)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Line{}, from, fmt.Errorf("harness: %s: no console line matching %q within %v", v.cfg.Name, re, timeout)
		}
	}
}

func (v *VM) isDone() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// Lines returns a copy of the console so far.
func (v *VM) Lines() []Line {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Line(nil), v.lines...)
}

// Console returns the console so far as text with timestamps.
func (v *VM) Console() string {
	var b strings.Builder
	for _, l := range v.Lines() {
		fmt.Fprintf(&b, "[%7.3fs] %s\n", l.At.Seconds(), l.Text)
	}
	return b.String()
}

// Started is when QEMU was started (power-on).
func (v *VM) Started() time.Time { return v.started }

// Done is closed when QEMU has exited.
func (v *VM) Done() <-chan struct{} { return v.done }

// Stop kills QEMU and waits for it.
func (v *VM) Stop() {
	if v.cmd.Process != nil && !v.isDone() {
		v.cmd.Process.Kill()
		select {
		case <-v.done:
		case <-time.After(10 * time.Second):
		}
	}
}
