// Package debian is the image builder's debian base: Debian's kernel
// package (linux-image-<arch>, resolved from the meta-package to the
// versioned one), busybox-static and, with debian.secure_boot, the signed
// UEFI loaders (shim-signed, grub-efi-<arch>-signed), obtained with
// apt-get download into a content-addressed cache or taken from .deb
// files the spec names, and unpacked in Go. Firmware packages are
// optional: one apt cannot find is noted, not an error.
package debian

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/manifest"
)

// Errors of the debian base; callers test them with errors.Is.
var (
	// ErrNoKernel: the kernel package holds no single /boot/vmlinuz-*.
	ErrNoKernel = errors.New("debian: no kernel in the kernel package")
	// ErrNoBusybox: the busybox package holds no busybox binary, or it
	// cannot list its applets here.
	ErrNoBusybox = errors.New("debian: no usable busybox")
	// ErrNoLoader: a loader package lacks its signed EFI binary.
	ErrNoLoader = errors.New("debian: no signed loader in the package")
)

// Source is the debian base of a spec.
type Source struct {
	// Debian is the spec's debian: section.
	Debian spec.Debian
	// Arch is the image's Debian architecture.
	Arch string
	// BusyboxExclude are applets that get no link.
	BusyboxExclude []string
	// Apt runs apt; nil means the host's apt-get and apt-cache.
	Apt *Apt
	// LookPath finds the emulator that runs a busybox built for another
	// architecture than the host's (Emulators); nil means exec.LookPath.
	LookPath func(file string) (string, error)
}

var _ base.Source = (*Source)(nil)

// New returns the debian base of s.
func New(s *spec.Spec) *Source {
	return &Source{Debian: s.Debian, Arch: s.Arch, BusyboxExclude: s.Userland.BusyboxExclude}
}

// Kind returns "debian".
func (*Source) Kind() string { return "debian" }

// input is one package to obtain: from apt (Pkg) or a local file (Path).
type input struct {
	role     string          // kernel, busybox, firmware, or a loader role (manifest.LoaderShim, …)
	name     string          // as the spec names it
	loader   spec.LoaderFile // for a loader role
	pkg      *Package
	path     string // local .deb, or the cached file once fetched
	sum      string
	optional bool
}

