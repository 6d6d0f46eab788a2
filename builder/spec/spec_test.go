package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A real ed25519 public key (its private half is not kept anywhere).
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u test@example"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadShippedSpecs(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".ssh/id_ed25519.pub", testKey+"\n")
	prod, err := Load("../../images/prod.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(prod.yaml) = %v", err)
	}
	dev, err := Load("../../images/dev.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(dev.yaml) = %v", err)
	}
	type summary struct {
		Name, Variant, Base, Kernel, Busybox, Cmdline, Compression string
		Modules, Tags, Keys                                        []string
		Layers                                                     int
	}
	sum := func(s *Spec) summary {
		keys, err := s.AuthorizedKeys()
		if err != nil {
			t.Fatal(err)
		}
		return summary{s.Name, s.Variant, s.Base, s.Debian.Kernel, s.Debian.Busybox, s.Cmdline(),
			s.Initrd.Compression, s.Modules.Include, s.AgentTags(), keys, len(s.Layers)}
	}
	want := summary{"razor-mk", "prod", "debian", "linux-image-amd64", "busybox-static",
		"console=tty0 console=ttyS0,115200n8 quiet panic=10 cryptomgr.notests", "zstd", DefaultModules, nil, nil, 1}
	if diff := cmp.Diff(want, sum(prod)); diff != "" {
		t.Errorf("Load(prod.yaml) mismatch (-want +got):\n%s", diff)
	}
	want = summary{"razor-mk-dev", "dev", "debian", "linux-image-amd64", "busybox-static",
		"console=tty0 console=ttyS0,115200n8 panic=10 cryptomgr.notests", "zstd", DefaultModules, []string{"dev"}, []string{testKey}, 2}
	if diff := cmp.Diff(want, sum(dev)); diff != "" {
		t.Errorf("Load(dev.yaml) mismatch (-want +got):\n%s", diff)
	}
	if got := dev.Userland.BusyboxExclude; len(got) == 0 {
		t.Errorf("dev.yaml did not inherit userland.busybox_exclude from prod.yaml")
	}
	// --variant overrides; prod ignores the dev keys.
	p2, err := Load("../../images/dev.yaml", Options{Home: home, Variant: "prod"})
	if err != nil {
		t.Fatalf("Load(dev.yaml, --variant prod) = %v", err)
	}
	if got := p2.AgentTags(); len(got) != 0 {
		t.Errorf("Load(dev.yaml, --variant prod).AgentTags() = %v, want none", got)
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "s.yaml", "name: x\nbase: debian\n")
	s, err := Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{s.Variant, s.Arch, s.Debian.Kernel, s.Debian.Busybox, s.Initrd.Compression, s.Userland.Hostname, s.Cmdline()}
	want := []string{"prod", "amd64", "linux-image-amd64", "busybox-static", "gzip", "razor-mk", DefaultCmdline}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DefaultModules, s.Modules.Include); diff != "" {
		t.Errorf("default modules mismatch (-want +got):\n%s", diff)
	}
	// An explicit empty list means no modules, and paths are resolved
	// relative to the spec.
	writeFile(t, dir, "files/hello", "hi")
	p = writeFile(t, dir, "s2.yaml", "name: x\nbase: debian\nmodules: {include: []}\nfiles:\n  - {src: files/hello, dst: /etc/hello, mode: \"0600\"}\n")
	s, err = Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Modules.Include) != 0 {
		t.Errorf("modules.include: [] gave %v, want none", s.Modules.Include)
	}
	if got, want := s.Files[0], (File{Src: filepath.Join(dir, "files/hello"), Dst: "/etc/hello", Mode: 0o600}); got != want {
		t.Errorf("files[0] = %+v, want %+v", got, want)
	}
}

func TestValidationErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "parent.yaml", "name: p\nbase: debian\nvariant: dev\n")
	writeFile(t, dir, "cycle-a.yaml", "extends: cycle-b.yaml\nname: a\n")
	writeFile(t, dir, "cycle-b.yaml", "extends: cycle-a.yaml\nname: b\n")
	writeFile(t, dir, "badkeys.pub", "ssh-ed25519 nothex\n")
	writeFile(t, dir, "notadeb.txt", "x")
	tests := []struct {
		name string
		yaml string
		want string // substring of the error: file:line: key: message
	}{
		{"unknown top key", "name: x\nbase: debian\nnam: y\n", "s.yaml:3: nam: unknown key"},
		{"unknown nested key", "name: x\nbase: debian\ndebian:\n  kernl: linux-image-amd64\n", "s.yaml:4: debian.kernl: unknown key"},
		{"unknown key in list item", "name: x\nbase: debian\nfiles:\n  - src: a\n    dest: /x\n", "s.yaml:5: files[0].dest: unknown key"},
		{"missing name", "base: debian\n", "s.yaml: name: required"},
		{"bad name", "name: \"a b\"\nbase: debian\n", "s.yaml:1: name: \"a b\": want"},
		{"name not a string", "name: 12\nbase: debian\n", "s.yaml:1: name: want a string, got int \"12\""},
		{"missing base", "name: x\n", "s.yaml: base: required"},
		{"unknown base", "name: x\nbase: gentoo\n", "s.yaml:2: base: unknown base \"gentoo\""},
		{"bad variant", "name: x\nbase: debian\nvariant: staging\n", "s.yaml:3: variant: \"staging\": want dev or prod"},
		{"bad arch", "name: x\nbase: debian\narch: sparc\n", "s.yaml:3: arch: \"sparc\""},
		{"section not a mapping", "name: x\nbase: debian\ndebian: linux\n", "s.yaml:3: debian: want a mapping"},
		{"list not a list", "name: x\nbase: debian\nmodules:\n  include: virtio_net\n", "s.yaml:4: modules.include: want a list"},
		{"bad package name", "name: x\nbase: debian\ndebian: {kernel: Linux_Image}\n", "s.yaml:3: debian.kernel: \"Linux_Image\" is not a Debian package name"},
		{"missing kernel deb", "name: x\nbase: debian\ndebian:\n  kernel_deb: nope.deb\n", "s.yaml:4: debian.kernel_deb: " + filepath.Join(dir, "nope.deb") + ": no such file"},
		{"deb not .deb", "name: x\nbase: debian\ndebian:\n  busybox_deb: notadeb.txt\n", "s.yaml:4: debian.busybox_deb: " + filepath.Join(dir, "notadeb.txt") + ": want a .deb file"},
		{"kernel and kernel_deb", "name: x\nbase: debian\ndebian:\n  kernel: linux-image-amd64\n  kernel_deb: notadeb.txt\n", "s.yaml:5: debian.kernel_deb: give debian.kernel or debian.kernel_deb"},
		{"secure boot on i386", "name: x\nbase: debian\narch: i386\ndebian: {secure_boot: true}\n", "s.yaml:4: debian.secure_boot: no signed loaders are known for i386 (only amd64, arm64)"},
		{"secure boot not a bool", "name: x\nbase: debian\ndebian:\n  secure_boot: maybe\n", "s.yaml:4: debian.secure_boot: "},
		{"shim_deb without secure boot", "name: x\nbase: debian\ndebian:\n  secure_boot: false\n  shim_deb: notadeb.txt\n", "s.yaml:5: debian.shim_deb: " + filepath.Join(dir, "notadeb.txt") + ": want a .deb file"},
		{"bad glob", "name: x\nbase: debian\nmodules:\n  include:\n    - virtio_net\n    - \"mlx[\"\n", "s.yaml:6: modules.include[1]: \"mlx[\": bad glob"},
		{"empty module", "name: x\nbase: debian\nmodules:\n  exclude: [\"\"]\n", "s.yaml:4: modules.exclude[0]: empty module pattern"},
		{"escaping module path", "name: x\nbase: debian\nmodules:\n  include: [../x]\n", "s.yaml:4: modules.include[0]: \"../x\""},
		{"missing firmware dir", "name: x\nbase: debian\nfirmware:\n  dirs: [/nonexistent/fw]\n", "s.yaml:4: firmware.dirs[0]: /nonexistent/fw: no such directory"},
		{"bad compression", "name: x\nbase: debian\ninitrd:\n  compression: lzo\n", "s.yaml:4: initrd.compression: \"lzo\""},
		{"bad level", "name: x\nbase: debian\ninitrd:\n  compression: gzip\n  level: 12\n", "s.yaml:5: initrd.level: 12: gzip levels are 1-9"},
		{"level on xz", "name: x\nbase: debian\ninitrd: {compression: xz, level: 3}\n", "s.yaml:3: initrd.level: 3: xz takes no level"},
		{"level not int", "name: x\nbase: debian\ninitrd:\n  level: high\n", "s.yaml:4: initrd.level: cannot unmarshal"},
		{"cmdline with token", "name: x\nbase: debian\nkernel:\n  cmdline: quiet razor.token=abc\n", "s.yaml:4: kernel.cmdline: razor.token= is added per node"},
		{"cmdline with rdinit", "name: x\nbase: debian\nkernel:\n  cmdline: rdinit=/bin/sh\n", "s.yaml:4: kernel.cmdline: rdinit="},
		{"bad hostname", "name: x\nbase: debian\nuserland:\n  hostname: Razor_MK\n", "s.yaml:4: userland.hostname: \"Razor_MK\""},
		{"bad applet", "name: x\nbase: debian\nuserland:\n  busybox_exclude: [\"a/b\"]\n", "s.yaml:4: userland.busybox_exclude[0]: \"a/b\" is not an applet name"},
		{"dev tag in prod", "name: x\nbase: debian\nagent:\n  tags: [netgo, dev]\n", "s.yaml:4: agent.tags[1]: the dev tag compiles the SSH server in"},
		{"missing agent", "name: x\nbase: debian\nagent:\n  path: bin/mk-agent\n", "s.yaml:4: agent.path: " + filepath.Join(dir, "bin/mk-agent") + ": no such file"},
		{"agent source without go.mod", "name: x\nbase: debian\nagent:\n  source: /\n", "s.yaml:4: agent.source: /: no go.mod there"},
		{"bad authorized key", "name: x\nbase: debian\nvariant: dev\nssh:\n  authorized_keys:\n    - \"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u\"\n", "s.yaml:6: ssh.authorized_keys[0]: ssh-rsa key: the blob is not a ssh-rsa key"},
		{"not a key", "name: x\nbase: debian\nssh:\n  authorized_keys: [hello]\n", "s.yaml:4: ssh.authorized_keys[0]: no key type"},
		{"bad key file", "name: x\nbase: debian\nssh:\n  authorized_keys_files: [badkeys.pub]\n", "s.yaml:4: ssh.authorized_keys_files[0]: " + filepath.Join(dir, "badkeys.pub") + ":1: ssh-ed25519 key: blob is not base64"},
		{"missing key file", "name: x\nbase: debian\nssh:\n  authorized_keys_files: [nokeys.pub]\n", "s.yaml:4: ssh.authorized_keys_files[0]: " + filepath.Join(dir, "nokeys.pub") + ": no such file"},
		{"file src missing", "name: x\nbase: debian\nfiles:\n  - src: nothere\n    dst: /etc/x\n", "s.yaml:4: files[0].src: " + filepath.Join(dir, "nothere") + ": no such file"},
		{"file dst relative", "name: x\nbase: debian\nfiles:\n  - src: notadeb.txt\n    dst: etc/x\n", "s.yaml:5: files[0].dst: \"etc/x\": want a clean absolute path"},
		{"file dst init", "name: x\nbase: debian\nfiles:\n  - src: notadeb.txt\n    dst: /init\n", "s.yaml:5: files[0].dst: /init is the agent"},
		{"file dst dev", "name: x\nbase: debian\nfiles:\n  - src: notadeb.txt\n    dst: /dev/x\n", "s.yaml:5: files[0].dst: /dev/x: /proc, /sys and /dev"},
		{"file dst duplicate", "name: x\nbase: debian\nfiles:\n  - {src: notadeb.txt, dst: /a}\n  - {src: notadeb.txt, dst: /a}\n", "s.yaml:5: files[1].dst: /a is also files[0].dst"},
		{"bad mode", "name: x\nbase: debian\nfiles:\n  - src: notadeb.txt\n    dst: /etc/x\n    mode: \"0999\"\n", "s.yaml:6: files[0].mode: mode \"0999\" is not an octal permission"},
		{"duplicate key", "name: x\nbase: debian\nname: y\n", "s.yaml:3: mapping key \"name\" already defined at line 1"},
		{"syntax error", "name: x\n\tbase: debian\n", "s.yaml:2: found a tab character"},
		{"not a mapping", "- name\n", "s.yaml:1: a spec is a mapping"},
		{"empty", "", "s.yaml: empty spec"},
		{"extends missing", "extends: nothere.yaml\nname: x\n", "s.yaml:1: extends: " + filepath.Join(dir, "nothere.yaml") + ": not a readable file"},
		{"extends cycle", "extends: cycle-a.yaml\nname: x\n", "extends: cycle:"},
		{"error in parent", "extends: parent.yaml\nagent:\n  tags: [dev]\nvariant: prod\n", "s.yaml:3: agent.tags[0]: the dev tag"},
		{"merge key refused", "name: x\nbase: debian\n<<: {variant: dev}\n", "s.yaml:3: <<: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, "s.yaml", tt.yaml)
			_, err := Load(p, Options{Home: dir})
			if err == nil {
				t.Fatalf("Load(%q) = nil error, want %q", tt.yaml, tt.want)
			}
			if !errors.Is(err, ErrSpec) {
				t.Errorf("Load(%q) = %v, does not wrap ErrSpec", tt.yaml, err)
			}
			got := strings.ReplaceAll(err.Error(), dir+"/s.yaml", "s.yaml")
			if !strings.Contains(got, tt.want) {
				t.Errorf("Load(%q) = %q, want it to contain %q", tt.yaml, got, tt.want)
			}
		})
	}
}

