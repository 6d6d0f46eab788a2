// Package modprobe loads Linux kernel modules the way modprobe and a udev
// coldplug would, without either: it reads the text indexes depmod (or
// mkbuild) writes under /lib/modules/<release>/ (modules.dep,
// modules.alias, modules.builtin; their formats are package kmod's),
// matches device modaliases from sysfs against the alias
// patterns, and loads each needed module after its dependencies with
// finit_module(2) (init_module(2) for modules it had to decompress).
//
// Everything that touches the system is injectable (the modules directory,
// the sysfs root, the loader function), so the logic runs in tests against
// fixtures.
package modprobe

import "errors"

// DefaultDir is the modules directory of the running kernel's release,
// formatted with the release (uname -r).
const DefaultDir = "/lib/modules/%s"

var (
	// ErrUnknownModule means no module of that name is in modules.dep and
	// it is not built into the kernel.
	ErrUnknownModule = errors.New("modprobe: unknown module")
	// ErrDependencyCycle means modules.dep describes a module that
	// (indirectly) depends on itself.
	ErrDependencyCycle = errors.New("modprobe: dependency cycle")
)
