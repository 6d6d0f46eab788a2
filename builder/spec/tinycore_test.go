package spec

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTinycoreDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mirror/15.x/x86_64/tcz/.keep", "")
	tests := []struct {
		name string
		yaml string
		want Tinycore
		mods []string
	}{
		{"x86_64 prod", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\n",
			Tinycore{Version: "15.x", Build: "x86_64", Mirror: DefaultTinycoreMirror, Kernel: "vmlinuz64", Initrds: []string{"corepure64.gz"}}, nil},
		{"x86 dev", "name: x\nbase: tinycore\narch: i386\nvariant: dev\ntinycore: {version: \"4.7\"}\n",
			Tinycore{Version: "4.7", Build: "x86", Mirror: DefaultTinycoreMirror, Kernel: "vmlinuz", Initrds: []string{"core.gz"}, SSHExtension: "openssh.tcz"}, nil},
		{"split initrds, relative mirror", "name: x\nbase: tinycore\ntinycore:\n  version: \"15.0\"\n  mirror: mirror\n  initrds: [rootfs64.gz, modules64.gz]\n",
			Tinycore{Version: "15.0", Build: "x86_64", Mirror: filepath.Join(dir, "mirror"), Kernel: "vmlinuz64", Initrds: []string{"rootfs64.gz", "modules64.gz"}}, nil},
		{"debian with extensions", "name: x\nbase: debian\ntinycore: {version: 15.x, mirror: mirror}\nextensions: {builtin: [hello.tcz]}\n",
			Tinycore{Version: "15.x", Build: "x86_64", Mirror: filepath.Join(dir, "mirror")}, DefaultModules},
		{"debian without extensions", "name: x\nbase: debian\n", Tinycore{}, DefaultModules},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, "s.yaml", tt.yaml)
			s, err := Load(p, Options{Home: dir})
			if err != nil {
				t.Fatalf("Load(%q) = %v", tt.yaml, err)
			}
			if diff := cmp.Diff(tt.want, s.Tinycore); diff != "" {
				t.Errorf("Load(%q).Tinycore mismatch (-want +got):\n%s", tt.yaml, diff)
			}
			if diff := cmp.Diff(tt.mods, s.Modules.Include); diff != "" {
				t.Errorf("Load(%q).Modules.Include mismatch (-want +got):\n%s", tt.yaml, diff)
			}
		})
	}
}

