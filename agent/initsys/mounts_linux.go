package initsys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mount is one file system init mounts.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// MountFunc mounts a file system (mount(2)'s arguments).
type MountFunc func(source, target, fstype string, flags uintptr, data string) error

// BaseMounts are the file systems init mounts first, in order: the
// kernel's views (proc, sysfs), devices (devtmpfs with devpts and shm),
// and RAM-backed /run and /tmp.
func BaseMounts() []Mount {
	const nosuid, nodev, noexec = unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC
	return []Mount{
		{"proc", "/proc", "proc", nosuid | nodev | noexec, ""},
		{"sysfs", "/sys", "sysfs", nosuid | nodev | noexec, ""},
		{"devtmpfs", "/dev", "devtmpfs", nosuid, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", nosuid | noexec, "gid=5,mode=0620,ptmxmode=0666"},
		{"tmpfs", "/dev/shm", "tmpfs", nosuid | nodev, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", nosuid | nodev, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", nosuid | nodev, "mode=1777"},
	}
}

// devLinks are the /dev symlinks udev or mdev would make, which shells
// and scripts expect.
var devLinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"/proc/kcore", "/dev/core"},
}

// MountAll creates each target under root and mounts it with mount. A
// target that is already mounted (EBUSY) is not an error; the first other
// failure is returned after trying the rest.
func MountAll(root string, mounts []Mount, mount MountFunc) error {
	var errs []error
	for _, m := range mounts {
		target := filepath.Join(root, m.Target)
		if err := os.MkdirAll(target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("initsys: %w", err))
			continue
		}
		if m.FSType == "tmpfs" && hasEntries(target) {
			// The initramfs is RAM already: a tmpfs over a directory the
			// image filled (Tiny Core's /tmp/builtin, /tmp/tinycorelinux)
			// would only hide its files.
			continue
		}
		if err := mount(m.Source, target, m.FSType, m.Flags, m.Data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("initsys: mount %s on %s: %w", m.FSType, target, err))
		}
	}
	for _, l := range devLinks {
		link := filepath.Join(root, l[1])
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(l[0], link); err != nil {
			errs = append(errs, fmt.Errorf("initsys: %w", err))
		}
	}
	return errors.Join(errs...)
}

// SysMount is the MountFunc of a real system.
func SysMount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

// hasEntries reports whether dir holds anything.
func hasEntries(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// Where the firmware's and the kernel's security state appear.
const (
	// SecurityDir is securityfs: /sys/kernel/security/lockdown says the
	// kernel's lockdown mode.
	SecurityDir = "kernel/security"
	// EFIDir exists when the machine booted through UEFI.
	EFIDir = "firmware/efi"
	// EfivarsDir is efivarfs: the EFI variables (SecureBoot, SetupMode).
	EfivarsDir = "firmware/efi/efivars"
)

// FirmwareMounts are the file systems that show the facts the boot's
// security state (agent/facts: lockdown, secure_boot) under sys: always
// securityfs, and efivarfs when efi says the machine booted through UEFI.
// efivarfs is mounted read-only: the agent only reads variables, and a
// writable efivarfs lets a stray rm delete the firmware's.
func FirmwareMounts(sys string, efi bool) []Mount {
	const nosuid, nodev, noexec = unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC
	ms := []Mount{{"securityfs", filepath.Join(sys, SecurityDir), "securityfs", nosuid | nodev | noexec, ""}}
	if efi {
		ms = append(ms, Mount{"efivarfs", filepath.Join(sys, EfivarsDir), "efivarfs", nosuid | nodev | noexec | unix.MS_RDONLY, ""})
	}
	return ms
}

// MountFirmware mounts FirmwareMounts: securityfs, and on a UEFI machine
// (sys/firmware/efi exists) efivarfs after load("efivarfs") (Debian builds
// it as a module; load is the agent's modprobe, nil when there is none).
// The mount points are the kernel's own sysfs directories and are not
// created. An already mounted file system (EBUSY) is no error; the
// failures are returned joined, for init to log: the facts they feed are
// then missing, and the node boots on.
func MountFirmware(sys string, mount MountFunc, load func(module string) error) error {
	_, err := os.Stat(filepath.Join(sys, EFIDir))
	efi := err == nil
	var errs []error
	for _, m := range FirmwareMounts(sys, efi) {
		var loadErr error
		if m.FSType == "efivarfs" && load != nil {
			// A failure matters only if the mount fails too: the
			// module may be built in without modules.builtin saying so.
			if err := load("efivarfs"); err != nil {
				loadErr = fmt.Errorf("initsys: loading efivarfs: %w", err)
			}
		}
		if err := mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, loadErr, fmt.Errorf("initsys: mount %s on %s: %w", m.FSType, m.Target, err))
		}
	}
	return errors.Join(errs...)
}
