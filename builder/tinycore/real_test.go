package tinycore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/tcz/squashfs"
)

// realMirror lays out the real Tiny Core 4.4 release as a mirror, or
// skips when it is not beside the checkout.
func realMirror(t *testing.T) *tctest.Fixture {
	t.Helper()
	f, err := tctest.RealMirror(t.TempDir())
	if errors.Is(err, tctest.ErrNoRealRelease) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestKernelImageVersion(t *testing.T) {
	dir, err := tctest.RealRelease()
	if err != nil {
		t.Skip(err)
	}
	got, err := kernelImageVersion(filepath.Join(dir, "kttc", "vmlinuz"))
	if err != nil || got != tctest.RealKernelVersion {
		t.Errorf("kernelImageVersion(real vmlinuz) = %q, %v; want %q", got, err, tctest.RealKernelVersion)
	}
	bad := filepath.Join(t.TempDir(), "k")
	os.WriteFile(bad, bytes.Repeat([]byte{0}, 4096), 0o644)
	if _, err := kernelImageVersion(bad); err == nil || !strings.Contains(err.Error(), "HdrS") {
		t.Errorf("kernelImageVersion(zeros) = %v, want an error about the setup header", err)
	}
}

func TestCheckMinKernel(t *testing.T) {
	for _, tt := range []struct {
		kver string
		ok   bool
	}{{"3.0.21-tinycore", true}, {"6.6.8-tinycore64", true}, {"2.6.33.3-tinycore", false}, {"junk", false}} {
		if err := checkMinKernel(tt.kver); (err == nil) != tt.ok {
			t.Errorf("checkMinKernel(%q) = %v, want ok %v", tt.kver, err, tt.ok)
		}
	}
}

// TestRealRelease builds from the real Tiny Core 4.4 release: the kernel
// version from the bzImage (core.gz has no modules), nozswap and unpacked
// built-in extensions (no zram, loop or squashfs driver), the real
// dependency chains, and every core.gz entry kept.
func TestRealRelease(t *testing.T) {
	f := realMirror(t)
	// An empty .dep, as the real mirror publishes for tcl.tcz (this laid-
	// out copy has none): it is kept in the image's mirror, not dropped.
	if err := os.WriteFile(filepath.Join(f.TCZDir(), "gmp.tcz.dep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := loadSpec(t, `name: tc-real
base: tinycore
arch: i386
tinycore: {version: "4.x", build: x86, mirror: `+f.Dir+`}
extensions:
  builtin: [bash.tcz, dmidecode.tcz]
  mirror: [coreutils.tcz]
`)
	b, err := New(s).Open(context.Background(), testEnv(t))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if b.KernelVersion != tctest.RealKernelVersion {
		t.Errorf("KernelVersion = %q, want %q (from the bzImage header)", b.KernelVersion, tctest.RealKernelVersion)
	}
	if !slices.Equal(b.Cmdline, []string{"base", "nozswap"}) {
		t.Errorf("Cmdline = %q, want [base nozswap]", b.Cmdline)
	}
	notes := strings.Join(b.Notes, "\n")
	for _, want := range []string{"unpacked into the initrd", "no loop or squashfs driver", "nozswap", "kernel 3.0.21-tinycore (minimum 3.0)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	wantExts := []string{"builtin/ncurses-common.tcz", "builtin/ncurses.tcz", "builtin/bash.tcz", "builtin/dmidecode.tcz",
		"mirror/libattr.tcz", "mirror/acl.tcz", "mirror/attr.tcz", "mirror/gmp.tcz", "mirror/libcap.tcz", "mirror/coreutils.tcz"}
	if diff := cmp.Diff(wantExts, b.Extensions); diff != "" {
		t.Errorf("extensions (-want +got):\n%s", diff)
	}
	core, err := initramfs.ReadFile(filepath.Join(f.ReleaseDir(), "core.gz"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := assembleLike(t, s)

	// Every entry of the release is kept as it was, except what the
	// remaster edits.
	edited := []string{bootsyncPath, inittabPath, shadowPath, "etc/hostname"}
	n := 0
	for _, r := range core.Records() {
		n++
		got, ok := a.Get(r.Name)
		if !ok {
			t.Errorf("core.gz entry /%s dropped", r.Name)
			continue
		}
		if slices.Contains(edited, r.Name) {
			continue
		}
		if !sameRecord(got, r) {
			t.Errorf("core.gz entry /%s changed: %+v, want %+v", r.Name, brief(got), brief(r))
		}
	}
	if n < 600 {
		t.Errorf("core.gz has %d entries, want the real release's 685", n)
	}

	// The built-in extensions are unpacked as packed; tce-setup finds
	// them installed; nothing for it to mount.
	for _, e := range []string{"ncurses-common", "ncurses", "bash", "dmidecode"} {
		img := filepath.Join(f.TCZDir(), e+".tcz")
		checkUnpacked(t, a, img)
		if _, ok := a.Get("usr/local/tce.installed/" + e); !ok {
			t.Errorf("no /usr/local/tce.installed/%s marker", e)
		}
	}
	if _, ok := a.Get("tmp/builtin"); ok {
		t.Errorf("/tmp/builtin present: tce-setup would try to mount it")
	}
	// The mirror holds coreutils and its real chain, with sidecars.
	for _, e := range []string{"coreutils", "acl", "attr", "gmp", "libcap", "libattr"} {
		p := "tmp/tinycorelinux/4.x/x86/tcz/" + e + ".tcz"
		if _, ok := a.Get(p); !ok {
			t.Errorf("no /%s", p)
		}
		if _, ok := a.Get(p + ".md5.txt"); !ok {
			t.Errorf("no /%s.md5.txt", p)
		}
	}
	if got := contentOf(t, a, "tmp/tinycorelinux/tce-install-list"); got != "- coreutils.tcz\n" {
		t.Errorf("tce-install-list = %q", got)
	}
	if r, ok := a.Get("tmp/tinycorelinux/4.x/x86/tcz/gmp.tcz.dep"); !ok || r.Size() != 0 {
		t.Errorf("the empty gmp.tcz.dep was not kept: %v", ok)
	}
	// The whole mirror tree is tc's (1001:50 in this release), also its
	// directories.
	for _, d := range []string{"tmp/tinycorelinux", "tmp/tinycorelinux/4.x", "tmp/tinycorelinux/4.x/x86", "tmp/tinycorelinux/4.x/x86/tcz"} {
		if r, ok := a.Get(d); !ok || r.UID != 1001 || r.GID != 50 {
			t.Errorf("/%s: owner %d:%d (present %v), want 1001:50", d, r.UID, r.GID, ok)
		}
	}
	// The builder's /etc/os-release is not added to a release without one.
	if _, ok := a.Get("etc/os-release"); ok {
		t.Errorf("/etc/os-release added to a 4.x release that has none")
	}
}

type recBrief struct {
	Type             initramfs.Type
	Perm             string
	UID, GID         uint32
	Target           string
	Major, Minor, Sz int64
}

func brief(r initramfs.Record) recBrief {
	return recBrief{r.Type, r.Perm.String(), r.UID, r.GID, r.Target, int64(r.Major), int64(r.Minor), r.Size()}
}

func contentOf(t *testing.T, a *initramfs.Archive, name string) string {
	t.Helper()
	r, ok := a.Get(name)
	if !ok {
		t.Errorf("no /%s", name)
		return ""
	}
	data, err := r.Content()
	if err != nil {
		t.Error(err)
	}
	return string(data)
}

// checkUnpacked compares every entry of an extension with the archive:
// type, permissions, owner, target and content as packed (entries the
// release already had are kept as the release has them).
func checkUnpacked(t *testing.T, a *initramfs.Archive, img string) {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	sq, err := squashfs.Open(fh, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = sq.Walk(func(e *squashfs.Entry) error {
		if e.Path == "." || e.Mode.IsDir() {
			return nil
		}
		r, ok := a.Get(e.Path)
		if !ok {
			t.Errorf("%s: /%s not in the image", filepath.Base(img), e.Path)
			return nil
		}
		if r.Mode() != e.Mode || r.UID != e.UID || r.GID != e.GID || r.Target != e.Target {
			t.Errorf("%s: /%s is %v %d:%d %q, packed %v %d:%d %q", filepath.Base(img), e.Path, r.Mode(), r.UID, r.GID, r.Target, e.Mode, e.UID, e.GID, e.Target)
		}
		if e.Mode.IsRegular() {
			files++
			want, err := sq.ReadFile(e)
			if err != nil {
				return err
			}
			got, _ := r.Content()
			if !bytes.Equal(got, want) {
				t.Errorf("%s: /%s content differs", filepath.Base(img), e.Path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Errorf("%s: no files", filepath.Base(img))
	}
}

// TestRealReleaseDevSSH: the real release has no openssh.tcz, so a dev
// image gets mk-agent's own SSH server, started by the boot script, with
// the builder's keys file kept.
func TestRealReleaseDevSSH(t *testing.T) {
	f := realMirror(t)
	keys := filepath.Join(t.TempDir(), "k.pub")
	os.WriteFile(keys, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHMcvi9Mleg5+e/nAGPdlfHVhHhBw453UGKVLAnBC0yV test\n"), 0o644)
	s := loadSpec(t, `name: tc-real-dev
variant: dev
base: tinycore
arch: i386
tinycore: {version: "4.x", build: x86, mirror: `+f.Dir+`}
ssh:
  authorized_keys_files: [`+keys+`]
`)
	b, err := New(s).Open(context.Background(), testEnv(t))
	if err != nil {
		t.Fatalf("Open(dev) = %v", err)
	}
	if !strings.Contains(strings.Join(b.Notes, "\n"), "mk-agent's own (the mirror has no openssh.tcz)") {
		t.Errorf("notes do not say which SSH server: %q", b.Notes)
	}
	if len(b.Extensions) != 0 {
		t.Errorf("extensions = %q, want none", b.Extensions)
	}
	a, _ := assembleLike(t, s)
	script := contentOf(t, a, startScriptPath)
	if !strings.Contains(script, "/bin/mk-agent devssh") || strings.Contains(script, "start_sshd") {
		t.Errorf("start script does not start mk-agent devssh alone:\n%s", script)
	}
	if _, ok := a.Get("etc/razor/authorized_keys"); !ok {
		t.Errorf("/etc/razor/authorized_keys dropped: mk-agent devssh reads it")
	}

	// Naming an SSH extension the mirror lacks is still an error.
	s = loadSpec(t, `name: tc-real-dev
variant: dev
base: tinycore
arch: i386
tinycore: {version: "4.x", build: x86, mirror: `+f.Dir+`, ssh_extension: dropbear.tcz}
`)
	if _, err := New(s).Open(context.Background(), testEnv(t)); !errors.Is(err, ErrUnknownExtension) {
		t.Errorf("Open(ssh_extension dropbear.tcz, absent) = %v, want ErrUnknownExtension", err)
	}
}

// TestBuiltinModes: mount on a release without loop and squashfs fails
// the build, naming them; unpack on the fixture (which could mount)
// unpacks, queues the install scripts in /tmp/setup.lst and flags the
// kernel modules for depmod.
func TestBuiltinModes(t *testing.T) {
	f := realMirror(t)
	s := loadSpec(t, `name: m
base: tinycore
arch: i386
tinycore: {version: "4.x", build: x86, mirror: `+f.Dir+`, builtin_mode: mount}
extensions: {builtin: [bash.tcz]}
`)
	_, err := New(s).Open(context.Background(), testEnv(t))
	if !errors.Is(err, ErrRelease) || !strings.Contains(err.Error(), "no loop or squashfs driver") {
		t.Errorf("Open(builtin_mode mount, no drivers) = %v, want ErrRelease naming loop and squashfs", err)
	}

	fx := mirrorFixture(t)
	s = loadSpec(t, `name: u
base: tinycore
tinycore: {version: "15.x", mirror: `+fx.Dir+`, builtin_mode: unpack}
extensions: {builtin: [hello.tcz, disk.tcz]}
`)
	b, err := New(s).Open(context.Background(), testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(b.Cmdline, "nozswap") || !slices.Contains(b.Cmdline, "base") {
		t.Errorf("Cmdline = %q, want base and no nozswap (the fixture has zram)", b.Cmdline)
	}
	a, _ := assembleLike(t, s)
	if got := contentOf(t, a, "tmp/setup.lst"); got != "/usr/local/tce.installed/hello\n" {
		t.Errorf("/tmp/setup.lst = %q, want hello's install script", got)
	}
	if _, ok := a.Get("etc/sysconfig/newmodules"); !ok {
		t.Errorf("no /etc/sysconfig/newmodules for the scsi-KERNEL modules")
	}
	if _, ok := a.Get("tmp/builtin/onboot.lst"); ok {
		t.Errorf("onboot.lst written in unpack mode")
	}
	for _, m := range []string{"marker-bin", "scsi-" + fx.KernelVersion, "disk"} {
		if r, ok := a.Get("usr/local/tce.installed/" + m); !ok || r.UID != 1001 {
			t.Errorf("marker %s: %v %+v, want one owned by tc", m, ok, r)
		}
	}
}
