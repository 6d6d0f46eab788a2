package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/deb/debtest"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/kmod/kmodtest"
	"github.com/razor-mk/razor-mk/manifest"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u test@example"

// repoRoot is the module root, two levels up from builder/.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, ok := findModule(".")
	if !ok {
		wd, _ := os.Getwd()
		dir, ok = findModule(wd)
	}
	if !ok {
		t.Fatal("cannot find the razor-mk module root")
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

var (
	fakeOnce   sync.Once
	fakeAgents map[string]string
	fakeErr    error
)

// fakeAgent builds testdata/builder/fakeagent with the given tags ("",
// "dev", "sshcode") once per test binary.
func fakeAgent(t *testing.T, tags string) string {
	t.Helper()
	fakeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakeagent-")
		if err != nil {
			fakeErr = err
			return
		}
		fakeAgents = map[string]string{}
		for _, tg := range []string{"", "dev", "sshcode"} {
			out := filepath.Join(dir, "agent-"+tg)
			args := []string{"build", "-trimpath", "-o", out}
			if tg != "" {
				args = append(args, "-tags", tg)
			}
			args = append(args, "./testdata/builder/fakeagent")
			cmd := exec.Command("go", args...)
			cmd.Dir = repoRoot(t)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if b, err := cmd.CombinedOutput(); err != nil {
				fakeErr = fmt.Errorf("go build fakeagent -tags %q: %v\n%s", tg, err, b)
				return
			}
			fakeAgents[tg] = out
		}
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	return fakeAgents[tags]
}

// fixture writes the .deb files and firmware directory an offline build
// uses and returns the directory.
func fixture(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil || !bytes.HasPrefix(bb, []byte("\x7fELF")) {
		t.Skip("/bin/busybox (Debian busybox-static) not installed: the offline build needs a runnable busybox")
	}
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kv := "6.1.0-99-test"
	mods := []struct {
		path string
		info []string
	}{
		{"kernel/drivers/net/virtio_net.ko.xz", []string{"name=virtio_net", "depends=virtio,virtio_ring,net_failover", "alias=virtio:d00000001v*"}},
		{"kernel/drivers/net/net_failover.ko", []string{"name=net_failover", "depends=failover"}},
		{"kernel/net/core/failover.ko.zst", []string{"name=failover", "depends="}},
		{"kernel/drivers/virtio/virtio.ko", []string{"name=virtio", "depends=virtio_ring"}},
		{"kernel/drivers/virtio/virtio_ring.ko.gz", []string{"name=virtio_ring", "depends="}},
		{"kernel/drivers/virtio/virtio_pci.ko", []string{"name=virtio_pci", "depends=virtio,virtio_ring", "alias=pci:v00001AF4d*sv*sd*bc*sc*i*"}},
		{"kernel/drivers/net/ethernet/broadcom/bnx2.ko", []string{"name=bnx2", "depends=", "firmware=bnx2/bnx2-mips-09-6.2.1b.fw", "firmware=bnx2/bnx2-rv2p-09-6.0.17.fw"}},
		{"kernel/drivers/net/ethernet/broadcom/tg3.ko", []string{"name=tg3", "depends=", "firmware=tigon/tg3.bin"}},
		{"kernel/drivers/unused/unused.ko", []string{"name=unused", "depends=", "vermagic=6.1.0-99-test SMP preempt mod_unload"}},
		{"kernel/drivers/old/oldkernel.ko", []string{"name=oldkernel", "depends=", "vermagic=5.10.0-9-amd64 SMP mod_unload"}},
	}
	entries := []debtest.Entry{
		{Name: "./", Type: tar.TypeDir},
		{Name: "./boot/vmlinuz-" + kv, Data: []byte("not really a bzImage\n")},
		{Name: "./boot/config-" + kv, Data: []byte("CONFIG_RD_GZIP=y\n")},
		{Name: "./lib/modules/" + kv + "/modules.builtin", Data: []byte("kernel/net/unix/unix.ko\n")},
		{Name: "./lib/modules/" + kv + "/build", Type: tar.TypeSymlink, Link: "/usr/src/linux-headers-" + kv},
		{Name: "./usr/share/doc/linux-image-" + kv + "/changelog", Data: []byte("changes\n")},
	}
	for _, m := range mods {
		// Every module is signed, as Debian's are, but tg3.
		plain := kmodtest.ELF(m.info...)
		if !strings.Contains(m.path, "tg3") {
			plain = kmodtest.Sign(plain)
		}
		data, err := kmodtest.Compress(m.path, plain)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, debtest.Entry{Name: "./lib/modules/" + kv + "/" + m.path, Data: data})
	}
	kdeb, err := debtest.Deb("Package: linux-image-"+kv+"\nVersion: 6.1.999-1\nArchitecture: amd64\n", entries, "xz")
	if err != nil {
		t.Fatal(err)
	}
	write("linux-image.deb", kdeb)
	bdeb, err := debtest.Deb("Package: busybox-static\nVersion: 1:1.35.0-4\nArchitecture: amd64\n", []debtest.Entry{
		{Name: "./bin/busybox", Mode: 0o755, Data: bb},
		{Name: "./usr/share/man/man1/busybox.1.gz", Data: []byte("man")},
	}, "zst")
	if err != nil {
		t.Fatal(err)
	}
	write("busybox-static.deb", bdeb)
	fdeb, err := debtest.Deb("Package: firmware-bnx2\nVersion: 20230210-5\nArchitecture: all\n", []debtest.Entry{
		{Name: "./lib/firmware/bnx2/bnx2-mips-09-6.2.1b.fw", Data: []byte("bnx2 mips firmware")},
	}, "gz")
	if err != nil {
		t.Fatal(err)
	}
	write("firmware-bnx2.deb", fdeb)
	chain, _ := spec.LoadersFor("amd64")
	for _, l := range []struct {
		pkg, version string
		lf           spec.LoaderFile
	}{
		{"shim-signed", "1.51~1+deb12u1+16.1-2~deb12u1", chain.Shim},
		{"grub-efi-amd64-signed", "1+2.06+13+deb12u2", chain.GRUB},
	} {
		d, err := debtest.Deb("Package: "+l.pkg+"\nVersion: "+l.version+"\nArchitecture: amd64\n", []debtest.Entry{
			{Name: "./" + l.lf.File, Data: []byte("MZ signed " + l.pkg)},
		}, "xz")
		if err != nil {
			t.Fatal(err)
		}
		write(l.pkg+".deb", d)
	}
	write("fw/tigon/tg3.bin", []byte("tg3 firmware"))
	write("files/motd", []byte("hello\n"))
	write("keys.pub", []byte(testKey+"\n"))
	return dir
}

