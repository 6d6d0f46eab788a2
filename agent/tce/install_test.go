package tce

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/agent/local"
	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
)

var fixture struct {
	once sync.Once
	f    *tctest.Fixture
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// extra are fixture extensions only these tests need.
var extra = []tctest.Ext{
	{Name: "corrupt.tcz"}, // replaced by garbage after generation
	{Name: "needs-corrupt.tcz", Dep: "corrupt.tcz\n", Files: []tctest.File{{Path: "usr/local/share/nc", Data: "x\n"}}},
	{Name: "ran.tcz", Files: []tctest.File{
		{Path: "usr/local/tce.installed/ran", Mode: 0o755, Data: "#!/bin/sh\necho ran as $(id -u)\n"},
	}},
	{Name: "dirclash.tcz", Files: []tctest.File{{Path: "usr/local/share/hello/greeting.txt/inner", Data: "x\n"}}},
}

func mirrorFixture(t *testing.T) *tctest.Fixture {
	t.Helper()
	if err := tctest.Require(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs not installed (Debian package squashfs-tools)")
	}
	fixture.once.Do(func() {
		if fixture.dir, fixture.err = os.MkdirTemp("", "tce-fixture-*"); fixture.err != nil {
			return
		}
		if fixture.f, fixture.err = tctest.Generate(fixture.dir, tctest.Options{Extra: extra}); fixture.err != nil {
			return
		}
		fixture.err = os.WriteFile(filepath.Join(fixture.f.TCZDir(), "corrupt.tcz"), []byte("not a squashfs image"), 0o644)
	})
	if fixture.err != nil {
		t.Fatalf("fixture: %v", fixture.err)
	}
	return fixture.f
}

// unsquashMounter stands in for loop mounts without root: it unpacks the
// image into the mount directory.
type unsquashMounter struct{}

func (unsquashMounter) Mount(image, dir string) error {
	out, err := exec.Command("unsquashfs", "-f", "-no-xattrs", "-no-progress", "-d", dir, image).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unsquashfs: %v: %s", err, out)
	}
	return nil
}

func (unsquashMounter) Unmount(dir string) error { return os.RemoveAll(dir) }

// scripts records the install scripts run.
type scripts struct {
	mu  sync.Mutex
	ran []string
}

func (s *scripts) run(_ context.Context, script string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ran = append(s.ran, filepath.Base(script))
	return []byte("ran " + filepath.Base(script) + "\n"), nil
}

func newInstaller(t *testing.T, f *tctest.Fixture, s *scripts) *Installer {
	in := &Installer{Root: t.TempDir(), Mounter: unsquashMounter{}, KernelRelease: f.KernelVersion, Logger: slog.New(slog.DiscardHandler)}
	if s != nil {
		in.RunScript = s.run
	}
	return in
}

func failedNames(r Report) map[string]string {
	out := map[string]string{}
	for _, f := range r.Failed {
		out[f.Name] = f.Err.Error()
	}
	return out
}

