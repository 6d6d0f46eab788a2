package spec

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Defaults of the tinycore: section.
const (
	// DefaultTinycoreMirror is Tiny Core's own mirror.
	DefaultTinycoreMirror = "http://repo.tinycorelinux.net/"
	// DefaultSSHExtension is the dev variant's SSH server on the tinycore
	// base.
	DefaultSSHExtension = "openssh.tcz"
	// AgentSSH as tinycore.ssh_extension picks mk-agent's own SSH server
	// (the dev build's devssh) instead of an extension; the default
	// falls back to it when the mirror has no openssh.tcz.
	AgentSSH = "mk-agent"
)

// Tinycore configures the tinycore base (a Tiny Core Linux release: its
// kernel and initrd) and, for every base, the Tiny Core mirror the
// extensions come from.
type Tinycore struct {
	// Version is the release: "15.x" (or "15") takes the major's current
	// release from the mirror; "15.0" pins it (the build fails when the
	// mirror holds another).
	Version string `yaml:"version"`
	// Build is the mirror's build directory (x86_64, x86, aarch64,
	// armv7); default from arch: amd64 → x86_64, i386 → x86, arm64 →
	// aarch64.
	Build string `yaml:"build"`
	// Mirror is the mirror's root: an http(s) URL (default
	// DefaultTinycoreMirror) or a local directory in the mirror's layout
	// (relative to the spec file).
	Mirror string `yaml:"mirror"`
	// Kernel is the kernel in release/distribution_files/ (default
	// vmlinuz64 for x86_64, vmlinuz for x86).
	Kernel string `yaml:"kernel"`
	// Initrds are the initrds there, unpacked in order (default
	// [corepure64.gz] for x86_64, [core.gz] for x86; or e.g.
	// [rootfs64.gz, modules64.gz]).
	Initrds []string `yaml:"initrds"`
	// SSHExtension is the dev variant's SSH server extension, built in
	// with its dependencies on the tinycore base (default
	// DefaultSSHExtension; when the mirror lacks it, or with AgentSSH,
	// mk-agent's own SSH server). The prod variant never has it.
	SSHExtension string `yaml:"ssh_extension"`
	// BuiltinMode is how the built-in extensions reach the running
	// system: "unpack" unpacks them into the initrd at build time (as
	// Tiny Core's copy2fs does; no loop or squashfs driver needed),
	// "mount" leaves the .tcz files for tce-setup to loop-mount at boot
	// (the release must carry loop and squashfs), "auto" (the default)
	// mounts when the release can and unpacks otherwise.
	BuiltinMode string `yaml:"builtin_mode"`
}

// BuiltinModes are the values of tinycore.builtin_mode.
var BuiltinModes = []string{"auto", "unpack", "mount"}

// Extensions are the Tiny Core extensions of an image, on any base.
type Extensions struct {
	// Builtin are extensions in the initrd (/tmp/builtin/optional, with
	// onboot.lst), loaded at boot with their dependencies.
	Builtin []string `yaml:"builtin"`
	// Mirror are mirror-only extensions: with their dependencies they go
	// to the image's TCE mirror (/tmp/tinycorelinux), listed in
	// tce-install-list; the agent installs them after boot when the node
	// is a VMware virtual machine (open-vm-tools, as the original).
	Mirror []string `yaml:"mirror"`
	// MirrorModules is kmod-install-list: kernel modules the agent loads
	// after installing the mirror-only extensions (on VMware only).
	MirrorModules []string `yaml:"mirror_modules"`
}

// HasExtensions reports whether the spec names any extension.
func (s *Spec) HasExtensions() bool {
	e := s.Extensions
	return len(e.Builtin) > 0 || len(e.Mirror) > 0 || len(e.MirrorModules) > 0
}

// TinycoreBuilds maps the mirror's build directories to the image
// architecture they need.
var TinycoreBuilds = map[string]string{"x86_64": "amd64", "x86": "i386", "aarch64": "arm64"}