func TestExtendsOverridesAlternatives(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "k.deb", "x")
	// The parent lies elsewhere: point extends at the shipped spec.
	prod, _ := filepath.Abs("../../images/prod.yaml")
	p := writeFile(t, dir, "child.yaml", "extends: "+prod+"\ndebian:\n  kernel_deb: k.deb\n")
	s, err := Load(p, Options{})
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if s.Debian.Kernel != "" || s.Debian.KernelDeb != filepath.Join(dir, "k.deb") || s.Debian.Busybox != "busybox-static" {
		t.Errorf("debian = %+v, want the child's kernel_deb and the parent's busybox", s.Debian)
	}
	// In one file both are an error.
	p = writeFile(t, dir, "both.yaml", "name: x\nbase: debian\ndebian:\n  kernel: linux-image-amd64\n  kernel_deb: k.deb\n")
	if _, err := Load(p, Options{}); err == nil || !strings.Contains(err.Error(), "give debian.kernel or debian.kernel_deb") {
		t.Errorf("Load(both) = %v, want the conflict reported", err)
	}
}

// TestExtendsCompressionLevel: a child that picks another compression
// gets that compression's default level, not the parent's zstd 19; one
// that also names a level gets it.
func TestExtendsCompressionLevel(t *testing.T) {
	dir := t.TempDir()
	prod, _ := filepath.Abs("../../images/prod.yaml")
	for _, tc := range []struct {
		child     string
		comp      string
		level     int
		wantError string
	}{
		{"initrd:\n  compression: gzip\n", "gzip", 0, ""},
		{"initrd:\n  compression: gzip\n  level: 6\n", "gzip", 6, ""},
		{"userland:\n  hostname: x\n", "zstd", 19, ""},
		{"initrd:\n  level: 12\n", "zstd", 12, ""},
		{"initrd:\n  compression: gzip\n  level: 12\n", "", 0, "child.yaml:4: initrd.level: 12: gzip levels are 1-9"},
	} {
		p := writeFile(t, dir, "child.yaml", "extends: "+prod+"\n"+tc.child)
		s, err := Load(p, Options{})
		if tc.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("Load(%q) = %v, want %q", tc.child, err, tc.wantError)
			}
			continue
		}
		if err != nil {
			t.Errorf("Load(%q) = %v", tc.child, err)
			continue
		}
		if s.Initrd.Compression != tc.comp || s.Initrd.Level != tc.level {
			t.Errorf("Load(%q): initrd = %s level %d, want %s level %d", tc.child, s.Initrd.Compression, s.Initrd.Level, tc.comp, tc.level)
		}
	}
}

