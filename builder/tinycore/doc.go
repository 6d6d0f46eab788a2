// Package tinycore builds microkernel images from Tiny Core Linux: it
// reads a Tiny Core mirror (a URL such as http://repo.tinycorelinux.net/ or
// a local directory in the mirror's layout), resolves extensions with their
// .dep files, and remasters a release's initrd with the agent and the
// extensions an image spec names.
//
// Mirror layout (reference/tinycore.md §1):
//
//	<mirror>/<major>.x/<build>/release/distribution_files/{vmlinuz64,corepure64.gz,rootfs64.gz,modules64.gz}  (x86_64)
//	<mirror>/<major>.x/<build>/release/distribution_files/{vmlinuz,core.gz,rootfs.gz,modules.gz}              (x86)
//	<mirror>/<major>.x/<build>/tcz/NAME.tcz{,.md5.txt,.dep,.info,.list}
//
// Every download is checked against its .md5.txt and kept in a
// content-addressed cache (by sha256, with an md5 index), so a second build
// fetches only the small sidecar files. Dependencies are resolved
// recursively, dependencies first and each once; "NAME-KERNEL.tcz" stands
// for the extension built for the release's kernel ("NAME-6.1.2-tinycore64.tcz");
// a dependency cycle is an error that names the cycle.
//
// The remaster keeps the release's archive as read (device nodes, owners
// such as uid 1001, symlinks, permissions) and adds the overlay: the agent,
// its start (an /etc/init.d script called from /opt/bootsync.sh and, should
// a mydata.tgz restore replace that file, from /etc/inittab), built-in
// extensions (under /tmp/builtin/optional with onboot.lst for tce-setup to
// mount, or, when the release has no loop or squashfs driver, unpacked
// into the initrd as copy2fs would with their tce.installed markers and
// /tmp/setup.lst), the image's TCE
// mirror under /tmp/tinycorelinux with tce-install-list and
// kmod-install-list, and the variant (dev: an SSH server extension and the
// spec's keys for user tc; prod: neither, and every password locked). The
// extension layout is the same on the debian base, where the agent's own
// installer (agent/tce) loads them. docs/tinycore.md says which real
// releases are verified and how the build adapts to them (the kernel
// version from the bzImage header, nozswap without zram, the minimum
// kernel).
package tinycore