var (
	tczNameRE    = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]*$`)
	tcVersionRE  = regexp.MustCompile(`^[0-9]{1,3}(\.x|\.[0-9]{1,3}(\.[0-9]{1,3})?)?$`)
	tcFileRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+-]*$`)
	kmodEntryRE  = regexp.MustCompile(`^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$`)
	sshServerRE  = regexp.MustCompile(`(?i)^(openssh|dropbear|tinyssh)`)
	tcBuildNames = []string{"aarch64", "x86", "x86_64"}
)

func tinycoreBuildFor(arch string) string {
	for b, a := range TinycoreBuilds {
		if a == arch {
			return b
		}
	}
	return ""
}

// applyTinycoreDefaults fills the tinycore: section for the tinycore
// base, and for any base with extensions; it also makes a relative
// mirror directory absolute, relative to the file that set it.
func (s *Spec) applyTinycoreDefaults() {
	t := &s.Tinycore
	if t.Mirror != "" && !isMirrorURL(t.Mirror) {
		m := expandHome(t.Mirror, "")
		if !filepath.IsAbs(m) {
			if p := s.Pos("tinycore.mirror"); p.File != "" && filepath.IsAbs(p.File) {
				m = filepath.Join(filepath.Dir(p.File), m)
			}
		}
		t.Mirror = filepath.Clean(m)
	}
	if s.Base != "tinycore" && !s.HasExtensions() {
		return
	}
	if t.Mirror == "" {
		t.Mirror = DefaultTinycoreMirror
	}
	if t.Build == "" {
		t.Build = tinycoreBuildFor(s.Arch)
	}
	if s.Base == "tinycore" {
		switch t.Build {
		case "x86_64":
			t.Kernel = cmpOr(t.Kernel, "vmlinuz64")
			if t.Initrds == nil {
				t.Initrds = []string{"corepure64.gz"}
			}
		case "x86":
			t.Kernel = cmpOr(t.Kernel, "vmlinuz")
			if t.Initrds == nil {
				t.Initrds = []string{"core.gz"}
			}
		}
		if s.Variant == VariantDev && t.SSHExtension == "" {
			t.SSHExtension = DefaultSSHExtension
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func isMirrorURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// validateTinycore checks the tinycore base.
func validateTinycore(s *Spec, v *validator) {
	t := s.Tinycore
	if t.Version == "" {
		v.fail("tinycore.version", "required: the Tiny Core release (15.x, or 15.0 to pin it)")
	}
	if t.Kernel == "" || len(t.Initrds) == 0 {
		if t.Build != "" && slices.Contains(tcBuildNames, t.Build) {
			v.fail("tinycore.kernel", "the %s build has no default distribution files: name tinycore.kernel and tinycore.initrds", t.Build)
		}
	}
	if t.Kernel != "" && !tcFileRE.MatchString(t.Kernel) {
		v.fail("tinycore.kernel", "%q: want a file name in release/distribution_files", t.Kernel)
	}
	for i, f := range t.Initrds {
		if !tcFileRE.MatchString(f) {
			v.fail(fmt.Sprintf("tinycore.initrds[%d]", i), "%q: want a file name in release/distribution_files", f)
		}
	}
	if t.SSHExtension != "" && t.SSHExtension != AgentSSH {
		checkTCZName(v, "tinycore.ssh_extension", t.SSHExtension)
	}
	if t.BuiltinMode != "" && !slices.Contains(BuiltinModes, t.BuiltinMode) {
		v.fail("tinycore.builtin_mode", "%q: want one of %s", t.BuiltinMode, strings.Join(BuiltinModes, ", "))
	}
	if _, set := s.pos["debian"]; set {
		v.fail("debian", "the tinycore base takes kernel and userland from the release; remove debian:")
	}
	if _, set := s.pos["modules"]; set {
		v.fail("modules", "the tinycore base takes its modules from the release (modules.gz); add kernel-module extensions (NAME-KERNEL.tcz) to extensions.builtin instead")
	}
	if _, set := s.pos["firmware"]; set {
		v.fail("firmware", "the tinycore base takes firmware from extensions (firmware-*.tcz in extensions.builtin)")
	}
}

// validateExtensions checks extensions: and the mirror settings of
// tinycore: they need.
func validateExtensions(s *Spec, v *validator) {
	e := s.Extensions
	t := s.Tinycore
	needMirror := s.Base == "tinycore" || s.HasExtensions()
	if !needMirror {
		return
	}
	if s.Base != "tinycore" && t.Version == "" {
		v.fail("extensions", "extensions come from a Tiny Core mirror: set tinycore.version (and tinycore.mirror, tinycore.build)")
	}
	if t.Version != "" && !tcVersionRE.MatchString(t.Version) {
		v.fail("tinycore.version", "%q: want a release such as 15.x or 15.0", t.Version)
	}
	switch want, ok := TinycoreBuilds[t.Build]; {
	case t.Build == "":
		v.fail("tinycore.build", "required for arch %s: one of %s", s.Arch, strings.Join(tcBuildNames, ", "))
	case !ok:
		v.fail("tinycore.build", "%q: want one of %s", t.Build, strings.Join(tcBuildNames, ", "))
	case want != s.Arch:
		v.fail("tinycore.build", "%s extensions need arch %s, the spec's arch is %s", t.Build, want, s.Arch)
	}
	if isMirrorURL(t.Mirror) {
		if strings.ContainsAny(t.Mirror, " \t\n?#") {
			v.fail("tinycore.mirror", "%q: want a plain URL of the mirror root", t.Mirror)
		}
	} else if t.Mirror != "" {
		v.dir("tinycore.mirror", t.Mirror)
	}
	seen := map[string]string{}
	check := func(key string, names []string) {
		for i, n := range names {
			k := fmt.Sprintf("%s[%d]", key, i)
			if !checkTCZName(v, k, n) {
				continue
			}
			c := strings.TrimSuffix(strings.TrimSpace(n), ".tcz") + ".tcz"
			if prev, dup := seen[c]; dup {
				v.fail(k, "%s is also %s", c, prev)
			}
			seen[c] = k
			if s.Variant == VariantProd && sshServerRE.MatchString(c) {
				v.fail(k, "%s is an SSH server: prod images have none (it belongs in a dev spec)", c)
			}
		}
	}
	check("extensions.builtin", e.Builtin)
	check("extensions.mirror", e.Mirror)
	for i, m := range e.MirrorModules {
		k := fmt.Sprintf("extensions.mirror_modules[%d]", i)
		if !kmodEntryRE.MatchString(m) || slices.Contains(strings.Split(m, "/"), "..") {
			v.fail(k, "%q: want a module name (vmxnet3) or a path below the modules directory (kernel/drivers/net/vmxnet3/vmxnet3.ko)", m)
		}
	}
	if s.Base != "tinycore" && (len(e.Builtin) > 0 || len(e.Mirror) > 0) {
		for _, m := range []string{"squashfs", "loop"} {
			if !matchesModule(s.Modules.Include, m) {
				v.fail("modules.include", "extensions are squashfs images mounted on loop devices: include the %s module", m)
			}
		}
	}
}

func checkTCZName(v *validator, key, n string) bool {
	c := strings.TrimSpace(n)
	if len(c) > 200 || !tczNameRE.MatchString(c) {
		v.fail(key, "%q: want an extension file name such as openssh.tcz (letters, digits, . _ + -)", n)
		return false
	}
	return true
}

// matchesModule reports whether a modules.include list selects module m
// by name or name glob.
func matchesModule(include []string, m string) bool {
	for _, p := range include {
		if ok, _ := path.Match(p, m); ok {
			return true
		}
	}
	return false
}
