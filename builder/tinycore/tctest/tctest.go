// Package tctest generates a small Tiny Core-shaped mirror for tests: a
// release's distribution files (a kernel stand-in or a given kernel,
// rootfs64.gz and modules64.gz written as Tiny Core lays them out, with
// device nodes and uid 1001 files, and corepure64.gz, their
// concatenation) and extensions made with mksquashfs -b 4096 -comp gzip
// -all-root, each with its .md5.txt, .dep, .info and .list. The
// extensions exercise what a mirror client and an installer must handle:
// a -KERNEL dependency, a dependency cycle, a bad checksum, an unknown
// dependency, a meta extension, install scripts and a file clash.
//
// The fixture is generated at test time (it needs mksquashfs, from
// squashfs-tools), never committed; testdata/tinycore/gen.go writes one
// to a directory for manual use.
package tctest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/razor-mk/razor-mk/initramfs"
)

// Defaults of Options.
const (
	DefaultMajor         = "15"
	DefaultVersion       = "15.0"
	DefaultBuild         = "x86_64"
	DefaultKernelVersion = "6.6.8-tinycore64"
	// Epoch is the fixture's fixed time stamp.
	Epoch = 1700000000
)

// Tiny Core's user tc and group staff.
const (
	TCUID    = 1001
	StaffGID = 50
)

// Options select what Generate writes.
type Options struct {
	// Major, Version, Build and KernelVersion default to the constants.
	Major, Version, Build, KernelVersion string
	// Kernel is a kernel image to publish as vmlinuz64/vmlinuz; "" writes
	// a stand-in.
	Kernel string
	// Marker is a program to ship as /usr/local/bin/tcz-marker in
	// marker-bin.tcz (see BuildMarker); "" ships a shell script that
	// prints the same line.
	Marker string
	// Extra are more extensions to publish.
	Extra []Ext
}

// File is one entry of an extension's tree.
type File struct {
	Path   string // relative: usr/local/bin/x
	Data   string
	Mode   fs.FileMode // 0644 when 0; fs.ModeDir for a directory, fs.ModeSymlink with Data as target
	Source string      // copy this file instead of Data
}

// Ext is one extension to publish.
type Ext struct {
	Name  string // foo.tcz
	Files []File
	// Dep is the .dep file as published ("" publishes none).
	Dep string
	// Info is the .info Version; the file is always published.
	Version string
	// BadMD5 publishes a .md5.txt that does not match.
	BadMD5 bool
	// NoMD5 publishes no .md5.txt.
	NoMD5 bool
}

// Fixture describes a generated mirror.
type Fixture struct {
	// Dir is the mirror root.
	Dir                                  string
	Major, Version, Build, KernelVersion string
	// Repo is "<major>.x/<build>".
	Repo string
	// Extensions are the published extensions by name.
	Extensions map[string]Ext
	// Kernel, Core, Rootfs and Modules are the distribution file names.
	Kernel, Core, Rootfs, Modules string
}

// TCZDir is the fixture's tcz directory on disk.
func (f *Fixture) TCZDir() string { return filepath.Join(f.Dir, filepath.FromSlash(f.Repo), "tcz") }

// ReleaseDir is the fixture's distribution_files directory on disk.
func (f *Fixture) ReleaseDir() string {
	return filepath.Join(f.Dir, filepath.FromSlash(f.Repo), "release", "distribution_files")
}

