package tinycore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
	"github.com/razor-mk/razor-mk/initramfs"
)

func TestEditBootsync(t *testing.T) {
	tests := []struct{ name, in, host, want string }{
		{"stock", tctest.Bootsync, "razor-mk",
			"#!/bin/sh\n# put other system startup commands here, the boot process will wait until they complete.\n# Use bootlocal.sh for system startup commands that can run in the background\n# and therefore not slow down the boot process.\n/usr/bin/sethostname razor-mk\n/etc/init.d/razor-mk start # Razor: start mk-agent\n/opt/bootlocal.sh &\n"},
		{"no bootlocal", "#!/bin/sh\nsethostname box\n", "", "#!/bin/sh\nsethostname box\n/etc/init.d/razor-mk start # Razor: start mk-agent\n"},
		{"already there", "#!/bin/sh\n/etc/init.d/razor-mk start\n/opt/bootlocal.sh &\n", "", "#!/bin/sh\n/etc/init.d/razor-mk start\n/opt/bootlocal.sh &\n"},
	}
	for _, tt := range tests {
		if got := string(editBootsync([]byte(tt.in), tt.host)); got != tt.want {
			t.Errorf("%s: EditBootsync = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEditInittab(t *testing.T) {
	got := string(editInittab([]byte(tctest.Inittab), true))
	if strings.Contains(got, "autologin") {
		t.Errorf("EditInittab(prod) kept the auto-login:\n%s", got)
	}
	if !strings.Contains(got, "::respawn:/sbin/getty 38400 tty1\n") || !strings.HasSuffix(got, "::once:/etc/init.d/razor-mk start\n") {
		t.Errorf("EditInittab(prod) = \n%s", got)
	}
	dev := string(editInittab([]byte(tctest.Inittab), false))
	if !strings.Contains(dev, "-nl /sbin/autologin") {
		t.Errorf("EditInittab(dev) removed the auto-login")
	}
	if again := string(editInittab([]byte(dev), false)); again != dev {
		t.Errorf("EditInittab is not idempotent:\n%s", again)
	}
}

func TestLockShadow(t *testing.T) {
	got := string(lockShadow([]byte(tctest.Shadow)))
	want := "root:*:13525:0:99999:7:::\nlp:*:13510:0:99999:7:::\nnobody:*:13509:0:99999:7:::\ntc:*:13646:0:99999:7:::\n"
	if got != want {
		t.Errorf("LockShadow = %q, want %q", got, want)
	}
}

// assembleLike does what the image builder does around a base: merge it,
// write its own Debian-style files over it, add the agent, then call the
// base's overlay.
func assembleLike(t *testing.T, s *spec.Spec) (*initramfs.Archive, []string) {
	t.Helper()
	env := testEnv(t)
	b, err := New(s).Open(context.Background(), env)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	a := initramfs.New()
	a.Merge(b.Archive)
	a.AddFile("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	a.AddFile("etc/shadow", []byte("root:*::0:99999:7:::\n"), 0o600)
	a.AddFile("etc/os-release", []byte("ID=razor-mk\nVERSION_ID=\"test\"\n"), 0o644)
	a.AddSymlink("init", "/bin/mk-agent")
	a.AddDevice("dev/console", initramfs.CharDevice, 5, 1, 0o600)
	a.AddFile("etc/razor/authorized_keys", []byte("x\n"), 0o600)
	a.AddFile("bin/mk-agent", []byte("agent"), 0o755)
	if err := b.Overlay(a); err != nil {
		t.Fatalf("Overlay = %v", err)
	}
	return a, b.Extensions
}

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u test@example"

func loadSpec(t *testing.T, yaml string) *spec.Spec {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(p, spec.Options{Home: t.TempDir()})
	if err != nil {
		t.Fatalf("spec.Load = %v", err)
	}
	return s
}

func TestRemasterProd(t *testing.T) {
	f := mirrorFixture(t)
	s := loadSpec(t, `name: tc
base: tinycore
tinycore: {version: "15.x", mirror: `+f.Dir+`}
extensions:
  builtin: [hello.tcz]
  mirror: [vmtools.tcz, meta.tcz]
  mirror_modules: [vmw_vmci, drivers/net/vmxnet3.ko]
userland:
  busybox_exclude: [telnetd, httpd]
`)
	a, exts := assembleLike(t, s)
	wantExts := []string{"builtin/marker-bin.tcz", "builtin/hello.tcz", "mirror/vmlib.tcz", "mirror/vmtools.tcz", "mirror/meta.tcz"}
	if diff := cmp.Diff(wantExts, exts); diff != "" {
		t.Errorf("extensions mismatch (-want +got):\n%s", diff)
	}
	content := func(name string) string {
		r, ok := a.Get(name)
		if !ok {
			t.Errorf("no /%s", name)
			return ""
		}
		data, _ := r.Content()
		return string(data)
	}
	// The release's own files are back.
	if got := content("etc/passwd"); got != tctest.Passwd {
		t.Errorf("/etc/passwd = %q, want the release's", got)
	}
	if r, _ := a.Get("init"); r.Type != initramfs.TypeFile {
		t.Errorf("/init is a %s, want Tiny Core's script", r.Type)
	}
	if _, ok := a.Get("etc/razor/authorized_keys"); ok {
		t.Errorf("/etc/razor/authorized_keys kept")
	}
	if got := content("etc/shadow"); got != string(lockShadow([]byte(tctest.Shadow))) {
		t.Errorf("/etc/shadow = %q, want every account locked", got)
	}
	if r, _ := a.Get("etc/shadow"); r.GID != tctest.StaffGID || r.Perm != 0o640 {
		t.Errorf("/etc/shadow owner/mode changed: gid %d perm %v", r.GID, r.Perm)
	}
	if got := content("opt/bootsync.sh"); !strings.Contains(got, "/etc/init.d/razor-mk start # Razor: start mk-agent\n/opt/bootlocal.sh &") || !strings.Contains(got, "sethostname razor-mk") {
		t.Errorf("/opt/bootsync.sh = %q", got)
	}
	if r, _ := a.Get("opt/bootsync.sh"); r.GID != tctest.StaffGID || r.Perm != 0o775 {
		t.Errorf("/opt/bootsync.sh lost its owner or mode: %+v", r)
	}
	if got := content("etc/inittab"); strings.Contains(got, "autologin") || !strings.Contains(got, "::once:/etc/init.d/razor-mk start") {
		t.Errorf("/etc/inittab = %q", got)
	}
	if got := content(startScriptPath); strings.Contains(got, "sshd") || !strings.Contains(got, "/bin/mk-agent run") {
		t.Errorf("%s = %q", startScriptPath, got)
	}
	for _, gone := range []string{"usr/sbin/telnetd", "usr/sbin/httpd"} {
		if _, ok := a.Get(gone); ok {
			t.Errorf("/%s kept despite busybox_exclude", gone)
		}
	}
	if _, ok := a.Get("usr/sbin/ftpd"); !ok {
		t.Errorf("/usr/sbin/ftpd removed, but it is not excluded")
	}
	if got := content("tmp/builtin/onboot.lst"); got != "marker-bin.tcz\nhello.tcz\n" {
		t.Errorf("onboot.lst = %q", got)
	}
	if r, _ := a.Get("tmp/builtin/optional/hello.tcz"); r.UID != tctest.TCUID || r.GID != tctest.StaffGID || r.Size() != 4096 {
		t.Errorf("hello.tcz: uid %d gid %d size %d", r.UID, r.GID, r.Size())
	}
	if got := content("tmp/builtin/optional/hello.tcz.dep"); got != "marker-bin.tcz\n" {
		t.Errorf("hello.tcz.dep = %q", got)
	}
	tcz := "tmp/tinycorelinux/15.x/x86_64/tcz/"
	for _, n := range []string{"vmtools.tcz", "vmtools.tcz.md5.txt", "vmtools.tcz.dep", "vmtools.tcz.info", "vmtools.tcz.list", "vmlib.tcz", "meta.tcz", "meta.tcz.dep"} {
		if _, ok := a.Get(tcz + n); !ok {
			t.Errorf("mirror tree lacks %s", n)
		}
	}
	for _, n := range []string{"hello.tcz", "marker-bin.tcz"} {
		if _, ok := a.Get(tcz + n); ok {
			t.Errorf("mirror tree holds %s, which is built in", n)
		}
	}
	if got := content("tmp/tinycorelinux/tce-install-list"); got != "- vmtools.tcz\n- meta.tcz\n" {
		t.Errorf("tce-install-list = %q", got)
	}
	if got := content("tmp/tinycorelinux/kmod-install-list"); got != "- vmw_vmci\n- drivers/net/vmxnet3.ko\n" {
		t.Errorf("kmod-install-list = %q", got)
	}
	// Device nodes and tc's files are as the release has them.
	if r, _ := a.Get("dev/ttyS0"); r.Type != initramfs.TypeCharDevice || r.Major != 4 || r.Minor != 64 || r.GID != 20 {
		t.Errorf("dev/ttyS0 = %+v", r)
	}
	if r, _ := a.Get("home/tc/.ashrc"); r.UID != tctest.TCUID {
		t.Errorf("home/tc/.ashrc uid %d", r.UID)
	}
	for _, r := range a.Records() {
		if strings.Contains(r.Name, "authorized_keys") || strings.Contains(r.Name, "openssh") {
			t.Errorf("prod image holds /%s", r.Name)
		}
	}
}

func TestRemasterDev(t *testing.T) {
	f := mirrorFixture(t)
	s := loadSpec(t, `name: tc-dev
base: tinycore
variant: dev
tinycore: {version: "15.0", mirror: `+f.Dir+`}
ssh:
  authorized_keys: ["`+testKey+`"]
`)
	a, exts := assembleLike(t, s)
	if diff := cmp.Diff([]string{"builtin/openssl.tcz", "builtin/openssh.tcz"}, exts); diff != "" {
		t.Errorf("dev extensions mismatch (-want +got):\n%s", diff)
	}
	r, ok := a.Get("home/tc/.ssh/authorized_keys")
	if !ok || r.UID != tctest.TCUID || r.GID != tctest.StaffGID || r.Perm != 0o600 || string(r.Data) != testKey+"\n" {
		t.Errorf("authorized_keys = %+v", r)
	}
	if d, _ := a.Get("home/tc/.ssh"); d.Type != initramfs.TypeDir || d.Perm != 0o700 || d.UID != tctest.TCUID {
		t.Errorf("home/tc/.ssh = %+v", d)
	}
	script, _ := a.Get(startScriptPath)
	if !strings.Contains(string(script.Data), sshServerScript+" start") || !strings.Contains(string(script.Data), "PasswordAuthentication no") {
		t.Errorf("dev start script does not start sshd:\n%s", script.Data)
	}
	inittab, _ := a.Get(inittabPath)
	if !strings.Contains(string(inittab.Data), "autologin") {
		t.Errorf("dev inittab lost the console auto-login")
	}
	if shadow, _ := a.Get(shadowPath); string(shadow.Data) != tctest.Shadow {
		t.Errorf("dev shadow changed: %q", shadow.Data)
	}
}

func TestRemasterRefuses(t *testing.T) {
	f := mirrorFixture(t)
	// A prod spec whose extension depends on an SSH server.
	extra := tctest.Ext{Name: "admin.tcz", Dep: "openssh.tcz\n", Files: []tctest.File{{Path: "usr/local/share/admin", Data: "x"}}}
	dir := t.TempDir()
	g, err := tctest.Generate(dir, tctest.Options{Extra: []tctest.Ext{extra, {Name: "sneaky.tcz", Files: []tctest.File{{Path: "usr/local/sbin/sshd", Data: "x", Mode: 0o755}}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ext, want string }{
		{"admin.tcz", "openssh.tcz"},
		{"sneaky.tcz", "sneaky.tcz (holds usr/local/sbin/sshd)"},
	} {
		s := loadSpec(t, "name: x\nbase: tinycore\ntinycore: {version: \"15.x\", mirror: "+g.Dir+"}\nextensions: {builtin: ["+tt.ext+"]}\n")
		_, err := New(s).Open(context.Background(), testEnv(t))
		if !errors.Is(err, ErrProdSSH) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(prod with %s) = %v, want ErrProdSSH naming %q", tt.ext, err, tt.want)
		}
	}
	// Not Tiny Core.
	a := initramfs.New()
	a.AddFile("etc/passwd", []byte("root:x:0:0::/:/bin/sh\n"), 0o644)
	if err := checkTinyCore(a); !errors.Is(err, ErrNotTinyCore) || !strings.Contains(err.Error(), "/etc/init.d/tc-config") {
		t.Errorf("CheckTinyCore(debian-like) = %v", err)
	}
	// An unknown extension names itself.
	s := loadSpec(t, "name: x\nbase: tinycore\ntinycore: {version: \"15.x\", mirror: "+f.Dir+"}\nextensions: {mirror: [nothere.tcz]}\n")
	if _, err := New(s).Open(context.Background(), testEnv(t)); !errors.Is(err, ErrUnknownExtension) || !strings.Contains(err.Error(), "extensions.mirror: ") {
		t.Errorf("Open(unknown mirror extension) = %v", err)
	}
}

func TestWithExtensionsOnDebian(t *testing.T) {
	f := mirrorFixture(t)
	s := loadSpec(t, "name: x\nbase: debian\ntinycore: {version: \"15.x\", mirror: "+f.Dir+"}\nextensions: {builtin: [hello.tcz], mirror: [vmtools.tcz], mirror_modules: [vmw_vmci]}\n")
	inner := &fakeBase{kver: f.KernelVersion}
	src := WithExtensions(inner, s)
	b, err := src.Open(context.Background(), testEnv(t))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if diff := cmp.Diff([]string{"builtin/marker-bin.tcz", "builtin/hello.tcz", "mirror/vmlib.tcz", "mirror/vmtools.tcz"}, b.Extensions); diff != "" {
		t.Errorf("extensions mismatch (-want +got):\n%s", diff)
	}
	r, ok := b.Archive.Get("tmp/builtin/optional/hello.tcz")
	if !ok || r.UID != 0 {
		t.Errorf("hello.tcz on debian = %+v, %v; want it owned by root", r, ok)
	}
	if src.Kind() != "debian" {
		t.Errorf("Kind() = %q, want the wrapped base's", src.Kind())
	}
	plain := loadSpec(t, "name: x\nbase: debian\n")
	if WithExtensions(inner, plain) != inner {
		t.Errorf("WithExtensions without extensions wrapped the source")
	}
}

type fakeBase struct{ kver string }

func (*fakeBase) Kind() string { return "debian" }

func (f *fakeBase) Open(context.Context, base.Env) (*base.Base, error) {
	a := initramfs.New()
	a.AddFile("bin/busybox", []byte("bb"), 0o755)
	return &base.Base{KernelVersion: f.kver, Kernel: "/dev/null", Archive: a}, nil
}