func TestTinycoreValidation(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml, want string
	}{
		{"no version", "name: x\nbase: tinycore\n", "s.yaml: tinycore.version: required"},
		{"bad version", "name: x\nbase: tinycore\ntinycore: {version: fifteen}\n", "s.yaml:3: tinycore.version: \"fifteen\""},
		{"bad build", "name: x\nbase: tinycore\ntinycore: {version: 15.x, build: mips}\n", "s.yaml:3: tinycore.build: \"mips\": want one of aarch64, x86, x86_64"},
		{"build against arch", "name: x\nbase: tinycore\narch: i386\ntinycore: {version: 15.x, build: x86_64}\n", "tinycore.build: x86_64 extensions need arch amd64, the spec's arch is i386"},
		{"arm without files", "name: x\nbase: tinycore\narch: arm64\ntinycore: {version: 15.x}\n", "tinycore.kernel: the aarch64 build has no default distribution files"},
		{"missing mirror dir", "name: x\nbase: tinycore\ntinycore: {version: 15.x, mirror: nope}\n", "s.yaml:3: tinycore.mirror: " + filepath.Join(dir, "nope") + ": no such directory"},
		{"bad initrd name", "name: x\nbase: tinycore\ntinycore: {version: 15.x, initrds: [../core.gz]}\n", "tinycore.initrds[0]: \"../core.gz\""},
		{"modules on tinycore", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\nmodules: {include: [e1000]}\n", "s.yaml:4: modules: the tinycore base takes its modules from the release"},
		{"debian section on tinycore", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\ndebian: {kernel: linux-image-amd64}\n", "s.yaml:4: debian: the tinycore base"},
		{"firmware on tinycore", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\nfirmware: {dirs: [.]}\n", "s.yaml:4: firmware: the tinycore base takes firmware from extensions"},
		{"bad extension name", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\nextensions:\n  builtin: [ok.tcz, \"a/b.tcz\"]\n", "s.yaml:5: extensions.builtin[1]: \"a/b.tcz\": want an extension file name"},
		{"duplicate extension", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\nextensions:\n  builtin: [bash]\n  mirror: [bash.tcz]\n", "extensions.mirror[0]: bash.tcz is also extensions.builtin[0]"},
		{"ssh in prod", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\nextensions:\n  builtin: [openssh.tcz]\n", "s.yaml:5: extensions.builtin[0]: openssh.tcz is an SSH server: prod images have none"},
		{"bad module entry", "name: x\nbase: tinycore\ntinycore: {version: 15.x}\nextensions:\n  mirror_modules: [\"../vmci.ko\"]\n", "extensions.mirror_modules[0]: \"../vmci.ko\""},
		{"debian extensions without version", "name: x\nbase: debian\nextensions: {builtin: [hello.tcz]}\n", "extensions: extensions come from a Tiny Core mirror: set tinycore.version"},
		{"debian extensions without squashfs", "name: x\nbase: debian\ntinycore: {version: 15.x}\nmodules: {include: [e1000, loop]}\nextensions: {builtin: [hello.tcz]}\n", "modules.include: extensions are squashfs images mounted on loop devices: include the squashfs module"},
		{"bad builtin_mode", "name: x\nbase: tinycore\ntinycore: {version: 15.x, builtin_mode: copy}\n", "tinycore.builtin_mode: \"copy\": want one of auto, unpack, mount"},
		{"unknown tinycore key", "name: x\nbase: tinycore\ntinycore: {version: 15.x, mirrors: x}\n", "s.yaml:3: tinycore.mirrors: unknown key"},
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

func TestLoadShippedTinycoreSpecs(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".ssh/id_ed25519.pub", testKey+"\n")
	prod, err := Load("../../images/tinycore-prod.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(tinycore-prod.yaml) = %v", err)
	}
	dev, err := Load("../../images/tinycore-dev.yaml", Options{Home: home})
	if err != nil {
		t.Fatalf("Load(tinycore-dev.yaml) = %v", err)
	}
	want := Tinycore{Version: "15.x", Build: "x86_64", Mirror: DefaultTinycoreMirror, Kernel: "vmlinuz64", Initrds: []string{"corepure64.gz"}}
	if diff := cmp.Diff(want, prod.Tinycore); diff != "" {
		t.Errorf("tinycore-prod.yaml tinycore: mismatch (-want +got):\n%s", diff)
	}
	want.SSHExtension = DefaultSSHExtension
	if diff := cmp.Diff(want, dev.Tinycore); diff != "" {
		t.Errorf("tinycore-dev.yaml tinycore: mismatch (-want +got):\n%s", diff)
	}
	if prod.Base != "tinycore" || prod.Variant != VariantProd || dev.Variant != VariantDev || len(prod.Modules.Include) != 0 {
		t.Errorf("shipped specs: prod %s/%s modules %v, dev %s", prod.Base, prod.Variant, prod.Modules.Include, dev.Variant)
	}
	if diff := cmp.Diff(prod.Extensions, dev.Extensions); diff != "" {
		t.Errorf("dev does not inherit prod's extensions (-prod +dev):\n%s", diff)
	}
	if keys, _ := dev.AuthorizedKeys(); len(keys) != 1 {
		t.Errorf("tinycore-dev.yaml keys = %v, want the one in ~/.ssh", keys)
	}
	if keys, _ := prod.AuthorizedKeys(); len(keys) != 0 {
		t.Errorf("tinycore-prod.yaml keys = %v, want none", keys)
	}
}