// Generate writes a fixture mirror under dir.
func Generate(dir string, o Options) (*Fixture, error) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		return nil, fmt.Errorf("tctest: mksquashfs not found (Debian package squashfs-tools): %w", err)
	}
	f := &Fixture{
		Dir: dir, Major: or(o.Major, DefaultMajor), Version: or(o.Version, DefaultVersion),
		Build: or(o.Build, DefaultBuild), KernelVersion: or(o.KernelVersion, DefaultKernelVersion),
		Extensions: map[string]Ext{},
	}
	f.Repo = f.Major + ".x/" + f.Build
	if f.Build == "x86" {
		f.Kernel, f.Core, f.Rootfs, f.Modules = "vmlinuz", "core.gz", "rootfs.gz", "modules.gz"
	} else {
		f.Kernel, f.Core, f.Rootfs, f.Modules = "vmlinuz64", "corepure64.gz", "rootfs64.gz", "modules64.gz"
	}
	if err := os.MkdirAll(f.TCZDir(), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.ReleaseDir(), 0o755); err != nil {
		return nil, err
	}
	if err := f.release(o); err != nil {
		return nil, err
	}
	for _, e := range append(Extensions(f.KernelVersion, o.Marker), o.Extra...) {
		if err := f.publish(e); err != nil {
			return nil, fmt.Errorf("tctest: %s: %w", e.Name, err)
		}
	}
	return f, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Extensions returns the fixture's standard extensions for kernel
// release kver:
//
//	marker-bin.tcz   usr/local/bin/tcz-marker (the program of marker, or a script)
//	hello.tcz        dep marker-bin; tce.installed/hello runs "tcz-marker builtin hello.tcz"; a data file
//	clash.tcz        holds hello's data file with other content (an existing file is kept)
//	vmtools.tcz      dep marker-bin, vmlib; tce.installed/vmtools runs "tcz-marker vmware vmtools.tcz"
//	vmlib.tcz        a library stand-in, no install script (gets the empty marker)
//	meta.tcz         empty, dep hello (a meta extension)
//	disk.tcz         dep scsi-KERNEL.tcz (blank lines, no final newline)
//	scsi-<kver>.tcz  a module stand-in under usr/local/lib/modules/<kver>/
//	cyc-a/b/c.tcz    a → b → c → a
//	badsum.tcz       its .md5.txt does not match
//	needs-missing.tcz dep nothere.tcz (not published)
//	failing.tcz      its install script exits 3
//	openssh.tcz      dep openssl; an sshd and init script stand-in
//	openssl.tcz      a library stand-in
func Extensions(kver, marker string) []Ext {
	markerFile := File{Path: "usr/local/bin/tcz-marker", Mode: 0o755,
		Data: "#!/bin/sh\nexe=$(readlink -f \"$0\")\necho \"TCZ-MARKER $* exe=$exe\"\n"}
	if marker != "" {
		markerFile = File{Path: "usr/local/bin/tcz-marker", Mode: 0o755, Source: marker}
	}
	script := func(name, args string) File {
		return File{Path: "usr/local/tce.installed/" + name, Mode: 0o755,
			Data: "#!/bin/sh\n/usr/local/bin/tcz-marker " + args + "\n"}
	}
	installedDir := File{Path: "usr/local/tce.installed", Mode: fs.ModeDir | 0o775}
	return []Ext{
		{Name: "marker-bin.tcz", Version: "1.0", Files: []File{markerFile}},
		{Name: "hello.tcz", Version: "2.1", Dep: "marker-bin.tcz\n", Files: []File{
			installedDir, script("hello", "builtin hello.tcz"),
			{Path: "usr/local/share/hello/greeting.txt", Data: "hello from hello.tcz\n"},
			{Path: "usr/local/share/hello/link", Mode: fs.ModeSymlink, Data: "greeting.txt"},
		}},
		{Name: "clash.tcz", Version: "1", Files: []File{
			{Path: "usr/local/share/hello/greeting.txt", Data: "clash\n"},
			{Path: "usr/local/share/clash.txt", Data: "clash\n"},
		}},
		{Name: "vmtools.tcz", Version: "12.3.5", Dep: "marker-bin.tcz\nvmlib.tcz\n", Files: []File{
			installedDir, script("vmtools", "vmware vmtools.tcz"),
			{Path: "usr/local/bin/vmtoolsd", Mode: 0o755, Data: "#!/bin/sh\necho vmtoolsd stand-in\n"},
		}},
		{Name: "vmlib.tcz", Version: "1", Files: []File{
			{Path: "usr/local/lib/libvmstandin.so.0", Data: "not really a library\n"},
		}},
		{Name: "meta.tcz", Version: "1", Dep: "hello.tcz\n"},
		{Name: "disk.tcz", Version: "1", Dep: "\n  scsi-KERNEL.tcz\t\n\n", Files: []File{
			{Path: "usr/local/share/disk/README", Data: "disk tools stand-in\n"},
		}},
		{Name: "scsi-" + kver + ".tcz", Version: kver, Files: []File{
			{Path: "usr/local/lib/modules/" + kver + "/kernel/drivers/scsi/standin.ko.gz", Data: "not a module\n"},
		}},
		{Name: "cyc-a.tcz", Version: "1", Dep: "cyc-b.tcz\n", Files: []File{{Path: "usr/local/share/a", Data: "a\n"}}},
		{Name: "cyc-b.tcz", Version: "1", Dep: "cyc-c.tcz\n", Files: []File{{Path: "usr/local/share/b", Data: "b\n"}}},
		{Name: "cyc-c.tcz", Version: "1", Dep: "cyc-a.tcz", Files: []File{{Path: "usr/local/share/c", Data: "c\n"}}},
		{Name: "badsum.tcz", Version: "1", BadMD5: true, Files: []File{{Path: "usr/local/share/badsum", Data: "x\n"}}},
		{Name: "needs-missing.tcz", Version: "1", Dep: "nothere.tcz\n", Files: []File{{Path: "usr/local/share/nm", Data: "x\n"}}},
		{Name: "failing.tcz", Version: "1", Files: []File{
			installedDir,
			{Path: "usr/local/tce.installed/failing", Mode: 0o755, Data: "#!/bin/sh\necho failing on purpose >&2\nexit 3\n"},
		}},
		{Name: "openssh.tcz", Version: "9.6p1", Dep: "openssl.tcz\n", Files: []File{
			{Path: "usr/local/sbin/sshd", Mode: 0o755, Data: "#!/bin/sh\necho sshd stand-in\n"},
			{Path: "usr/local/etc/init.d/openssh", Mode: 0o755, Data: "#!/bin/sh\necho openssh $1\n"},
			{Path: "usr/local/etc/ssh/sshd_config.orig", Data: "#PasswordAuthentication yes\n"},
		}},
		{Name: "openssl.tcz", Version: "3.0", Files: []File{
			{Path: "usr/local/lib/libssl.so.3", Data: "not really a library\n"},
		}},
	}
}