func writeSpec(t *testing.T, dir, variant, extra string) *spec.Spec {
	t.Helper()
	y := fmt.Sprintf(`name: test-image
variant: %s
base: debian
debian:
  kernel_deb: linux-image.deb
  busybox_deb: busybox-static.deb
  firmware_debs: [firmware-bnx2.deb]
  shim_deb: shim-signed.deb
  grub_deb: grub-efi-amd64-signed.deb
modules:
  include: [virtio_net, virtio_pci, "kernel/drivers/net/ethernet/broadcom", unix]
firmware:
  dirs: [fw]
kernel:
  cmdline: console=ttyS0 quiet
initrd:
  compression: gzip
userland:
  busybox_exclude: [telnetd, login]
ssh:
  authorized_keys_files: [keys.pub]
files:
  - {src: files/motd, dst: /etc/motd}
%s`, variant, extra)
	p := filepath.Join(dir, "spec-"+variant+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(p, spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func build(t *testing.T, s *spec.Spec, agent, out string, sde int64) (*manifest.Manifest, error) {
	t.Helper()
	return Build(context.Background(), Options{
		Spec: s, OutDir: out, CacheDir: filepath.Join(filepath.Dir(s.Path), "cache"),
		AgentPath: agent, SourceDateEpoch: sde, Version: "1.2.3", Commit: "abc",
	})
}

func TestBuildOffline(t *testing.T) {
	dir := fixture(t)
	s := writeSpec(t, dir, "prod", "")
	out := filepath.Join(dir, "out")
	m, err := build(t, s, fakeAgent(t, ""), out, 1700000000)
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	if err := m.Verify(out); err != nil {
		t.Errorf("Verify = %v", err)
	}
	loaded, err := manifest.Load(out)
	if err != nil {
		t.Fatalf("manifest.Load = %v", err)
	}
	if diff := cmp.Diff(m, loaded); diff != "" {
		t.Errorf("manifest on disk differs from the one returned (-returned +disk):\n%s", diff)
	}
	got := struct {
		Name, Variant, KernelVersion, Cmdline, Compression string
		Modules, Builtin, Firmware, Missing, Tags          []string
		Sources                                            []string
		SDE                                                int64
	}{m.Name, m.Variant, m.KernelVersion, m.Cmdline, m.Compression, m.Modules, m.BuiltinModules, m.Firmware, m.MissingFirmware, m.AgentTags, nil, m.SourceDateEpoch}
	for _, src := range m.Sources {
		got.Sources = append(got.Sources, src.Kind+" "+src.Name+" "+strings.SplitN(src.Version, " ", 2)[0])
		if len(src.SHA256) != 64 {
			t.Errorf("source %s has sha256 %q", src.Name, src.SHA256)
		}
	}
	want := got
	want.Name, want.Variant, want.KernelVersion, want.Cmdline, want.Compression = "test-image", "prod", "6.1.0-99-test", "console=ttyS0 quiet", "gzip"
	want.Modules = []string{"bnx2", "failover", "net_failover", "tg3", "virtio", "virtio_net", "virtio_pci", "virtio_ring"}
	want.Builtin = []string{"unix"}
	want.Firmware = []string{"bnx2/bnx2-mips-09-6.2.1b.fw", "tigon/tg3.bin"}
	want.Missing = []string{"bnx2/bnx2-rv2p-09-6.0.17.fw"}
	want.Tags = nil
	want.Sources = []string{"deb linux-image-6.1.0-99-test 6.1.999-1", "deb busybox-static 1:1.35.0-4", "deb firmware-bnx2 20230210-5",
		"deb shim-signed 1.51~1+deb12u1+16.1-2~deb12u1", "deb grub-efi-amd64-signed 1+2.06+13+deb12u2", "agent mk-agent unknown"}
	want.SDE = 1700000000
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manifest mismatch (-want +got):\n%s", diff)
	}

	a, err := initramfs.ReadFile(filepath.Join(out, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	rec := func(name string) initramfs.Record {
		t.Helper()
		r, ok := a.Get(name)
		if !ok {
			t.Fatalf("initrd has no %s", name)
		}
		return r
	}
	if r := rec("init"); r.Type != initramfs.TypeSymlink || r.Target != "/bin/mk-agent" {
		t.Errorf("/init = %v -> %q, want a symlink to /bin/mk-agent", r.Type, r.Target)
	}
	if r := rec("bin/sh"); r.Type != initramfs.TypeSymlink || r.Target != "/bin/busybox" {
		t.Errorf("/bin/sh = %v -> %q, want a busybox link", r.Type, r.Target)
	}
	for _, absent := range []string{"usr/sbin/telnetd", "bin/login", "linuxrc", "etc/razor/authorized_keys", "usr/share/man/man1/busybox.1.gz"} {
		if _, ok := a.Get(absent); ok {
			t.Errorf("initrd has /%s, want none", absent)
		}
	}
	if r := rec("dev/console"); r.Type != initramfs.TypeCharDevice || r.Major != 5 || r.Minor != 1 {
		t.Errorf("/dev/console = %v %d,%d, want char 5,1", r.Type, r.Major, r.Minor)
	}
	if r := rec("dev/null"); r.Type != initramfs.TypeCharDevice || r.Major != 1 || r.Minor != 3 {
		t.Errorf("/dev/null = %v %d,%d, want char 1,3", r.Type, r.Major, r.Minor)
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp"} {
		if r := rec(d); r.Type != initramfs.TypeDir {
			t.Errorf("/%s is a %v, want a directory", d, r.Type)
		}
	}
	content := func(name string) string {
		t.Helper()
		b, err := rec(name).Content()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := content("etc/shadow"); !strings.HasPrefix(got, "root:*:") {
		t.Errorf("/etc/shadow = %q, want root locked", got)
	}
	if got := content("etc/motd"); got != "hello\n" {
		t.Errorf("/etc/motd = %q", got)
	}
	if got := content("lib/firmware/tigon/tg3.bin"); got != "tg3 firmware" {
		t.Errorf("tg3 firmware = %q", got)
	}
	kdir := "lib/modules/6.1.0-99-test/"
	wantDep := `kernel/drivers/net/ethernet/broadcom/bnx2.ko:
kernel/drivers/net/ethernet/broadcom/tg3.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/net/core/failover.ko:
`
	if diff := cmp.Diff(wantDep, content(kdir+"modules.dep")); diff != "" {
		t.Errorf("modules.dep mismatch (-want +got):\n%s", diff)
	}
	if got := content(kdir + "modules.alias"); !strings.Contains(got, "alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n") {
		t.Errorf("modules.alias = %q, want virtio_pci's alias", got)
	}
	if got := content(kdir + "modules.builtin"); got != "kernel/net/unix/unix.ko\n" {
		t.Errorf("modules.builtin = %q", got)
	}
	if got := content(kdir + "kernel/net/core/failover.ko"); !strings.HasPrefix(got, "\x7fELF") {
		t.Errorf("failover.ko is not a plain ELF in the image")
	}
	if _, ok := a.Get(kdir + "kernel/drivers/unused/unused.ko"); ok {
		t.Errorf("an unselected module is in the image")
	}
	// The manifest lists every regular file with its checksum.
	files := map[string]manifest.File{}
	for _, f := range m.Files {
		files[f.Path] = f
	}
	n := 0
	for _, r := range a.Records() {
		if r.Type != initramfs.TypeFile {
			continue
		}
		n++
		data, _ := r.Content()
		f, ok := files["/"+r.Name]
		if !ok || f.Size != int64(len(data)) {
			t.Errorf("manifest entry for /%s = %+v, want size %d", r.Name, f, len(data))
		}
	}
	if n != len(m.Files) {
		t.Errorf("manifest lists %d files, the initrd has %d", len(m.Files), n)
	}
}

func TestBuildReproducible(t *testing.T) {
	dir := fixture(t)
	s := writeSpec(t, dir, "prod", "")
	agent := fakeAgent(t, "")
	outs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	for i, out := range outs {
		sde := int64(1700000000)
		if i == 2 {
			sde++
		}
		if _, err := build(t, s, agent, out, sde); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{InitrdFile, manifest.FileName, KernelFile} {
		a, _ := os.ReadFile(filepath.Join(outs[0], f))
		b, _ := os.ReadFile(filepath.Join(outs[1], f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same inputs", f)
		}
	}
	a, _ := os.ReadFile(filepath.Join(outs[0], InitrdFile))
	c, _ := os.ReadFile(filepath.Join(outs[2], InitrdFile))
	if bytes.Equal(a, c) {
		t.Errorf("initrd is the same for two SOURCE_DATE_EPOCHs: the epoch is not applied")
	}
}

func TestBuildDevVariant(t *testing.T) {
	dir := fixture(t)
	s := writeSpec(t, dir, "dev", "")
	out := filepath.Join(dir, "out")
	m, err := build(t, s, fakeAgent(t, "dev"), out, 0)
	if err != nil {
		t.Fatalf("Build(dev) = %v", err)
	}
	if diff := cmp.Diff([]string{"dev"}, m.AgentTags); diff != "" {
		t.Errorf("dev AgentTags mismatch (-want +got):\n%s", diff)
	}
	a, err := initramfs.ReadFile(filepath.Join(out, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := a.Get(AuthorizedKeysPath)
	if !ok {
		t.Fatalf("dev initrd has no /%s", AuthorizedKeysPath)
	}
	if got, _ := r.Content(); string(got) != testKey+"\n" || r.Perm != 0o600 {
		t.Errorf("/%s = %q mode %v, want the key, 0600", AuthorizedKeysPath, got, r.Perm)
	}
	if err := CheckProd(a); err == nil {
		t.Errorf("CheckProd(dev initrd) = nil, want the authorized_keys refused")
	}
}

func TestBuildRefusesWrongAgent(t *testing.T) {
	dir := fixture(t)
	prod := writeSpec(t, dir, "prod", "")
	dev := writeSpec(t, dir, "dev", "")
	tests := []struct {
		name  string
		s     *spec.Spec
		agent string
		want  string
	}{
		{"dev agent in prod", prod, fakeAgent(t, "dev"), "built with -tags dev"},
		{"ssh code in prod", prod, fakeAgent(t, "sshcode"), "contains SSH code (golang.org/x/crypto/ssh)"},
		{"prod agent in dev", dev, fakeAgent(t, ""), "was not built with -tags dev"},
		{"not an ELF", prod, filepath.Join(dir, "keys.pub"), "unfit mk-agent"},
		{"dynamic binary", prod, "/bin/ls", "dynamically linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := build(t, tt.s, tt.agent, out, 0)
			if !errors.Is(err, ErrBadAgent) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build(%s) = %v, want ErrBadAgent containing %q", tt.name, err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(out, InitrdFile)); err == nil {
				t.Errorf("Build(%s) failed but wrote an initrd", tt.name)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	dir := fixture(t)
	tests := []struct {
		name, extra, want string
	}{
		{"unknown module", "nothere", `modules.include: modules: no such module: "nothere"`},
		{"module for another kernel", "oldkernel", `module oldkernel (kernel/drivers/old/oldkernel.ko) is for kernel "5.10.0-9-amd64", the kernel is 6.1.0-99-test`},
		{"module for this kernel", "unused", ""},
	}
	for _, tt := range tests {
		s := writeSpec(t, dir, "prod", "")
		s.Modules.Include = append(s.Modules.Include, tt.extra)
		_, err := build(t, s, fakeAgent(t, ""), filepath.Join(t.TempDir(), "out"), 0)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Build(%s) = %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Build(%s) = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestCheckProd(t *testing.T) {
	ok := func() *initramfs.Archive {
		a := initramfs.New()
		a.AddFile("etc/shadow", []byte("root:*::0:99999:7:::\nnobody:!:1::::::\n"), 0o600)
		a.AddSymlink("bin/sh", "/bin/busybox")
		a.AddFile("bin/mk-agent", []byte("\x7fELF a go binary"), 0o755)
		return a
	}
	if err := CheckProd(ok()); err != nil {
		t.Fatalf("CheckProd(clean) = %v", err)
	}
	tests := []struct {
		name string
		edit func(a *initramfs.Archive)
		want string
	}{
		{"sshd", func(a *initramfs.Archive) { a.AddFile("usr/sbin/sshd", []byte("x"), 0o755) }, "/usr/sbin/sshd"},
		{"dropbear link", func(a *initramfs.Archive) { a.AddSymlink("usr/bin/dropbear", "/bin/busybox") }, "/usr/bin/dropbear"},
		{"telnetd", func(a *initramfs.Archive) { a.AddSymlink("usr/sbin/telnetd", "/bin/busybox") }, "/usr/sbin/telnetd"},
		{"authorized_keys", func(a *initramfs.Archive) { a.AddFile("root/.ssh/authorized_keys", []byte(testKey), 0o600) }, "/root/.ssh/authorized_keys"},
		{"root password", func(a *initramfs.Archive) {
			a.AddFile("etc/shadow", []byte("root:$6$salt$hash::0:99999:7:::\n"), 0o600)
		}, "root has a password"},
		{"empty password", func(a *initramfs.Archive) { a.AddFile("etc/shadow", []byte("root:::0:99999:7:::\n"), 0o600) }, "root has a password"},
		{"ssh code in agent", func(a *initramfs.Archive) {
			a.AddFile("bin/mk-agent", []byte("...golang.org/x/crypto/ssh.(*Client).Dial..."), 0o755)
		}, "/bin/mk-agent contains golang.org/x/crypto/ssh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok()
			tt.edit(a)
			err := CheckProd(a)
			if !errors.Is(err, ErrProdLeak) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckProd(%s) = %v, want ErrProdLeak naming %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b)
	p.Step("fetch x")
	p.Bytes(500, 1000)
	p.Bytes(1000, 1000)
	p.Step("assemble")
	p.Finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || lines[0] != "[1] fetch x" || !strings.HasPrefix(lines[1], "[1] fetch x: 1.0 kB in ") || lines[2] != "[2] assemble" {
		t.Errorf("plain progress = %q", b.String())
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1500: "1.5 kB", 70_600_000: "70.6 MB", 2_500_000_000: "2.50 GB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

// ownBase is a base that brings its own /init and accounts, as a Tiny
// Core release does.
type ownBase struct{ kernel string }

func (ownBase) Kind() string { return "debian" }

func (b ownBase) Open(context.Context, base.Env) (*base.Base, error) {
	a := initramfs.New()
	a.AddFile("init", []byte("#!/bin/sh\nexec /sbin/init\n"), 0o755)
	a.AddFile("etc/shadow", []byte("root:*:::::::\ntc:*:::::::\n"), 0o600)
	return &base.Base{KernelVersion: "6.1.2-tinycore64", Kernel: b.kernel, Archive: a,
		Sources: []manifest.Source{{Kind: "file", Name: "own", SHA256: strings.Repeat("0", 64)}}}, nil
}

func TestBuildKeepsBaseInit(t *testing.T) {
	dir := fixture(t)
	s := writeSpec(t, dir, "prod", "")
	s.Modules.Include = nil
	kernel := filepath.Join(dir, "bzImage")
	if err := os.WriteFile(kernel, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, err := Build(context.Background(), Options{Spec: s, OutDir: out, CacheDir: filepath.Join(dir, "cache"), AgentPath: fakeAgent(t, ""),
		OpenBase: func(*spec.Spec) (base.Source, error) { return ownBase{kernel}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := initramfs.ReadFile(filepath.Join(out, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Get(InitPath); r.Type != initramfs.TypeFile {
		t.Errorf("/init = %v, want the base's own init script kept", r.Type)
	}
	if r, _ := a.Get("etc/shadow"); !bytes.Contains(r.Data, []byte("tc:*")) {
		t.Errorf("/etc/shadow = %q, want the base's", r.Data)
	}
	if r, ok := a.Get(AgentPath); !ok || r.Type != initramfs.TypeFile {
		t.Errorf("no /%s", AgentPath)
	}
	if _, ok := a.Get("lib/modules/6.1.2-tinycore64/modules.dep"); ok {
		t.Errorf("modules.dep written for an image without modules")
	}
}

// Outside a source tree the builder takes the prebuilt agent for the
// image's architecture and variant from AgentDir, and says so; without
// one it fails naming the file it looked for.
func TestPrebuiltAgentOutsideSourceTree(t *testing.T) {
	dir := fixture(t)
	agents := filepath.Join(t.TempDir(), "agent")
	os.MkdirAll(agents, 0o755)
	copyFile := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, variant := range []string{"prod", "dev"} {
		s := writeSpec(t, dir, variant, "")
		want := filepath.Join(agents, PrebuiltName(s.Arch, s.AgentTags()))
		var origin string
		opts := Options{
			Spec: s, OutDir: filepath.Join(dir, "out-"+variant), CacheDir: filepath.Join(dir, "cache"),
			AgentDir: agents, WorkDir: t.TempDir(), AgentChosen: func(o string) { origin = o },
		}
		if _, err := Build(context.Background(), opts); !errors.Is(err, ErrNoAgentSource) || !strings.Contains(err.Error(), want) {
			t.Errorf("Build(%s, no prebuilt agent) = %v, want ErrNoAgentSource naming %s", variant, err, want)
		}
		tags := ""
		if variant == "dev" {
			tags = "dev"
		}
		copyFile(fakeAgent(t, tags), want)
		m, err := Build(context.Background(), opts)
		if err != nil {
			t.Fatalf("Build(%s, prebuilt) = %v", variant, err)
		}
		if origin != "prebuilt "+want {
			t.Errorf("agent origin = %q, want prebuilt %s", origin, want)
		}
		sum, _, _ := manifest.HashFile(want)
		if got := m.Sources[len(m.Sources)-1]; got.Kind != "agent" || got.SHA256 != sum {
			t.Errorf("manifest agent source = %+v, want the prebuilt's sha256 %s", got, sum)
		}
	}
	if got := PrebuiltName("arm64", nil); got != "mk-agent-arm64" {
		t.Errorf("PrebuiltName(arm64) = %q", got)
	}
}

// Missing firmware is a note saying which module wants it and how to
// supply it; with StrictFirmware it is an error saying the same.
func TestMissingFirmwareAdvice(t *testing.T) {
	dir := fixture(t)
	s := writeSpec(t, dir, "prod", "")
	m, err := build(t, s, fakeAgent(t, ""), filepath.Join(dir, "out"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "missing firmware bnx2/bnx2-rv2p-09-6.0.17.fw (for module bnx2): it is in Debian's firmware-bnx2 package (apt component non-free-firmware): add firmware-bnx2 to debian.firmware in the spec and enable non-free-firmware in the apt sources (Components: main non-free-firmware, then apt-get update); or put the file in a directory listed in firmware.dirs"
	if !slices.Contains(m.Notes, want) {
		t.Errorf("manifest notes = %q, want %q", m.Notes, want)
	}
	_, err = Build(context.Background(), Options{
		Spec: s, OutDir: filepath.Join(dir, "strict"), CacheDir: filepath.Join(dir, "cache"),
		AgentPath: fakeAgent(t, ""), StrictFirmware: true,
	})
	if !errors.Is(err, ErrMissingFirmware) || !strings.Contains(err.Error(), want) {
		t.Errorf("Build(strict) = %v, want ErrMissingFirmware with the advice", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "strict", manifest.FileName)); !os.IsNotExist(err) {
		t.Errorf("strict build wrote a manifest (stat: %v)", err)
	}
}

func TestFirmwarePackage(t *testing.T) {
	for name, want := range map[string]string{
		"bnx2x/bnx2x-e2-7.13.21.0.fw":      "firmware-bnx2x",
		"bnx2/bnx2-mips-09-6.2.1b.fw":      "firmware-bnx2",
		"rtl_nic/rtl8168h-2.fw":            "firmware-realtek",
		"tigon/tg3_tso5.bin":               "firmware-misc-nonfree",
		"qed/qed_init_values-8.59.1.0.bin": "firmware-qlogic",
		"unknown/thing.bin":                "",
	} {
		if got := FirmwarePackage(name); got != want {
			t.Errorf("FirmwarePackage(%q) = %q, want %q", name, got, want)
		}
	}
}
