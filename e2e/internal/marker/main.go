// Command marker is the /init of the end-to-end tests' marker initrd: the
// boot target a policy hands to a bound node. It prints one line on the
// console that names the machine it runs on and the node the server
// rendered the target for,
//
//	RAZOR-MARKER node=<razor.marker.node=> serial=<SMBIOS serial> uuid=<SMBIOS UUID>
//
// and powers the machine off, so that QEMU exits. The serial and UUID
// come from the firmware's SMBIOS tables (/sys/class/dmi/id), not from the
// server, so the line proves which machine booted the target.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the marker line.
const Prefix = "RAZOR-MARKER"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stdout, "%s-ERROR %v\n", Prefix, err)
		// PID 1 must not exit (the kernel would panic and the machine
		// reboot into another network boot): wait to be killed.
		for {
			time.Sleep(time.Hour)
		}
	}
}

func run() error {
	for _, m := range []struct{ fstype, dir string }{{"proc", "/proc"}, {"sysfs", "/sys"}} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	node := ""
	for _, f := range strings.Fields(string(cmdline)) {
		if v, ok := strings.CutPrefix(f, "razor.marker.node="); ok {
			node = v
		}
	}
	serial := dmi("product_serial")
	uuid := dmi("product_uuid")
	fmt.Fprintf(os.Stdout, "%s node=%s serial=%s uuid=%s\n", Prefix, node, serial, uuid)
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		return fmt.Errorf("power off: %w", err)
	}
	return nil
}

// dmi reads one SMBIOS field the kernel exports, "" when absent.
func dmi(name string) string {
	b, err := os.ReadFile("/sys/class/dmi/id/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