func TestInstallLinks(t *testing.T) {
	f := mirrorFixture(t)
	var s scripts
	in := newInstaller(t, f, &s)
	root := in.Root
	// A file the system already has is kept.
	if err := os.MkdirAll(filepath.Join(root, "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "usr/local/bin/vmtoolsd"), []byte("mine"), 0o755)

	rep := in.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"hello", "vmtools.tcz", "disk.tcz", "meta.tcz", "clash.tcz"})
	want := []string{"marker-bin.tcz", "hello.tcz", "vmlib.tcz", "vmtools.tcz", "scsi-" + f.KernelVersion + ".tcz", "disk.tcz", "meta.tcz", "clash.tcz"}
	if diff := cmp.Diff(want, rep.Installed); diff != "" {
		t.Errorf("Install order mismatch (-want +got):\n%s", diff)
	}
	if len(rep.Failed) != 0 {
		t.Errorf("Install failures: %v", failedNames(rep))
	}
	if diff := cmp.Diff([]string{"hello", "vmtools"}, s.ran); diff != "" {
		t.Errorf("scripts run mismatch (-want +got):\n%s", diff)
	}
	// Files are symlinks into the mount; directories are real.
	link := filepath.Join(root, "usr/local/bin/tcz-marker")
	target, err := os.Readlink(link)
	if err != nil || target != filepath.Join(root, LoopDir, "marker-bin/usr/local/bin/tcz-marker") {
		t.Errorf("Readlink(%s) = %q, %v", link, target, err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "usr/local/share/hello")); err != nil || !fi.IsDir() {
		t.Errorf("usr/local/share/hello is not a real directory: %v %v", fi, err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "usr/local/share/hello/greeting.txt")); string(data) != "hello from hello.tcz\n" {
		t.Errorf("greeting.txt = %q: clash.tcz replaced hello's file", data)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "usr/local/share/hello/link")); string(data) != "hello from hello.tcz\n" {
		t.Errorf("a symlink of the extension does not resolve: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/vmtoolsd")); string(data) != "mine" {
		t.Errorf("existing vmtoolsd = %q, want it kept", data)
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/local/tce.installed")); err != nil || fi.Mode().Perm() != 0o775 {
		t.Errorf("tce.installed: %v %v, want a 0775 directory", fi, err)
	}
	for _, m := range []string{"vmlib", "meta", "scsi-" + f.KernelVersion, "disk", "clash"} {
		fi, err := os.Lstat(filepath.Join(root, InstalledDir, m))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			t.Errorf("marker %s: %v %v, want an empty file", m, fi, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, LoopDir, "meta")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("meta extension still mounted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/lib/modules", f.KernelVersion, "kernel/drivers/scsi/standin.ko.gz")); err != nil {
		t.Errorf("-KERNEL dependency not linked: %v", err)
	}

	// Everything is installed now: a second run installs nothing.
	rep = in.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"hello.tcz", "vmtools.tcz"})
	if len(rep.Installed) != 0 || len(rep.Failed) != 0 {
		t.Errorf("second Install = %+v, want nothing done", rep)
	}
	if diff := cmp.Diff([]string{"hello.tcz", "vmtools.tcz"}, rep.Present); diff != "" {
		t.Errorf("Present mismatch (-want +got):\n%s", diff)
	}
}

func TestInstallFailuresAreIsolated(t *testing.T) {
	f := mirrorFixture(t)
	var s scripts
	in := newInstaller(t, f, &s)
	rep := in.Install(context.Background(), DirSource{Dir: f.TCZDir()},
		[]string{"cyc-a.tcz", "needs-missing.tcz", "needs-corrupt.tcz", "bad/name", "hello.tcz", "nothere", "dirclash.tcz"})
	got := failedNames(rep)
	want := map[string]string{
		"cyc-a.tcz":         "dependency cycle: cyc-a.tcz → cyc-b.tcz → cyc-c.tcz → cyc-a.tcz",
		"needs-missing.tcz": "extension not found: " + filepath.Join(f.TCZDir(), "nothere.tcz") + " (required by needs-missing.tcz)",
		"corrupt.tcz":       "tce: mounting corrupt.tcz: unsquashfs",
		"needs-corrupt.tcz": "dependency failed: corrupt.tcz",
		"bad/name":          "bad extension name",
		"nothere.tcz":       "extension not found",
	}
	for n, msg := range want {
		if !strings.Contains(got[n], msg) {
			t.Errorf("failure of %s = %q, want it to contain %q", n, got[n], msg)
		}
	}
	if len(got) != len(want) {
		t.Errorf("failures = %v, want exactly %d", got, len(want))
	}
	if diff := cmp.Diff([]string{"marker-bin.tcz", "hello.tcz", "dirclash.tcz"}, rep.Installed); diff != "" {
		t.Errorf("the healthy extensions were not all installed (-want +got):\n%s", diff)
	}
}

func TestInstallScriptsRun(t *testing.T) {
	f := mirrorFixture(t)
	in := newInstaller(t, f, nil)
	var out strings.Builder
	in.Output = &out
	rep := in.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"ran.tcz", "failing.tcz"})
	if diff := cmp.Diff([]string{"ran.tcz"}, rep.Installed); diff != "" {
		t.Errorf("Installed mismatch (-want +got):\n%s", diff)
	}
	fails := failedNames(rep)
	if !strings.Contains(fails["failing.tcz"], "install script failed") || !strings.Contains(fails["failing.tcz"], "exit status 3") {
		t.Errorf("failing.tcz: %q, want its script's exit status", fails["failing.tcz"])
	}
	if !errors.Is(rep.Failed[0].Err, ErrScript) {
		t.Errorf("error %v does not wrap ErrScript", rep.Failed[0].Err)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("ran as %d", os.Geteuid())) || !strings.Contains(out.String(), "failing on purpose") {
		t.Errorf("script output = %q", out.String())
	}
}

