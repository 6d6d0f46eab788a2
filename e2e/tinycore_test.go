package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/adminapi"
)

// The real Tiny Core mirror is out of reach in CI, so these tests build
// from the generated fixture mirror (builder/tinycore/tctest): a
// Tiny Core-shaped release and extensions made with mksquashfs.

var tcFixture struct {
	once sync.Once
	f    *tctest.Fixture
	err  error
}

// stand-ins for the extensions the shipped Tiny Core specs name that the
// standard fixture lacks.
var shippedStandIns = []tctest.Ext{
	{Name: "open-vm-tools.tcz", Version: "12.3.5", Dep: "vmlib.tcz\n", Files: []tctest.File{
		{Path: "usr/local/bin/vmtoolsd", Mode: 0o755, Data: "#!/bin/sh\necho vmtoolsd stand-in\n"},
	}},
}

// tinycoreFixture generates the fixture mirror once per test process,
// with the static marker program built for amd64 in marker-bin.tcz.
func tinycoreFixture(t *testing.T) *tctest.Fixture {
	t.Helper()
	if err := tctest.Require(); err != nil {
		t.Skip(err)
	}
	tcFixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "razor-e2e-tcmirror-*")
		if err != nil {
			tcFixture.err = err
			return
		}
		marker, err := tctest.BuildMarker(dir, "amd64")
		if err != nil {
			tcFixture.err = err
			return
		}
		tcFixture.f, tcFixture.err = tctest.Generate(filepath.Join(dir, "mirror"), tctest.Options{Marker: marker, Extra: shippedStandIns})
	})
	if tcFixture.err != nil {
		t.Fatalf("fixture mirror: %v", tcFixture.err)
	}
	return tcFixture.f
}

// mkbuild builds the spec at specPath into a new directory with the given
// agent and returns the directory.
func mkbuild(t *testing.T, specPath, agent string, args ...string) string {
	t.Helper()
	out := t.TempDir()
	cmdArgs := append([]string{"build", specPath, "--out", out, "--agent", agent, "--quiet", "--source-date-epoch", "1700000000"}, args...)
	start := time.Now()
	cmd := exec.Command(testlab.Binary(t, "mkbuild"), cmdArgs...)
	cmd.Dir = testlab.ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkbuild %s: %v\n%s", strings.Join(cmdArgs, " "), err, b)
	}
	t.Logf("built %s in %v", filepath.Base(specPath), time.Since(start).Round(time.Millisecond))
	return out
}