func TestSeveralErrorsReported(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "s.yaml", "name: x\nbase: debian\nvariant: qa\ninitrd:\n  compression: lzo\n")
	_, err := Load(p, Options{})
	if err == nil {
		t.Fatal("Load = nil, want two errors")
	}
	for _, want := range []string{"s.yaml:3: variant:", "s.yaml:5: initrd.compression:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %q, want it to contain %q", err, want)
		}
	}
}

func TestAuthorizedKeysFlag(t *testing.T) {
	dir := t.TempDir()
	k := writeFile(t, dir, "k.pub", "# my key\n\n"+testKey+"\n")
	p := writeFile(t, dir, "s.yaml", "name: x\nbase: debian\nvariant: dev\nssh:\n  authorized_keys: [\""+testKey+"\"]\n")
	s, err := Load(p, Options{AuthorizedKeysFiles: []string{k}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AuthorizedKeys()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{testKey}, got); diff != "" {
		t.Errorf("AuthorizedKeys() mismatch (-want +got):\n%s", diff)
	}
	_, err = Load(p, Options{AuthorizedKeysFiles: []string{filepath.Join(dir, "none.pub")}})
	if err == nil || !strings.Contains(err.Error(), "--authorized-keys[0]: ssh.authorized_keys_files[0]") {
		t.Errorf("Load(--authorized-keys none.pub) = %v, want an error naming --authorized-keys", err)
	}
}

func TestCheckAuthorizedKey(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{testKey, true},
		{`from="10.0.0.0/8",command="echo a b" ` + testKey, true},
		{"ssh-ed25519", false},
		{"ssh-ed25519 !!!", false},
		{"ssh-ed25519 AAAA", false},
		{"", false},
		{"foo bar", false},
	}
	for _, tt := range tests {
		err := CheckAuthorizedKey(tt.line)
		if (err == nil) != tt.ok {
			t.Errorf("CheckAuthorizedKey(%q) = %v, want ok=%v", tt.line, err, tt.ok)
		}
	}
}

func TestSecureBootDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "shim.deb", "x")
	writeFile(t, dir, "grub.deb", "x")
	tests := []struct {
		name, yaml string
		want       bool
	}{
		{"amd64 default", "name: x\nbase: debian\n", true},
		{"arm64 default", "name: x\nbase: debian\narch: arm64\n", true},
		{"i386 default", "name: x\nbase: debian\narch: i386\n", false},
		{"off", "name: x\nbase: debian\ndebian: {secure_boot: false}\n", false},
		{"local debs", "name: x\nbase: debian\ndebian: {shim_deb: shim.deb, grub_deb: grub.deb}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(writeFile(t, dir, "s.yaml", tt.yaml), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.WantLoaders(); got != tt.want {
				t.Errorf("WantLoaders() = %v, want %v", got, tt.want)
			}
		})
	}
	// A child turns off what its parent turned on.
	writeFile(t, dir, "parent.yaml", "name: p\nbase: debian\ndebian: {secure_boot: true}\n")
	s, err := Load(writeFile(t, dir, "child.yaml", "extends: parent.yaml\ndebian: {secure_boot: false}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.WantLoaders() {
		t.Errorf("child with secure_boot: false: WantLoaders() = true")
	}
	// The shipped specs turn it on explicitly.
	for _, f := range []string{"../../images/prod.yaml", "../../images/dev.yaml", "../../images/prod-arm64.yaml", "../../images/dev-arm64.yaml"} {
		s, err := Load(f, Options{Home: dir})
		if err != nil {
			t.Fatal(err)
		}
		if !s.WantLoaders() || s.Pos("debian.secure_boot").Line == 0 {
			t.Errorf("%s: WantLoaders() = %v at %v, want on, set in the file", f, s.WantLoaders(), s.Pos("debian.secure_boot"))
		}
	}
	l, ok := LoadersFor("amd64")
	if !ok || l.Shim.Name != "shimx64.efi" || l.GRUB.Name != "grubx64.efi" || !strings.Contains(l.GRUB.File, "grubnetx64") {
		t.Errorf("LoadersFor(amd64) = %+v, %v", l, ok)
	}
	// Checked against Debian 12's arm64 packages (dpkg-deb -c).
	want := Loaders{
		Arch: "arm64",
		Shim: LoaderFile{Package: "shim-signed", File: "usr/lib/shim/shimaa64.efi.signed", Name: "shimaa64.efi"},
		GRUB: LoaderFile{Package: "grub-efi-arm64-signed", File: "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed", Name: "grubaa64.efi"},
	}
	if l, ok := LoadersFor("arm64"); !ok || l != want {
		t.Errorf("LoadersFor(arm64) = %+v, %v; want %+v", l, ok, want)
	}
	if _, ok := LoadersFor("i386"); ok {
		t.Errorf("LoadersFor(i386) found loaders; Debian signs none for i386")
	}
}