func TestInstallCopyMode(t *testing.T) {
	f := mirrorFixture(t)
	var s scripts
	in := newInstaller(t, f, &s)
	in.Copy = true
	rep := in.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"hello.tcz"})
	if len(rep.Failed) != 0 || len(rep.Installed) != 2 {
		t.Fatalf("Install(copy) = %+v", rep)
	}
	p := filepath.Join(in.Root, "usr/local/share/hello/greeting.txt")
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: %v %v, want a regular file in copy mode", p, fi, err)
	}
	if l, err := os.Readlink(filepath.Join(in.Root, "usr/local/share/hello/link")); err != nil || l != "greeting.txt" {
		t.Errorf("copied symlink = %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(in.Root, "usr/local/bin/tcz-marker")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("copied program: %v %v, want mode 0755", fi, err)
	}
	if _, err := os.Stat(filepath.Join(in.Root, LoopDir, "hello")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy mode left the mount: %v", err)
	}
}

// mirrorTree lays out an image's mirror directory as mkbuild does and
// serves it with the agent's own mirror handler.
func mirrorTree(t *testing.T, f *tctest.Fixture, tceList, kmodList string) (string, *httptest.Server) {
	dir := t.TempDir()
	tcz := filepath.Join(dir, f.Repo, "tcz")
	if err := os.MkdirAll(tcz, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(f.TCZDir())
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(f.TCZDir(), e.Name()))
		os.WriteFile(filepath.Join(tcz, e.Name()), data, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "tce-install-list"), []byte(tceList), 0o644)
	os.WriteFile(filepath.Join(dir, "kmod-install-list"), []byte(kmodList), 0o644)
	srv := httptest.NewServer(local.NewMirrorHandler(dir, nil))
	t.Cleanup(srv.Close)
	return dir, srv
}

func TestMirrorSource(t *testing.T) {
	f := mirrorFixture(t)
	_, srv := mirrorTree(t, f, "[]", "[]")
	var s scripts
	in := newInstaller(t, f, &s)
	dl := t.TempDir()
	src := &MirrorSource{URL: srv.URL + "/tinycorelinux/" + f.Repo + "/tcz", Dir: dl}
	rep := in.Install(context.Background(), src, []string{"vmtools.tcz", "badsum.tcz", "nothere.tcz"})
	if diff := cmp.Diff([]string{"marker-bin.tcz", "vmlib.tcz", "vmtools.tcz"}, rep.Installed); diff != "" {
		t.Errorf("Installed mismatch (-want +got):\n%s", diff)
	}
	fails := failedNames(rep)
	if !strings.Contains(fails["badsum.tcz"], "checksum mismatch") || !strings.Contains(fails["nothere.tcz"], "extension not found") {
		t.Errorf("failures = %v", fails)
	}
	for _, n := range []string{"vmtools.tcz", "vmtools.tcz.dep", "vmtools.tcz.md5.txt"} {
		if _, err := os.Stat(filepath.Join(dl, n)); err != nil {
			t.Errorf("download dir lacks %s", n)
		}
	}
	if _, err := os.Stat(filepath.Join(dl, "badsum.tcz")); err == nil {
		t.Errorf("a download with a bad checksum was kept")
	}
}

