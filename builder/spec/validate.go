package spec

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Bases are the known base kinds and their validators. A base's validator
// checks its own section of the spec (debian:, …).
var bases = map[string]func(s *Spec, v *validator){
	"debian":   validateDebian,
	"tinycore": validateTinycore,
}

// BaseKinds returns the known base kinds, sorted.
func BaseKinds() []string {
	out := make([]string, 0, len(bases))
	for k := range bases {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Arches are the architectures a spec may name.
var Arches = []string{"amd64", "arm64", "i386"}

// Compressions are the initrd compressions a spec may name.
var Compressions = []string{"none", "gzip", "zstd", "xz"}

// maxCmdline leaves room in the kernel's 2048-byte x86 command line for
// what the server appends (razor.server=, the node token, initrd=).
const maxCmdline = 1024

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	debPkgRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tagRE      = regexp.MustCompile(`^[A-Za-z0-9_.]+$`)
	appletRE   = regexp.MustCompile(`^[A-Za-z0-9_.\[\]+-]+$`)
)

func (s *Spec) applyDefaults() {
	if s.Variant == "" {
		s.Variant = DefaultVariant
	}
	if s.Arch == "" {
		s.Arch = DefaultArch
	}
	if s.Base == "debian" {
		if s.Debian.Kernel == "" && s.Debian.KernelDeb == "" {
			s.Debian.Kernel = "linux-image-" + s.Arch
		}
		if s.Debian.Busybox == "" && s.Debian.BusyboxDeb == "" {
			s.Debian.Busybox = DefaultBusybox
		}
		if s.Debian.SecureBoot == nil {
			_, ok := LoadersFor(s.Arch)
			s.Debian.SecureBoot = &ok
		}
	}
	s.applyTinycoreDefaults()
	if s.Modules.Include == nil && s.Base != "tinycore" {
		s.Modules.Include = slices.Clone(DefaultModulesFor(s.Arch))
	}
	if s.Initrd.Compression == "" {
		s.Initrd.Compression = DefaultCompression
	}
	if s.Userland.Hostname == "" {
		s.Userland.Hostname = DefaultHostname
	}
}

type validator struct {
	s    *Spec
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{Pos: v.s.Pos(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks every key; Load calls it. It returns the problems found,
// joined, each wrapping ErrSpec.
func (s *Spec) Validate() error {
	v := &validator{s: s}
	switch {
	case s.Name == "":
		v.fail("name", "required: the image name")
	case !nameRE.MatchString(s.Name):
		v.fail("name", "%q: want 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)", s.Name)
	}
	if s.Variant != VariantDev && s.Variant != VariantProd {
		v.fail("variant", "%q: want dev or prod", s.Variant)
	}
	if !slices.Contains(Arches, s.Arch) {
		v.fail("arch", "%q: want one of %s", s.Arch, strings.Join(Arches, ", "))
	}
	if s.Base == "" {
		v.fail("base", "required: one of %s", strings.Join(BaseKinds(), ", "))
	} else if fn, ok := bases[s.Base]; !ok {
		v.fail("base", "unknown base %q: want one of %s", s.Base, strings.Join(BaseKinds(), ", "))
	} else {
		fn(s, v)
	}
	validateExtensions(s, v)
	validateModules(s, v)
	for i, d := range s.Firmware.Dirs {
		v.dir(fmt.Sprintf("firmware.dirs[%d]", i), d)
	}
	validateCmdline(s, v)
	validateInitrd(s, v)
	validateUserland(s, v)
	validateAgent(s, v)
	validateSSH(s, v)
	validateFiles(s, v)
	if len(v.errs) == 0 {
		return nil
	}
	return joinSorted(v.errs)
}

func (v *validator) file(key, p string) {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		v.fail(key, "%s: no such file", p)
	case !fi.Mode().IsRegular():
		v.fail(key, "%s: not a regular file", p)
	}
}

func (v *validator) dir(key, p string) {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		v.fail(key, "%s: no such directory", p)
	case !fi.IsDir():
		v.fail(key, "%s: not a directory", p)
	}
}

func validateDebian(s *Spec, v *validator) {
	d := s.Debian
	pkg := func(key, name string) {
		if name != "" && !debPkgRE.MatchString(name) {
			v.fail(key, "%q is not a Debian package name", name)
		}
	}
	deb := func(key, p string) {
		if p == "" {
			return
		}
		if !strings.HasSuffix(p, ".deb") {
			v.fail(key, "%s: want a .deb file", p)
			return
		}
		v.file(key, p)
	}
	pkg("debian.kernel", d.Kernel)
	pkg("debian.busybox", d.Busybox)
	if d.Kernel != "" && d.KernelDeb != "" {
		v.fail("debian.kernel_deb", "give debian.kernel or debian.kernel_deb, not both")
	}
	if d.Busybox != "" && d.BusyboxDeb != "" {
		v.fail("debian.busybox_deb", "give debian.busybox or debian.busybox_deb, not both")
	}
	deb("debian.kernel_deb", d.KernelDeb)
	deb("debian.busybox_deb", d.BusyboxDeb)
	for i, p := range d.Firmware {
		pkg(fmt.Sprintf("debian.firmware[%d]", i), p)
		if p == "" {
			v.fail(fmt.Sprintf("debian.firmware[%d]", i), "empty package name")
		}
	}
	for i, p := range d.FirmwareDebs {
		deb(fmt.Sprintf("debian.firmware_debs[%d]", i), p)
	}
	deb("debian.shim_deb", d.ShimDeb)
	deb("debian.grub_deb", d.GRUBDeb)
	if d.SecureBoot != nil && *d.SecureBoot {
		if _, ok := LoadersFor(s.Arch); !ok {
			var arches []string
			for _, l := range SignedLoaders {
				arches = append(arches, l.Arch)
			}
			v.fail("debian.secure_boot", "no signed loaders are known for %s (only %s): turn it off", s.Arch, strings.Join(arches, ", "))
		}
	} else {
		for _, kp := range [][2]string{{"debian.shim_deb", d.ShimDeb}, {"debian.grub_deb", d.GRUBDeb}} {
			if kp[1] != "" {
				v.fail(kp[0], "debian.secure_boot is off: the loaders are not used")
			}
		}
	}
}

func validateModules(s *Spec, v *validator) {
	check := func(key string, pats []string) {
		for i, p := range pats {
			k := fmt.Sprintf("%s[%d]", key, i)
			switch {
			case strings.TrimSpace(p) == "":
				v.fail(k, "empty module pattern")
			case strings.ContainsAny(p, " \t\n"):
				v.fail(k, "%q: a module name or glob has no spaces", p)
			case strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), ".."):
				v.fail(k, "%q: paths are relative to /lib/modules/<kver>, without ..", p)
			default:
				if _, err := path.Match(p, ""); err != nil {
					v.fail(k, "%q: bad glob: %v", p, err)
				}
			}
		}
	}
	check("modules.include", s.Modules.Include)
	check("modules.exclude", s.Modules.Exclude)
}

