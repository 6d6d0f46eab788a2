// Package tce is the agent's Tiny Core extension installer: what
// tce-load does, in Go, for bases without Tiny Core's own scripts (the
// debian base) and for the installs the agent makes after boot.
//
// An extension (NAME.tcz, a squashfs image) is loop-mounted read-only at
// /tmp/tcloop/NAME (losetup through /dev/loop-control and the loop
// ioctls, then mount(2)) and linked into / as "cp -ais" would: directories
// are created as real directories, files become symlinks into the mount,
// and a file that already exists is kept. In copy mode the tree is copied
// instead and the mount released. An executable
// /usr/local/tce.installed/NAME in the extension then runs as root;
// without one an empty marker of that name is written. The marker is also
// how an installed extension is recognised, so nothing is loaded twice,
// whether Tiny Core's tce-setup or this package loaded it. Dependencies
// come from NAME.tcz.dep beside the extension ("-KERNEL.tcz" is the
// running kernel's extension) and are loaded first, each once.
//
// An extension that fails (a missing file, a bad checksum, a dependency
// cycle, a mount or script error) fails alone, with the extensions that
// need it; the others are installed. The failures are reported as the
// fact mk_ext_failed (a comma-separated list), and the agent goes on.
//
// Boot runs the microkernel's extension duties: the built-in extensions
// of /tmp/builtin/onboot.lst, and, on a VMware virtual machine only, the
// extensions of tce-install-list from the image's TCE mirror (served by
// the agent on 127.0.0.1:2157) and the kernel modules of
// kmod-install-list, as the original microkernel did for open-vm-tools.
package tce