func TestBoot(t *testing.T) {
	f := mirrorFixture(t)
	mirrorDir, srv := mirrorTree(t, f, `["vmtools.tcz", "badsum.tcz"]`, "- vmw_vmci\n- drivers/misc/vmw_balloon.ko\n")
	vmware := map[string]string{"manufacturer": "VMware, Inc.", "productname": "VMware Virtual Platform", "virtual": "vmware"}
	qemu := map[string]string{"manufacturer": "QEMU", "productname": "Standard PC (Q35 + ICH9, 2009)", "virtual": "kvm"}
	for _, tt := range []struct {
		name      string
		facts     map[string]string
		installed []string
		mods      []string
		failFact  string
	}{
		{"qemu", qemu, nil, nil, ""},
		{"vmware", vmware, []string{"vmlib.tcz", "vmtools.tcz"}, []string{"vmw_vmci", "drivers/misc/vmw_balloon.ko"}, "badsum.tcz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s scripts
			in := newInstaller(t, f, &s)
			onboot := filepath.Join(t.TempDir(), "onboot.lst")
			os.WriteFile(onboot, []byte("marker-bin.tcz\nhello.tcz\n"), 0o644)
			var mods []string
			rep := Boot(context.Background(), BootOptions{
				Installer: in, Onboot: onboot, Optional: f.TCZDir(), MirrorDir: mirrorDir,
				DownloadDir: t.TempDir(), MirrorURI: srv.URL + "/tinycorelinux",
				Facts: func(context.Context) map[string]string { return tt.facts },
				LoadModules: func(_ context.Context, e []string) ([]string, []Failure) {
					mods = append(mods, e...)
					return e, nil
				},
			})
			if diff := cmp.Diff([]string{"marker-bin.tcz", "hello.tcz"}, rep.Builtin.Installed); diff != "" {
				t.Errorf("built-in installs mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.installed, rep.Mirror.Installed); diff != "" {
				t.Errorf("mirror installs mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.mods, mods); diff != "" {
				t.Errorf("modules mismatch (-want +got):\n%s", diff)
			}
			if got := rep.Facts()[FactFailed]; got != tt.failFact {
				t.Errorf("%s = %q, want %q", FactFailed, got, tt.failFact)
			}
			if rep.VMware != (tt.name == "vmware") {
				t.Errorf("VMware = %v", rep.VMware)
			}
		})
	}
}

func TestDetectRepo(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "15.x/x86_64/tcz"), 0o755)
	if got := detectRepo(dir); got != "15.x/x86_64" {
		t.Errorf("detectRepo = %q, want 15.x/x86_64", got)
	}
}

// TestLoopMount mounts real extensions on loop devices (root only).
func TestLoopMount(t *testing.T) {
	f := mirrorFixture(t)
	if os.Geteuid() != 0 {
		t.Skip("loop mounts need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no /dev/loop-control (loop module not loaded)")
	}
	if !hasFilesystem("squashfs") {
		t.Skip("the kernel has no squashfs support here")
	}
	var s scripts
	in := &Installer{Root: t.TempDir(), KernelRelease: f.KernelVersion, RunScript: s.run}
	t.Cleanup(func() { unmountUnder(t, in.Root) })
	rep := in.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"hello.tcz", "meta.tcz"})
	if len(rep.Failed) != 0 {
		t.Fatalf("Install with loop mounts: %v", failedNames(rep))
	}
	if !isMountPoint(filepath.Join(in.Root, LoopDir, "hello")) {
		t.Errorf("hello.tcz is not mounted at %s", filepath.Join(in.Root, LoopDir, "hello"))
	}
	if isMountPoint(filepath.Join(in.Root, LoopDir, "meta")) {
		t.Errorf("meta.tcz (empty) stayed mounted")
	}
	data, err := os.ReadFile(filepath.Join(in.Root, "usr/local/share/hello/greeting.txt"))
	if err != nil || string(data) != "hello from hello.tcz\n" {
		t.Errorf("reading through the link into the loop mount: %q, %v", data, err)
	}
	// The mount is read-only.
	if err := os.WriteFile(filepath.Join(in.Root, LoopDir, "hello/usr/local/share/hello/new"), nil, 0o644); err == nil {
		t.Errorf("wrote into a read-only mount")
	}
	// Copy mode with a real mount releases it.
	in2 := &Installer{Root: t.TempDir(), Copy: true, KernelRelease: f.KernelVersion, RunScript: s.run}
	t.Cleanup(func() { unmountUnder(t, in2.Root) })
	if rep := in2.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"vmlib.tcz"}); len(rep.Failed) != 0 {
		t.Fatalf("Install(copy) = %v", failedNames(rep))
	}
	if isMountPoint(filepath.Join(in2.Root, LoopDir, "vmlib")) {
		t.Errorf("copy mode left vmlib.tcz mounted")
	}
	if fi, err := os.Lstat(filepath.Join(in2.Root, "usr/local/lib/libvmstandin.so.0")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("copy mode: %v %v", fi, err)
	}
}

func mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 {
			out = append(out, fs[4])
		}
	}
	return out
}

func isMountPoint(p string) bool {
	for _, m := range mountPoints() {
		if m == p {
			return true
		}
	}
	return false
}

func unmountUnder(t *testing.T, root string) {
	for _, m := range mountPoints() {
		if strings.HasPrefix(m, root+"/") {
			if err := (&LoopMounter{}).Unmount(m); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
}
