package initsys

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is what init does when asked to stop.
type Action int

// The actions, and the signals that ask for them (busybox init's
// convention, which its reboot, poweroff and halt applets use, and which
// `mk-agent run` uses to obey the server's reboot and poweroff commands).
const (
	None     Action = iota
	Reboot          // SIGTERM; SIGINT (ctrl-alt-del)
	Poweroff        // SIGUSR2
	Halt            // SIGUSR1
)

func (a Action) String() string {
	switch a {
	case Reboot:
		return "reboot"
	case Poweroff:
		return "poweroff"
	case Halt:
		return "halt"
	}
	return "none"
}

// Signals are the signals init handles as actions.
var Signals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2}

// ActionFor maps a signal received by init to its action. SIGINT is what
// the kernel sends init for ctrl-alt-del once init has turned the
// immediate reboot off (LINUX_REBOOT_CMD_CAD_OFF).
func ActionFor(sig os.Signal) Action {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT:
		return Reboot
	case syscall.SIGUSR2:
		return Poweroff
	case syscall.SIGUSR1:
		return Halt
	}
	return None
}

// RebootCmd is the reboot(2) command performing the action.
func (a Action) RebootCmd() int {
	switch a {
	case Reboot:
		return unix.LINUX_REBOOT_CMD_RESTART
	case Poweroff:
		return unix.LINUX_REBOOT_CMD_POWER_OFF
	case Halt:
		// Through a variable: the constant (0xcdef0123) overflows a
		// 32-bit int, and the agent is also built for 386.
		halt := uint32(unix.LINUX_REBOOT_CMD_HALT)
		return int(halt)
	}
	return 0
}