// Open resolves, fetches and unpacks the packages and returns the base.
func (s *Source) Open(ctx context.Context, env base.Env) (*base.Base, error) {
	apt := s.Apt
	if apt == nil {
		apt = &Apt{}
		if s.Arch != nativeArch() {
			apt.Arch = s.Arch
		}
	}
	cache := Cache{Dir: env.CacheDir}
	var ins []*input
	add := func(role, name, local string, optional bool) {
		if local != "" {
			ins = append(ins, &input{role: role, name: filepath.Base(local), path: local, optional: optional})
		} else if name != "" {
			ins = append(ins, &input{role: role, name: name, optional: optional})
		}
	}
	add("kernel", s.Debian.Kernel, s.Debian.KernelDeb, false)
	add("busybox", s.Debian.Busybox, s.Debian.BusyboxDeb, false)
	for _, f := range s.Debian.Firmware {
		add("firmware", f, "", true)
	}
	for _, f := range s.Debian.FirmwareDebs {
		add("firmware", "", f, true)
	}
	if s.Debian.SecureBoot != nil && *s.Debian.SecureBoot {
		chain, ok := spec.LoadersFor(s.Arch)
		if !ok {
			return nil, fmt.Errorf("%w: none known for %s", ErrNoLoader, s.Arch)
		}
		add(manifest.LoaderShim, chain.Shim.Package, s.Debian.ShimDeb, false)
		ins[len(ins)-1].loader = chain.Shim
		add(manifest.LoaderGRUB, chain.GRUB.Package, s.Debian.GRUBDeb, false)
		ins[len(ins)-1].loader = chain.GRUB
	}

	b := &base.Base{Archive: initramfs.New()}
	var names []string
	for _, in := range ins {
		if in.path == "" {
			names = append(names, in.name)
		}
	}
	if len(names) > 0 {
		env.Progress.Step("resolve " + strings.Join(names, ", "))
		kernel := ""
		if s.Debian.KernelDeb == "" {
			kernel = s.Debian.Kernel
		}
		res, err := resolveAll(ctx, apt, cache, kernel, names, env.Logger)
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			if in.path != "" {
				continue
			}
			p, ok := res[in.name]
			switch {
			case ok:
				in.pkg = &p
			case in.optional:
				b.Notes = append(b.Notes, fmt.Sprintf("%s: not available from apt (its firmware is missing unless firmware.dirs has it)", in.name))
				env.Logger.Info("optional package not available", "package", in.name)
			default:
				return nil, fmt.Errorf("%w: %s (is it in the apt sources? try apt-get update)", ErrUnavailable, in.name)
			}
		}
	}
	var kept []*input
	for _, in := range ins {
		if in.path != "" || in.pkg != nil {
			kept = append(kept, in)
		}
	}

	for _, in := range kept {
		if in.pkg != nil {
			env.Progress.Step(fmt.Sprintf("fetch %s %s", in.pkg.Name, in.pkg.Version))
			p, err := cache.Fetch(ctx, apt, *in.pkg, env.Progress)
			if err != nil {
				return nil, err
			}
			in.path, in.sum = p, in.pkg.SHA256
		} else {
			env.Progress.Step("hash " + in.name)
			sum, _, err := HashFile(in.path)
			if err != nil {
				return nil, fmt.Errorf("debian: %w", err)
			}
			in.sum = sum
		}
		label := in.name
		if in.pkg != nil {
			label = in.pkg.Name
		}
		env.Progress.Step("unpack " + label)
		keep := keepFor(in.role)
		if in.loader.File != "" {
			keep = keepFile(in.loader.File)
		}
		dir, ctl, err := cache.Unpack(in.path, in.sum, keep, env.Progress)
		if err != nil {
			return nil, err
		}
		src := manifest.Source{Kind: "deb", Name: ctl.Package(), Version: ctl.Version(), SHA256: in.sum}
		if in.pkg != nil {
			src.URL = in.pkg.URL
		}
		if a := ctl.Architecture(); a != "" && a != "all" && a != s.Arch {
			return nil, fmt.Errorf("debian: %s is for %s, the image is %s", in.name, a, s.Arch)
		}
		b.Sources = append(b.Sources, src)
		switch in.role {
		case "kernel":
			if err := openKernel(b, dir); err != nil {
				return nil, fmt.Errorf("%w (%s)", err, in.name)
			}
		case "busybox":
			env.Progress.Step("list busybox applets")
			if err := s.addBusybox(ctx, b.Archive, dir); err != nil {
				return nil, err
			}
		case "firmware":
			for _, d := range []string{"lib/firmware", "usr/lib/firmware"} {
				if fi, err := os.Stat(filepath.Join(dir, d)); err == nil && fi.IsDir() {
					b.Firmware = append(b.Firmware, base.DirFS(filepath.Join(dir, d)))
				}
			}
		case manifest.LoaderShim, manifest.LoaderGRUB:
			l, err := openLoader(dir, in.role, in.loader)
			if err != nil {
				return nil, fmt.Errorf("%w (%s)", err, in.name)
			}
			l.Package, l.Version = ctl.Package(), ctl.Version()
			b.Loaders = append(b.Loaders, l)
		}
	}
	if b.Kernel == "" {
		return nil, fmt.Errorf("%w: the spec names no kernel package", ErrNoKernel)
	}
	return b, nil
}

// keepFor selects what of a package the build needs.
func keepFor(role string) func(string) bool {
	switch role {
	case "kernel":
		return func(n string) bool {
			return strings.HasPrefix(n, "boot/vmlinuz") || n == "boot" ||
				n == "lib" || n == "usr" || n == "usr/lib" ||
				strings.HasPrefix(n, "lib/modules") || strings.HasPrefix(n, "usr/lib/modules")
		}
	case "firmware":
		return func(n string) bool {
			return n == "lib" || n == "usr" || n == "usr/lib" ||
				strings.HasPrefix(n, "lib/firmware") || strings.HasPrefix(n, "usr/lib/firmware")
		}
	}
	return func(n string) bool {
		return !strings.HasPrefix(n, "usr/share/doc") && !strings.HasPrefix(n, "usr/share/man")
	}
}

// keepFile keeps one file of a package and its parent directories.
func keepFile(file string) func(string) bool {
	return func(n string) bool {
		return n == file || strings.HasPrefix(file, n+"/")
	}
}

// openLoader finds a loader's signed file in its unpacked package and
// checks it is a PE image (an EFI application starts with "MZ").
func openLoader(dir, role string, lf spec.LoaderFile) (base.Loader, error) {
	p := filepath.Join(dir, filepath.FromSlash(lf.File))
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return base.Loader{}, fmt.Errorf("%w: no regular file /%s", ErrNoLoader, lf.File)
	}
	f, err := os.Open(p)
	if err != nil {
		return base.Loader{}, fmt.Errorf("debian: %w", err)
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "MZ" {
		return base.Loader{}, fmt.Errorf("%w: /%s is not an EFI (PE) image", ErrNoLoader, lf.File)
	}
	return base.Loader{Role: role, Name: lf.Name, Path: p}, nil
}