// childSpec writes a spec extending a shipped one.
func childSpec(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readInitrd(t *testing.T, dir string) *initramfs.Archive {
	t.Helper()
	a, err := initramfs.ReadFile(filepath.Join(dir, "initrd"))
	if err != nil {
		t.Fatalf("reading the initrd: %v", err)
	}
	return a
}

func content(t *testing.T, a *initramfs.Archive, name string) string {
	t.Helper()
	r, ok := a.Get(name)
	if !ok {
		t.Errorf("initrd lacks /%s", name)
		return ""
	}
	data, err := r.Content()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestTinycoreProdInitrd builds the shipped tinycore-prod.yaml (from the
// fixture mirror) and lists its initrd: no SSH server extension, no keys,
// every password locked; the release's files, device nodes and owners
// kept; the agent started from bootsync.sh and inittab; the extensions
// laid out for tce-setup and the local mirror.
func TestTinycoreProdInitrd(t *testing.T) {
	f := tinycoreFixture(t)
	root := testlab.ModuleRoot(t)
	p := childSpec(t, fmt.Sprintf("extends: %s\ntinycore:\n  mirror: %s\n", filepath.Join(root, "images/tinycore-prod.yaml"), f.Dir))
	agent := testlab.Binary(t, "mk-agent")
	dir := mkbuild(t, p, agent)
	a := readInitrd(t, dir)

	for _, r := range a.Records() {
		low := strings.ToLower(r.Name)
		if strings.Contains(low, "openssh") || strings.Contains(low, "authorized_keys") || filepath.Base(low) == "sshd" || strings.Contains(low, "dropbear") {
			t.Errorf("prod initrd holds /%s", r.Name)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(content(t, a, "etc/shadow")), "\n") {
		if f := strings.Split(l, ":"); len(f) < 2 || f[1] != "*" {
			t.Errorf("/etc/shadow entry %q is not locked", l)
		}
	}
	if got := content(t, a, "etc/passwd"); got != tctest.Passwd {
		t.Errorf("/etc/passwd = %q, want the release's (user tc kept)", got)
	}
	if got := content(t, a, "init"); !strings.Contains(got, "exec /sbin/init") {
		t.Errorf("/init = %q, want Tiny Core's", got)
	}
	if got := content(t, a, "opt/bootsync.sh"); !strings.Contains(got, "/etc/init.d/razor-mk start") {
		t.Errorf("/opt/bootsync.sh does not start the agent:\n%s", got)
	}
	inittab := content(t, a, "etc/inittab")
	if !strings.Contains(inittab, "::once:/etc/init.d/razor-mk start") || strings.Contains(inittab, "autologin") {
		t.Errorf("/etc/inittab:\n%s", inittab)
	}
	if r, ok := a.Get("bin/mk-agent"); !ok || r.Perm != 0o755 {
		t.Errorf("/bin/mk-agent: %+v", r)
	}
	if r, _ := a.Get("dev/sda"); r.Type != initramfs.TypeBlockDevice || r.Major != 8 {
		t.Errorf("dev/sda = %+v, want the release's block device", r)
	}
	if r, _ := a.Get("home/tc"); r.UID != tctest.TCUID || r.GID != tctest.StaffGID {
		t.Errorf("home/tc owner %d:%d, want 1001:50", r.UID, r.GID)
	}
	scsi := "scsi-" + f.KernelVersion + ".tcz"
	if got := content(t, a, "tmp/builtin/onboot.lst"); got != scsi+"\n" {
		t.Errorf("onboot.lst = %q, want %s", got, scsi)
	}
	if _, ok := a.Get("tmp/builtin/optional/" + scsi); !ok {
		t.Errorf("no built-in %s", scsi)
	}
	tcz := "tmp/tinycorelinux/" + f.Repo + "/tcz/"
	for _, n := range []string{"open-vm-tools.tcz", "open-vm-tools.tcz.md5.txt", "open-vm-tools.tcz.dep", "vmlib.tcz"} {
		if _, ok := a.Get(tcz + n); !ok {
			t.Errorf("the image's mirror lacks %s", n)
		}
	}
	if got := content(t, a, "tmp/tinycorelinux/tce-install-list"); got != "- open-vm-tools.tcz\n" {
		t.Errorf("tce-install-list = %q", got)
	}
	if got := content(t, a, "tmp/tinycorelinux/kmod-install-list"); !strings.HasPrefix(got, "- vmw_vmci\n") {
		t.Errorf("kmod-install-list = %q", got)
	}
	for _, gone := range []string{"usr/sbin/telnetd", "usr/sbin/httpd", "usr/sbin/ftpd"} {
		if _, ok := a.Get(gone); ok {
			t.Errorf("/%s kept in prod", gone)
		}
	}

	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Base != "tinycore" || m.KernelVersion != f.KernelVersion || m.Variant != "prod" {
		t.Errorf("manifest: base %s kernel %s variant %s", m.Base, m.KernelVersion, m.Variant)
	}
	wantExt := []string{"builtin/" + scsi, "mirror/vmlib.tcz", "mirror/open-vm-tools.tcz"}
	if !slices.Equal(m.Extensions, wantExt) {
		t.Errorf("manifest extensions = %v, want %v", m.Extensions, wantExt)
	}
	kinds := map[string]int{}
	for _, s := range m.Sources {
		kinds[s.Kind]++
		if s.Kind == "tinycore-release" && s.Version != f.Version {
			t.Errorf("release source %s version %q, want %q", s.Name, s.Version, f.Version)
		}
	}
	if kinds["tinycore-release"] != 2 || kinds["tcz"] != 3 {
		t.Errorf("manifest sources by kind = %v, want 2 release files and 3 extensions", kinds)
	}

	// Reproducible: the same inputs give the same initrd.
	again := mkbuild(t, p, agent)
	if sum(t, filepath.Join(dir, "initrd")) != sum(t, filepath.Join(again, "initrd")) {
		t.Errorf("two builds of the same spec differ")
	}
}

func sum(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// TestTinycoreDevInitrd builds the shipped tinycore-dev.yaml: openssh.tcz
// and its dependency built in, the key for user tc, sshd started.
func TestTinycoreDevInitrd(t *testing.T) {
	f := tinycoreFixture(t)
	root := testlab.ModuleRoot(t)
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u e2e@razor"
	keyFile := filepath.Join(t.TempDir(), "key.pub")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o644)
	p := childSpec(t, fmt.Sprintf("extends: %s\ntinycore:\n  mirror: %s\nssh:\n  authorized_keys_files: []\n", filepath.Join(root, "images/tinycore-dev.yaml"), f.Dir))
	dir := mkbuild(t, p, testlab.Binary(t, "mk-agent", "dev"), "--authorized-keys", keyFile)
	a := readInitrd(t, dir)
	if got := content(t, a, "tmp/builtin/onboot.lst"); got != "scsi-"+f.KernelVersion+".tcz\nopenssl.tcz\nopenssh.tcz\n" {
		t.Errorf("dev onboot.lst = %q", got)
	}
	r, ok := a.Get("home/tc/.ssh/authorized_keys")
	if !ok || string(r.Data) != key+"\n" || r.UID != tctest.TCUID || r.Perm != 0o600 {
		t.Errorf("tc's authorized_keys = %+v", r)
	}
	if got := content(t, a, "etc/init.d/razor-mk"); !strings.Contains(got, "/usr/local/etc/init.d/openssh start") {
		t.Errorf("dev start script does not start sshd:\n%s", got)
	}
	if _, ok := a.Get("etc/razor/authorized_keys"); ok {
		t.Errorf("dev initrd holds the debian base's /etc/razor/authorized_keys")
	}
}

// TestTinycoreExtensionsBoot boots an image of the debian base (Debian's
// kernel and busybox-static, which the builder fetches with apt-get)
// carrying the Tiny Core extension mechanism: the fixture's hello.tcz
// (whose install script runs the static marker program of marker-bin.tcz)
// and failing.tcz are built in; vmtools.tcz is mirror-only, with vmw_vmci
// in kmod-install-list. Booted plainly, the marker of hello.tcz shows,
// failing.tcz is reported in the node's facts, and nothing of the mirror
// is installed; booted with VMware's SMBIOS strings, vmtools.tcz comes
// from the agent's local mirror and vmw_vmci is loaded.
func TestTinycoreExtensionsBoot(t *testing.T) {
	requireQEMU(t)
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("the debian base needs apt-get")
	}
	f := tinycoreFixture(t)
	root := testlab.ModuleRoot(t)
	mods := append(slices.Clone(spec.DefaultModules), "vmw_vmci")
	p := childSpec(t, fmt.Sprintf(`extends: %s
name: razor-mk-tcz-e2e
tinycore:
  version: "%s.x"
  mirror: %s
extensions:
  builtin: [hello.tcz, failing.tcz]
  mirror: [vmtools.tcz]
  mirror_modules: [vmw_vmci]
modules:
  include: [%s]
`, filepath.Join(root, "images/prod.yaml"), f.Major, f.Dir, strings.Join(mods, ", ")))
	dir := mkbuild(t, p, testlab.Binary(t, "mk-agent"))
	testlab.ProbeAccel(filepath.Join(dir, "vmlinuz"))

	builtinRE := regexp.MustCompile(`TCZ-MARKER builtin hello\.tcz exe=/tmp/tcloop/marker-bin/usr/local/bin/tcz-marker`)
	vmwareRE := regexp.MustCompile(`TCZ-MARKER vmware vmtools\.tcz`)
	for _, tt := range []struct {
		name string
		hw   vmFacts
	}{
		{"plain", vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:e2:7c:01", manufacturer: "Razor Test Inc.",
			product: "E2E TCZ", serial: "E2E-TCZ-0001", uuid: "8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d7c01"}},
		// QEMU's option syntax doubles a comma inside a value.
		{"vmware", vmFacts{cpus: 1, memMiB: 384, mac: "52:54:00:e2:7c:02", manufacturer: "VMware,, Inc.",
			product: "VMware Virtual Platform", serial: "VMware-56 4d e2 7c 02", uuid: "8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d7c02"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vm, n := bootRegistered(t, dir, tt.hw)
			if got := n.Facts["mk_ext_failed"]; got != "failing.tcz" {
				t.Errorf("fact mk_ext_failed = %q, want failing.tcz (reported, the agent going on)", got)
			}
			ctx := context.Background()
			if l, _, err := vm.WaitFor(ctx, 0, builtinRE, 30*time.Second); err != nil {
				t.Errorf("the built-in extension's marker did not show: %v", err)
			} else {
				t.Logf("console at %v: %s", l.At.Round(time.Millisecond), l.Text)
			}
			if tt.name == "vmware" {
				if l, _, err := vm.WaitFor(ctx, 0, vmwareRE, 30*time.Second); err != nil {
					t.Errorf("the mirror-only extension was not installed on VMware: %v", err)
				} else {
					t.Logf("console at %v: %s", l.At.Round(time.Millisecond), l.Text)
				}
				if l, _, err := vm.WaitFor(ctx, 0, regexp.MustCompile(`kmod-install-list loaded.*vmw_vmci`), 30*time.Second); err != nil {
					t.Errorf("vmw_vmci from kmod-install-list not loaded: %v", err)
				} else {
					t.Logf("console at %v: %s", l.At.Round(time.Millisecond), l.Text)
				}
				if got := n.Facts["mk_kmod_failed"]; got != "" {
					t.Errorf("fact mk_kmod_failed = %q, want none", got)
				}
				return
			}
			if l, _, err := vm.WaitFor(ctx, 0, regexp.MustCompile(`not a VMware virtual machine`), 30*time.Second); err != nil {
				t.Errorf("the agent did not decide against VMware: %v", err)
			} else {
				t.Logf("console at %v: %s", l.At.Round(time.Millisecond), l.Text)
			}
			for _, l := range vm.Lines() {
				if vmwareRE.MatchString(l.Text) || bytes.Contains([]byte(l.Text), []byte("vmtools.tcz installed")) {
					t.Errorf("mirror-only extension installed without VMware: %q", l.Text)
				}
			}
		})
	}
}

// bootRegistered boots dir's image with user networking against a
// checkin server on the host's loopback and returns the node once it has
// registered.
func bootRegistered(t *testing.T, dir string, hw vmFacts) (*testlab.VM, adminapi.Node) {
	t.Helper()
	port := testlab.FreePort(t)
	srv := startServer(t, nil, fmt.Sprintf("127.0.0.1:%d", port), slirpHost, "--dhcp", "off", "--tftp", "off")
	vm := testlab.StartVM(t, testlab.VMOptions{
		Name:   "tcz-" + hw.mac[len(hw.mac)-2:],
		CPUs:   hw.cpus,
		Memory: hw.memMiB,
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initrd"),
		Append: imageCmdline(t, dir) + fmt.Sprintf(" razor.server=http://%s:%d", slirpHost, port),
		NICs:   []testlab.NIC{{Netdev: "user", MAC: hw.mac}},
		SMBIOS: []string{hw.smbios()},
	})
	start := time.Now()
	n := srv.waitNode(t, vm, "registered with "+hw.mac, 3*time.Minute, func(n adminapi.Node) bool { return hasMAC(n, hw.mac) })
	t.Logf("node %s registered %v after power-on (%s)", n.ID, time.Since(start).Round(100*time.Millisecond), testlab.Accel())
	return vm, n
}

// TestTinycoreX86Initrd builds the 32-bit variant (arch i386, the x86
// build's core.gz): mkbuild builds mk-agent with GOARCH=386.
func TestTinycoreX86Initrd(t *testing.T) {
	if err := tctest.Require(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	f, err := tctest.Generate(dir, tctest.Options{Build: "x86", KernelVersion: "6.6.8-tinycore", Extra: shippedStandIns})
	if err != nil {
		t.Fatal(err)
	}
	root := testlab.ModuleRoot(t)
	p := childSpec(t, fmt.Sprintf("extends: %s\narch: i386\ntinycore:\n  build: x86\n  mirror: %s\n", filepath.Join(root, "images/tinycore-prod.yaml"), f.Dir))
	out := t.TempDir()
	cmd := exec.Command(testlab.Binary(t, "mkbuild"), "build", p, "--out", out, "--quiet")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkbuild (i386): %v\n%s", err, b)
	}
	a := readInitrd(t, out)
	r, ok := a.Get("bin/mk-agent")
	if !ok {
		t.Fatal("no /bin/mk-agent")
	}
	data, err := r.Content()
	if err != nil {
		t.Fatal(err)
	}
	e, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("/bin/mk-agent is not ELF: %v", err)
	}
	if e.Machine != elf.EM_386 || e.Class != elf.ELFCLASS32 {
		t.Errorf("/bin/mk-agent is %v %v, want a 32-bit 386 program", e.Class, e.Machine)
	}
	if _, ok := a.Get("tmp/builtin/optional/scsi-6.6.8-tinycore.tcz"); !ok {
		t.Errorf("no scsi-KERNEL.tcz for the x86 kernel")
	}
	if _, ok := a.Get("tmp/tinycorelinux/" + f.Major + ".x/x86/tcz/open-vm-tools.tcz"); !ok {
		t.Errorf("the image's mirror is not under %s.x/x86", f.Major)
	}
	m, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Sources {
		if s.Kind == "tinycore-release" {
			names = append(names, s.Name)
		}
	}
	if m.Arch != "i386" || !slices.Equal(names, []string{"vmlinuz", "core.gz"}) {
		t.Errorf("manifest: arch %s, release files %v; want i386 and vmlinuz, core.gz", m.Arch, names)
	}
}
