// Package kmod loads Linux kernel modules the way modprobe and a udev
// coldplug would, without either: it reads the text indexes depmod writes
// under /lib/modules/<release>/ (modules.dep, modules.alias,
// modules.builtin), matches device modaliases from sysfs against the alias
// patterns, and loads each needed module after its dependencies with
// finit_module(2) (init_module(2) for modules it had to decompress).
//
// Everything that touches the system is injectable (the modules directory,
// the sysfs root, the loader function), so the logic runs in tests against
// fixtures.
package kmod

import (
	"errors"
	"path"
	"strings"
)

// DefaultDir is the modules directory of the running kernel's release,
// formatted with the release (uname -r).
const DefaultDir = "/lib/modules/%s"

var (
	// ErrUnknownModule means no module of that name is in modules.dep and
	// it is not built into the kernel.
	ErrUnknownModule = errors.New("kmod: unknown module")
	// ErrDependencyCycle means modules.dep describes a module that
	// (indirectly) depends on itself.
	ErrDependencyCycle = errors.New("kmod: dependency cycle")
	// ErrBadIndex means a line of modules.dep or modules.alias is malformed.
	ErrBadIndex = errors.New("kmod: malformed index line")
)

// compressedSuffixes are the module file endings kmod tools accept, in the
// order they are tried when stripping.
var compressedSuffixes = []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"}

// Name returns the canonical module name for a module name or a path such
// as kernel/drivers/net/virtio_net.ko.xz: the base name without the .ko
// suffix (and compression suffix), with '-' replaced by '_' as the kernel
// does.
func Name(s string) string {
	s = path.Base(s)
	for _, suf := range compressedSuffixes {
		if strings.HasSuffix(s, suf) {
			s = strings.TrimSuffix(s, suf)
			break
		}
	}
	return strings.ReplaceAll(s, "-", "_")
}