func validateCmdline(s *Spec, v *validator) {
	c := s.Cmdline()
	if len(c) > maxCmdline {
		v.fail("kernel.cmdline", "%d bytes, at most %d (the server appends to it)", len(c), maxCmdline)
	}
	for _, r := range c {
		if r < 0x20 || r > 0x7e {
			v.fail("kernel.cmdline", "character %q: want printable ASCII", r)
			break
		}
	}
	for _, f := range strings.Fields(c) {
		k, _, _ := strings.Cut(f, "=")
		switch k {
		case "razor.server", "razor.token":
			v.fail("kernel.cmdline", "%s= is added per node by the server, not set in the image", k)
		case "init", "rdinit":
			v.fail("kernel.cmdline", "%s= would bypass /init (the agent)", k)
		}
	}
}

func validateInitrd(s *Spec, v *validator) {
	c, l := s.Initrd.Compression, s.Initrd.Level
	if !slices.Contains(Compressions, c) {
		v.fail("initrd.compression", "%q: want one of %s", c, strings.Join(Compressions, ", "))
		return
	}
	switch {
	case l < 0:
		v.fail("initrd.level", "%d: negative", l)
	case c == "gzip" && l > 9:
		v.fail("initrd.level", "%d: gzip levels are 1-9 (0: default)", l)
	case c == "zstd" && l > 22:
		v.fail("initrd.level", "%d: zstd levels are 1-22 (0: default)", l)
	case (c == "xz" || c == "none") && l != 0:
		v.fail("initrd.level", "%d: %s takes no level", l, c)
	}
}

func validateUserland(s *Spec, v *validator) {
	if !hostnameRE.MatchString(s.Userland.Hostname) {
		v.fail("userland.hostname", "%q: want a host name label (a-z 0-9 -, at most 63)", s.Userland.Hostname)
	}
	for i, a := range s.Userland.BusyboxExclude {
		if !appletRE.MatchString(a) {
			v.fail(fmt.Sprintf("userland.busybox_exclude[%d]", i), "%q is not an applet name", a)
		}
	}
}

func validateAgent(s *Spec, v *validator) {
	if s.Agent.Path != "" {
		v.file("agent.path", s.Agent.Path)
		if s.Agent.Source != "" {
			v.fail("agent.source", "give agent.path or agent.source, not both")
		}
	}
	if s.Agent.Source != "" {
		if _, err := os.Stat(filepath.Join(s.Agent.Source, "go.mod")); err != nil {
			v.fail("agent.source", "%s: no go.mod there", s.Agent.Source)
		}
	}
	for i, t := range s.Agent.Tags {
		k := fmt.Sprintf("agent.tags[%d]", i)
		switch {
		case !tagRE.MatchString(t):
			v.fail(k, "%q is not a build tag", t)
		case t == "dev" && s.Variant == VariantProd:
			v.fail(k, "the dev tag compiles the SSH server in: it is for the dev variant only")
		}
	}
}