// publish writes e's .tcz and sidecars.
func (f *Fixture) publish(e Ext) error {
	tree, err := os.MkdirTemp("", "tctest-tree-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	var list []string
	for _, file := range e.Files {
		p := filepath.Join(tree, filepath.FromSlash(file.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch {
		case file.Mode&fs.ModeDir != 0:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(p, file.Mode.Perm()); err != nil {
				return err
			}
			continue
		case file.Mode&fs.ModeSymlink != 0:
			if err := os.Symlink(file.Data, p); err != nil {
				return err
			}
		case file.Source != "":
			data, err := os.ReadFile(file.Source)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
		default:
			if err := os.WriteFile(p, []byte(file.Data), 0o644); err != nil {
				return err
			}
		}
		if file.Mode&fs.ModeSymlink == 0 {
			mode := file.Mode.Perm()
			if mode == 0 {
				mode = 0o644
			}
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
		}
		list = append(list, file.Path)
	}
	// Parent directories get 0755 whatever the umask.
	if err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == tree {
			return err
		}
		for _, file := range e.Files {
			if file.Mode&fs.ModeDir != 0 && filepath.Join(tree, file.Path) == p {
				return nil
			}
		}
		return os.Chmod(p, 0o755)
	}); err != nil {
		return err
	}
	out := filepath.Join(f.TCZDir(), e.Name)
	if err := Squash(tree, out); err != nil {
		return err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	sum := md5.Sum(data)
	digest := hex.EncodeToString(sum[:])
	if e.BadMD5 {
		sum := md5.Sum(append(data, 'x'))
		digest = hex.EncodeToString(sum[:])
	}
	if !e.NoMD5 {
		if err := os.WriteFile(out+".md5.txt", []byte(digest+"  "+e.Name+"\n"), 0o644); err != nil {
			return err
		}
	}
	if e.Dep != "" {
		if err := os.WriteFile(out+".dep", []byte(e.Dep), 0o644); err != nil {
			return err
		}
	}
	sort.Strings(list)
	if err := os.WriteFile(out+".list", []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	info := fmt.Sprintf("Title:\t\t%s\nDescription:\t%s, a test fixture\nVersion:\t%s\nAuthor:\t\trazor-mk tests\nCopying-policy:\tApache-2.0\nSize:\t\t%dK\nExtension_by:\ttctest\nComments:\tGenerated by builder/tinycore/tctest.\n\t\tNot a real extension.\nChange-log:\t----\nCurrent:\t2024/01/01\n",
		e.Name, strings.TrimSuffix(e.Name, ".tcz"), or(e.Version, "1"), (len(data)+1023)/1024)
	if err := os.WriteFile(out+".info", []byte(info), 0o644); err != nil {
		return err
	}
	f.Extensions[e.Name] = e
	return nil
}

// Squash makes a Tiny Core extension of the tree at dir: squashfs with
// 4 KiB blocks, gzip, every file owned by root, time stamps fixed.
func Squash(dir, out string) error {
	os.Remove(out)
	cmd := exec.Command("mksquashfs", dir, out, "-b", "4096", "-comp", "gzip", "-all-root",
		"-noappend", "-no-progress", "-quiet", "-no-xattrs", "-root-mode", "755",
		"-mkfs-time", fmt.Sprint(Epoch), "-all-time", fmt.Sprint(Epoch))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs: %w: %s", err, bytes.TrimSpace(b))
	}
	return nil
}

// release writes the distribution files.
func (f *Fixture) release(o Options) error {
	kernel := []byte("vmlinuz stand-in: not a kernel\n")
	if o.Kernel != "" {
		k, err := os.ReadFile(o.Kernel)
		if err != nil {
			return err
		}
		kernel = k
	}
	var rootfs, modules bytes.Buffer
	if err := RootFS(f.Version).Write(&rootfs, initramfs.WriteOptions{Compression: initramfs.Gzip, SourceDateEpoch: Epoch}); err != nil {
		return err
	}
	if err := ModulesFS(f.KernelVersion).Write(&modules, initramfs.WriteOptions{Compression: initramfs.Gzip, SourceDateEpoch: Epoch}); err != nil {
		return err
	}
	core := append(append([]byte{}, rootfs.Bytes()...), modules.Bytes()...)
	for name, data := range map[string][]byte{f.Kernel: kernel, f.Rootfs: rootfs.Bytes(), f.Modules: modules.Bytes(), f.Core: core} {
		p := filepath.Join(f.ReleaseDir(), name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		sum := md5.Sum(data)
		if err := os.WriteFile(p+".md5.txt", []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Stand-in boot scripts: they carry the names and the lines a remaster
// looks for, not Tiny Core's code.
const (
	Inittab = `# /etc/inittab: busybox init configuration (Tiny Core stand-in)
::sysinit:/etc/init.d/rcS
::respawn:/sbin/getty -nl /sbin/autologin 38400 tty1
tty2::askfirst:/sbin/getty 38400 tty2
::restart:/etc/init.d/rc.shutdown
::restart:/sbin/init
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rc.shutdown
`
	Bootsync = `#!/bin/sh
# put other system startup commands here, the boot process will wait until they complete.
# Use bootlocal.sh for system startup commands that can run in the background
# and therefore not slow down the boot process.
/usr/bin/sethostname box
/opt/bootlocal.sh &
`
	Shadow = "root:*:13525:0:99999:7:::\nlp:*:13510:0:99999:7:::\nnobody:*:13509:0:99999:7:::\ntc:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/:13646:0:99999:7:::\n"
	Passwd = "root:x:0:0:root:/root:/bin/sh\nlp:x:7:7:lp:/var/spool/lpd:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\ntc:x:1001:50:Linux User,,,:/home/tc:/bin/sh\n"
	Group  = "root:x:0:\nlp:x:7:lp\nstaff:x:50:\nnogroup:x:65534:\n"
)

// RootFS returns the fixture's rootfs: Tiny Core's layout with stand-in
// scripts and a stand-in busybox, device nodes, and files owned by tc
// (uid 1001) and group staff (50).
func RootFS(version string) *initramfs.Archive {
	a := initramfs.New()
	dir := func(name string, perm fs.FileMode, uid, gid uint32) {
		a.AddRecord(initramfs.Record{Name: name, Type: initramfs.TypeDir, Perm: perm, UID: uid, GID: gid})
	}
	file := func(name, data string, perm fs.FileMode, uid, gid uint32) {
		a.AddRecord(initramfs.Record{Name: name, Type: initramfs.TypeFile, Perm: perm, UID: uid, GID: gid, Data: []byte(data)})
	}
	dir(".", 0o755, 0, 0)
	for _, d := range []string{"bin", "sbin", "etc", "etc/init.d", "etc/sysconfig", "etc/skel", "dev", "home", "lib", "mnt", "opt", "proc", "root", "sys", "usr", "usr/bin", "usr/sbin", "usr/share", "usr/share/doc", "usr/share/doc/tc", "usr/local", "var", "var/run", "var/log", "run"} {
		dir(d, 0o755, 0, 0)
	}
	dir("tmp", 0o1777, 0, 0)
	dir("home/tc", 0o755, TCUID, StaffGID)
	file("home/tc/.ashrc", "# tc's shell settings (stand-in)\n", 0o644, TCUID, StaffGID)
	dir("opt", 0o775, 0, StaffGID)
	file("init", "#!/bin/sh\n# Tiny Core /init stand-in: mount /proc, remount / and exec /sbin/init.\nexec /sbin/init\n", 0o755, 0, 0)
	file("bin/busybox", "busybox stand-in\n", 0o755, 0, 0)
	for _, l := range []string{"bin/sh", "bin/ash", "bin/mount", "bin/cat", "bin/echo", "bin/mkdir", "bin/sleep", "bin/readlink"} {
		a.AddSymlink(l, "busybox")
	}
	for _, l := range []string{"sbin/init", "sbin/getty", "sbin/reboot"} {
		a.AddSymlink(l, "../bin/busybox")
	}
	for _, l := range []string{"usr/sbin/telnetd", "usr/sbin/httpd", "usr/sbin/ftpd"} {
		a.AddSymlink(l, "../../bin/busybox")
	}
	a.AddSymlink("sbin/autologin", "../usr/bin/autologin-standin")
	file("etc/inittab", Inittab, 0o644, 0, 0)
	file("etc/init.d/rcS", "#!/bin/sh\n# rcS stand-in: mounts, then tc-config\n/etc/init.d/tc-config\n", 0o755, 0, 0)
	file("etc/init.d/tc-config", "#!/bin/sh\n# tc-config stand-in: udev, network, tce-setup, restore, then:\n/usr/bin/tce-setup booting\n/opt/bootsync.sh\n", 0o755, 0, 0)
	file("etc/init.d/tc-functions", "# tc-functions stand-in\n", 0o644, 0, 0)
	file("etc/init.d/rc.shutdown", "#!/bin/sh\n# rc.shutdown stand-in\n", 0o755, 0, 0)
	file("etc/passwd", Passwd, 0o644, 0, 0)
	file("etc/group", Group, 0o644, 0, 0)
	file("etc/shadow", Shadow, 0o640, 0, StaffGID)
	file("etc/sudoers", "root ALL=(ALL) ALL\ntc ALL=NOPASSWD: ALL\n", 0o440, 0, 0)
	file("etc/hostname", "box\n", 0o644, 0, 0)
	file("etc/os-release", fmt.Sprintf("NAME=TinyCore\nVERSION=\"%s (fixture)\"\nID=tinycore\nVERSION_ID=%s\nPRETTY_NAME=\"TinyCore %s (fixture)\"\n", version, version, version), 0o644, 0, 0)
	file("usr/share/doc/tc/release.txt", version+"\n", 0o644, 0, 0)
	file("opt/bootsync.sh", Bootsync, 0o775, 0, StaffGID)
	file("opt/bootlocal.sh", "#!/bin/sh\n# put other system startup commands here\n", 0o775, 0, StaffGID)
	file("opt/shutdown.sh", "#!/bin/sh\n# put user shutdown commands here\n", 0o775, 0, StaffGID)
	file("opt/.filetool.lst", "opt\nhome\n", 0o664, 0, StaffGID)
	file("opt/.xfiletool.lst", "Cache\n.Xauthority\n", 0o664, 0, StaffGID)
	file("opt/tcemirror", "http://repo.tinycorelinux.net/\n", 0o664, 0, StaffGID)
	for _, s := range []string{"tce-load", "tce-setup", "filetool.sh", "sethostname", "autologin-standin"} {
		file("usr/bin/"+s, "#!/bin/sh\n# "+s+" stand-in\n", 0o755, 0, 0)
	}
	dev := func(name string, kind initramfs.DeviceKind, major, minor uint32, perm fs.FileMode, gid uint32) {
		t := initramfs.TypeCharDevice
		if kind == initramfs.BlockDevice {
			t = initramfs.TypeBlockDevice
		}
		a.AddRecord(initramfs.Record{Name: "dev/" + name, Type: t, Major: major, Minor: minor, Perm: perm, GID: gid})
	}
	dev("console", initramfs.CharDevice, 5, 1, 0o600, 0)
	dev("null", initramfs.CharDevice, 1, 3, 0o666, 0)
	dev("zero", initramfs.CharDevice, 1, 5, 0o666, 0)
	dev("tty", initramfs.CharDevice, 5, 0, 0o666, 5)
	dev("tty1", initramfs.CharDevice, 4, 1, 0o620, 5)
	dev("ttyS0", initramfs.CharDevice, 4, 64, 0o660, 20)
	dev("sda", initramfs.BlockDevice, 8, 0, 0o660, 6)
	dev("loop0", initramfs.BlockDevice, 7, 0, 0o660, 6)
	dev("ram0", initramfs.BlockDevice, 1, 0, 0o660, 6)
	return a
}

// ModulesFS returns the fixture's modules archive: lib/modules/<kver>/
// with a module stand-in, modules.dep, a modules.builtin naming loop and
// zram, and Tiny Core's kernel.tclocal link into /usr/local.
func ModulesFS(kver string) *initramfs.Archive {
	a := initramfs.New()
	base := "lib/modules/" + kver
	a.AddDir("lib", 0o755)
	a.AddDir("lib/modules", 0o755)
	a.AddDir(base, 0o755)
	a.AddFile(path.Join(base, "kernel/fs/squashfs/squashfs.ko.gz"), []byte("not a module\n"), 0o644)
	a.AddFile(path.Join(base, "modules.dep"), []byte("kernel/fs/squashfs/squashfs.ko.gz:\n"), 0o644)
	// loop and zram built in: the fixture is a release that can mount
	// its extensions and swap to zram, as stock Tiny Core can.
	a.AddFile(path.Join(base, "modules.builtin"), []byte("kernel/drivers/block/loop.ko\nkernel/drivers/block/zram/zram.ko\n"), 0o644)
	a.AddSymlink(path.Join(base, "kernel.tclocal"), "/usr/local/lib/modules/"+kver+"/kernel")
	return a
}

// BuildMarker builds the marker program (a static binary for goarch,
// "" meaning the host's) into dir and returns its path. It needs the go
// tool and the module's source.
func BuildMarker(dir, goarch string) (string, error) {
	out := filepath.Join(dir, "tcz-marker")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/razor-mk/razor-mk/builder/tinycore/tctest/marker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tctest: go build marker: %w: %s", err, bytes.TrimSpace(b))
	}
	return out, nil
}

// ErrNoSquashfsTools is returned by Require when mksquashfs is missing.
var ErrNoSquashfsTools = errors.New("tctest: mksquashfs not installed (Debian package squashfs-tools)")

// Require reports whether the fixture can be generated here.
func Require() error {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		return ErrNoSquashfsTools
	}
	return nil
}