// TestLoadShippedArm64Specs checks images/prod-arm64.yaml and
// images/dev-arm64.yaml: prod.yaml's settings with arm64's kernel,
// drivers and serial console.
func TestLoadShippedArm64Specs(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".ssh/id_ed25519.pub", testKey+"\n")
	prod, err := Load("../../images/prod-arm64.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(prod-arm64.yaml) = %v", err)
	}
	dev, err := Load("../../images/dev-arm64.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(dev-arm64.yaml) = %v", err)
	}
	amd, err := Load("../../images/prod.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(prod.yaml) = %v", err)
	}
	type summary struct {
		Name, Variant, Arch, Kernel, Busybox, Cmdline, Compression string
		Modules, Firmware, Tags, Keys                              []string
		Loaders                                                    bool
		Layers                                                     int
	}
	sum := func(s *Spec) summary {
		keys, err := s.AuthorizedKeys()
		if err != nil {
			t.Fatal(err)
		}
		return summary{s.Name, s.Variant, s.Arch, s.Debian.Kernel, s.Debian.Busybox, s.Cmdline(), s.Initrd.Compression,
			s.Modules.Include, s.Debian.Firmware, s.AgentTags(), keys, s.WantLoaders(), len(s.Layers)}
	}
	want := summary{"razor-mk-arm64", "prod", "arm64", "linux-image-arm64", "busybox-static",
		"console=tty0 console=ttyAMA0,115200n8 quiet panic=10 cryptomgr.notests", "zstd",
		DefaultModulesArm64, []string{"firmware-misc-nonfree"}, nil, nil, true, 2}
	if diff := cmp.Diff(want, sum(prod)); diff != "" {
		t.Errorf("Load(prod-arm64.yaml) mismatch (-want +got):\n%s", diff)
	}
	want = summary{"razor-mk-arm64-dev", "dev", "arm64", "linux-image-arm64", "busybox-static",
		"console=tty0 console=ttyAMA0,115200n8 panic=10 cryptomgr.notests", "zstd",
		DefaultModulesArm64, []string{"firmware-misc-nonfree"}, []string{"dev"}, []string{testKey}, true, 3}
	if diff := cmp.Diff(want, sum(dev)); diff != "" {
		t.Errorf("Load(dev-arm64.yaml) mismatch (-want +got):\n%s", diff)
	}
	// prod.yaml's hardening is inherited, not copied.
	for _, s := range []*Spec{prod, dev} {
		if diff := cmp.Diff(amd.Userland.BusyboxExclude, s.Userland.BusyboxExclude); diff != "" {
			t.Errorf("%s: busybox_exclude differs from prod.yaml's (-prod +arm64):\n%s", s.Name, diff)
		}
		if s.Initrd != amd.Initrd {
			t.Errorf("%s: initrd = %+v, prod.yaml's %+v", s.Name, s.Initrd, amd.Initrd)
		}
	}
}

func TestArm64Defaults(t *testing.T) {
	dir := t.TempDir()
	s, err := Load(writeFile(t, dir, "s.yaml", "name: x\nbase: debian\narch: arm64\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{s.Arch, s.Debian.Kernel, s.Debian.Busybox, s.Cmdline()}
	want := []string{"arm64", "linux-image-arm64", "busybox-static", DefaultCmdlineArm64}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("arm64 defaults mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DefaultModulesArm64, s.Modules.Include); diff != "" {
		t.Errorf("arm64 default modules mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(DefaultCmdlineArm64, "console=ttyAMA0,115200n8") || strings.Contains(DefaultCmdlineArm64, "ttyS0") {
		t.Errorf("DefaultCmdlineArm64 = %q, want the PL011 console ttyAMA0", DefaultCmdlineArm64)
	}
	// A spec that sets its own modules and command line keeps them.
	s, err = Load(writeFile(t, dir, "s2.yaml", "name: x\nbase: debian\narch: arm64\nmodules: {include: [nvme]}\nkernel: {cmdline: quiet}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"nvme"}, s.Modules.Include); diff != "" || s.Cmdline() != "quiet" {
		t.Errorf("arm64 spec with modules and cmdline: %v %q", s.Modules.Include, s.Cmdline())
	}
	// The shipped arm64 specs list DefaultModulesArm64, as prod.yaml lists
	// DefaultModules: the two lists must not drift apart.
	if got := DefaultModulesFor("amd64"); !slices.Equal(got, DefaultModules) {
		t.Errorf("DefaultModulesFor(amd64) = %v", got)
	}
}