func validateSSH(s *Spec, v *validator) {
	for i, line := range s.SSH.AuthorizedKeys {
		if err := CheckAuthorizedKey(line); err != nil {
			v.fail(fmt.Sprintf("ssh.authorized_keys[%d]", i), "%v", err)
		}
	}
	for i, p := range s.SSH.AuthorizedKeysFiles {
		k := fmt.Sprintf("ssh.authorized_keys_files[%d]", i)
		files, err := keyFiles(p)
		if err != nil {
			v.fail(k, "%v", err)
			continue
		}
		for _, f := range files {
			if _, err := readKeyFile(f); err != nil {
				v.fail(k, "%v", err)
			}
		}
	}
}

func validateFiles(s *Spec, v *validator) {
	seen := map[string]int{}
	for i, f := range s.Files {
		k := fmt.Sprintf("files[%d]", i)
		if f.Src == "" {
			v.fail(k+".src", "required: the file on the build host")
		} else if _, err := os.Stat(f.Src); err != nil {
			v.fail(k+".src", "%s: no such file or directory", f.Src)
		}
		dst := path.Clean(f.Dst)
		switch {
		case f.Dst == "":
			v.fail(k+".dst", "required: the absolute path in the image")
		case !strings.HasPrefix(f.Dst, "/") || dst != f.Dst || dst == "/":
			v.fail(k+".dst", "%q: want a clean absolute path below /", f.Dst)
		case dst == "/init" || dst == "/bin/mk-agent":
			v.fail(k+".dst", "%s is the agent; configure it under agent:", dst)
		case hasPrefixDir(dst, "/proc") || hasPrefixDir(dst, "/sys") || hasPrefixDir(dst, "/dev"):
			v.fail(k+".dst", "%s: /proc, /sys and /dev are mounted over at boot", dst)
		default:
			if j, dup := seen[dst]; dup {
				v.fail(k+".dst", "%s is also files[%d].dst", dst, j)
			}
			seen[dst] = i
		}
	}
}

func hasPrefixDir(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// AuthorizedKeys returns the dev variant's authorized_keys lines: the
// spec's lines, then those of its files in order, each once.
func (s *Spec) AuthorizedKeys() ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(l string) {
		l = strings.TrimSpace(l)
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for _, l := range s.SSH.AuthorizedKeys {
		add(l)
	}
	for _, p := range s.SSH.AuthorizedKeysFiles {
		files, err := keyFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			lines, err := readKeyFile(f)
			if err != nil {
				return nil, err
			}
			for _, l := range lines {
				add(l)
			}
		}
	}
	return out, nil
}

func keyFiles(p string) ([]string, error) {
	if !strings.ContainsAny(p, "*?[") {
		return []string{p}, nil
	}
	m, err := filepath.Glob(p)
	if err != nil {
		return nil, fmt.Errorf("%q: bad glob: %w", p, err)
	}
	slices.Sort(m)
	return m, nil
}

const maxKeyFile = 1 << 20

func readKeyFile(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: no such file", p)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxKeyFile {
		return nil, fmt.Errorf("%s: not a regular file under %d bytes", p, maxKeyFile)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := CheckAuthorizedKey(l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", p, n, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// keyTypes are the public key algorithms OpenSSH's authorized_keys takes.
var keyTypes = []string{
	"ssh-ed25519", "ssh-rsa", "ssh-dss",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// CheckAuthorizedKey checks one authorized_keys line: optional options,
// a key type, the base64 key blob (whose own type must match) and an
// optional comment.
func CheckAuthorizedKey(line string) error {
	line = strings.TrimSpace(line)
	if line == "" {
		return fmt.Errorf("empty key line")
	}
	if strings.ContainsAny(line, "\n\r\x00") {
		return fmt.Errorf("a key is one line")
	}
	fields := splitKeyLine(line)
	for i, f := range fields {
		if !slices.Contains(keyTypes, f) {
			continue
		}
		if i+1 >= len(fields) {
			return fmt.Errorf("%s key without its base64 blob", f)
		}
		blob, err := base64.StdEncoding.DecodeString(fields[i+1])
		if err != nil {
			return fmt.Errorf("%s key: blob is not base64: %v", f, err)
		}
		if len(blob) < 4 {
			return fmt.Errorf("%s key: blob too short", f)
		}
		n := binary.BigEndian.Uint32(blob)
		if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != f {
			return fmt.Errorf("%s key: the blob is not a %s key", f, f)
		}
		return nil
	}
	return fmt.Errorf("no key type (%s) in %q", strings.Join(keyTypes[:4], ", ")+", …", truncate(line, 40))
}

// splitKeyLine splits on blanks outside double quotes (options such as
// command="a b" hold blanks).
func splitKeyLine(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case (r == ' ' || r == '\t') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