func openKernel(b *base.Base, dir string) error {
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return fmt.Errorf("%w: %d boot/vmlinuz-* files, want 1", ErrNoKernel, len(images))
	}
	kver := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	b.Kernel, b.KernelVersion = images[0], kver
	for _, m := range []string{"lib/modules/" + kver, "usr/lib/modules/" + kver} {
		if fi, err := os.Stat(filepath.Join(dir, m)); err == nil && fi.IsDir() {
			b.Modules = base.DirFS(filepath.Join(dir, m))
			return nil
		}
	}
	return nil // a kernel without modules: the spec's modules must then be built in
}

// addBusybox adds the busybox binary and a link for every applet it lists
// (busybox --list-full), but the excluded ones and linuxrc.
func (s *Source) addBusybox(ctx context.Context, a *initramfs.Archive, dir string) error {
	var bin string
	for _, p := range []string{"bin/busybox", "usr/bin/busybox"} {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err == nil && fi.Mode().IsRegular() {
			bin = filepath.Join(dir, p)
			break
		}
	}
	if bin == "" {
		return fmt.Errorf("%w: no bin/busybox in the package", ErrNoBusybox)
	}
	argv, err := busyboxCommand(bin, s.LookPath)
	if err != nil {
		return err
	}
	applets, err := listApplets(ctx, argv)
	if err != nil {
		return err
	}
	a.AddRecord(initramfs.Record{Name: "bin/busybox", Type: initramfs.TypeFile, Perm: 0o755, Source: bin})
	for _, p := range applets {
		if p == "bin/busybox" || p == "linuxrc" || slices.Contains(s.BusyboxExclude, path.Base(p)) {
			continue
		}
		a.AddSymlink(p, "/bin/busybox")
	}
	return nil
}

// Emulators are the user-mode emulators (Debian package qemu-user-static)
// that run a busybox built for another machine than the build host's, so
// that an arm64 image can be built on an amd64 host and the other way
// round. They are run by path, not through binfmt_misc, which containers
// and CI runners often lack.
var Emulators = map[elf.Machine]string{
	elf.EM_AARCH64: "qemu-aarch64-static",
	elf.EM_X86_64:  "qemu-x86_64-static",
	elf.EM_386:     "qemu-i386-static",
}

// EmulatorPackage is the Debian package that holds the Emulators.
const EmulatorPackage = "qemu-user-static"

// hostMachine is the ELF machine of the build host.
var hostMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386}[runtime.GOARCH]

// busyboxCommand returns the command that runs bin on this host: bin
// itself when the host runs its machine (an i386 busybox runs on amd64),
// else bin under its emulator, found with lookPath (nil: exec.LookPath).
func busyboxCommand(bin string, lookPath func(string) (string, error)) ([]string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoBusybox, bin, err)
	}
	m := f.Machine
	f.Close()
	if m == hostMachine || (hostMachine == elf.EM_X86_64 && m == elf.EM_386) {
		return []string{bin}, nil
	}
	emu, ok := Emulators[m]
	if !ok {
		return nil, fmt.Errorf("%w: busybox is built for %v, which this %s host can neither run nor emulate to list its applets", ErrNoBusybox, m, runtime.GOARCH)
	}
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	p, err := lookPath(emu)
	if err != nil {
		return nil, fmt.Errorf("%w: busybox is built for %v; listing its applets on this %s host runs it under %s: install the Debian package %s (%v)", ErrNoBusybox, m, runtime.GOARCH, emu, EmulatorPackage, err)
	}
	return []string{p, bin}, nil
}

// maxApplets bounds what we take from busybox's output.
const maxApplets = 2000

// listApplets runs argv (busybox, or an emulator and busybox) with
// --list-full and returns the applets' paths, sorted.
func listApplets(ctx context.Context, argv []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	bin := strings.Join(argv, " ")
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "--list-full")...)
	cmd.Env = []string{"PATH=/nonexistent", "LC_ALL=C"}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s --list-full: %v", ErrNoBusybox, bin, err)
	}
	var applets []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		if !fs.ValidPath(l) || strings.ContainsAny(l, " \t") || l == "." {
			return nil, fmt.Errorf("%w: --list-full gave %q", ErrNoBusybox, l)
		}
		applets = append(applets, l)
		if len(applets) > maxApplets {
			return nil, fmt.Errorf("%w: --list-full gave over %d applets", ErrNoBusybox, maxApplets)
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%w: --list-full listed no applets", ErrNoBusybox)
	}
	slices.Sort(applets)
	return applets, nil
}

// nativeArch is the host's dpkg architecture.
func nativeArch() string {
	if out, err := exec.Command("dpkg", "--print-architecture").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386"}[runtime.GOARCH]
}
