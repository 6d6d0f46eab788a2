package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/modules"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
)

// Paths in the image that other parts of Razor MK rely on.
const (
	// AgentPath is mk-agent.
	AgentPath = "bin/mk-agent"
	// InitPath is what the kernel runs: a symlink to /bin/mk-agent, which
	// runs its init duties when started under the name "init".
	InitPath = "init"
	// AuthorizedKeysPath holds the dev variant's SSH keys.
	AuthorizedKeysPath = "etc/razor/authorized_keys"
	// VersionPath describes the image to the agent (mk_version).
	VersionPath = "etc/mk-version.json"
)

// image is an assembled initrd before it is written.
type image struct {
	archive         *initramfs.Archive
	agent           *agentBuild
	firmware        []string
	missingFirmware []string
	// unsignedModules are the initrd's module files without an appended
	// signature (paths in the image).
	unsignedModules []string
	// notes are what the build found worth saying in the manifest.
	notes []string
}

// VersionInfo is the content of /etc/mk-version.json.
type VersionInfo struct {
	Name          string `json:"name"`
	Variant       string `json:"variant"`
	Version       string `json:"version"`
	Commit        string `json:"commit"`
	Base          string `json:"base"`
	KernelVersion string `json:"kernel_version"`
	// Built is the build's SOURCE_DATE_EPOCH.
	Built int64 `json:"built"`
}

func assemble(s *spec.Spec, b *base.Base, set *modules.Set, agent *agentBuild, o Options) (*image, error) {
	a := initramfs.New()
	if b.Archive != nil {
		a.Merge(b.Archive)
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "etc", "etc/razor", "mnt", "var", "var/log", "lib/modules", "lib/firmware"} {
		a.AddDir(d, 0o755)
	}
	a.AddDir("tmp", 0o777|fs.ModeSticky)
	a.AddDir("root", 0o700)
	a.AddDevice("dev/console", initramfs.CharDevice, 5, 1, 0o600)
	a.AddDevice("dev/null", initramfs.CharDevice, 1, 3, 0o666)

	// A base that brings its own init, accounts or /etc files (a Tiny Core
	// release) keeps them; it starts the agent and locks its passwords
	// itself. The debian base brings none, and gets these.
	ifAbsent := func(name string, data []byte, perm fs.FileMode) {
		if _, ok := a.Get(name); !ok {
			a.AddFile(name, data, perm)
		}
	}
	// Accounts: root only, its password locked ("*": no password matches),
	// in both variants; the dev variant's SSH takes keys, not passwords.
	ifAbsent("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644)
	ifAbsent("etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	ifAbsent("etc/shadow", []byte("root:*::0:99999:7:::\nnobody:*::0:99999:7:::\n"), 0o600)
	ifAbsent("etc/hostname", []byte(s.Userland.Hostname+"\n"), 0o644)
	ifAbsent("etc/os-release", []byte(fmt.Sprintf("NAME=\"Razor Microkernel\"\nID=razor-mk\nVERSION_ID=%q\nVARIANT_ID=%s\nPRETTY_NAME=\"Razor Microkernel %s (%s)\"\n",
		o.Version, s.Variant, o.Version, s.Variant)), 0o644)
	vi, err := json.MarshalIndent(VersionInfo{Name: s.Name, Variant: s.Variant, Version: o.Version, Commit: o.Commit,
		Base: s.Base, KernelVersion: b.KernelVersion, Built: o.SourceDateEpoch}, "", "  ")
	if err != nil {
		return nil, err
	}
	a.AddFile(VersionPath, append(vi, '\n'), 0o644)

	a.AddRecord(initramfs.Record{Name: AgentPath, Type: initramfs.TypeFile, Perm: 0o755, Source: agent.Path})
	if _, ok := a.Get(InitPath); !ok {
		a.AddSymlink(InitPath, "/"+AgentPath)
	}

	if s.Variant == spec.VariantDev {
		keys, err := s.AuthorizedKeys()
		if err != nil {
			return nil, fmt.Errorf("builder: ssh: %w", err)
		}
		if len(keys) == 0 {
			o.Logger.Warn("dev image without authorized keys: its SSH server will let nobody in (see ssh.authorized_keys_files, --authorized-keys)")
		}
		a.AddFile(AuthorizedKeysPath, []byte(strings.Join(keys, "\n")+"\n"), 0o600)
	}

	kdir := path.Join("lib/modules", b.KernelVersion)
	if len(set.Modules) > 0 || len(set.Builtin) > 0 {
		for _, m := range set.Modules {
			a.AddFile(path.Join(kdir, m.ImagePath), m.Data, 0o644)
		}
		a.AddFile(path.Join(kdir, "modules.dep"), set.ModulesDep(), 0o644)
		a.AddFile(path.Join(kdir, "modules.alias"), set.ModulesAlias(), 0o644)
		a.AddFile(path.Join(kdir, "modules.softdep"), set.ModulesSoftdep(), 0o644)
		if b.Modules != nil {
			if data, err := fs.ReadFile(b.Modules, "modules.builtin"); err == nil {
				a.AddFile(path.Join(kdir, "modules.builtin"), data, 0o644)
			}
		}
	}

	img := &image{archive: a, agent: agent}
	if err := img.addFirmware(set.Firmware, s.Firmware.Dirs, b.Firmware); err != nil {
		return nil, err
	}
	if b.Overlay != nil {
		if err := b.Overlay(a); err != nil {
			return nil, fmt.Errorf("builder: %s base: %w", s.Base, err)
		}
	}
	for i, f := range s.Files {
		if err := addSpecFile(a, f); err != nil {
			return nil, fmt.Errorf("builder: files[%d]: %w", i, err)
		}
	}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("builder: assemble: %w", err)
	}
	return img, nil
}

// addFirmware copies the firmware files the modules declare from the
// spec's directories, then the base's firmware trees; a file none has is
// recorded as missing. A compressed copy (.xz, .zst), as newer firmware
// packages ship, is taken when the plain file is absent.
func (img *image) addFirmware(names []string, dirs []string, trees []fs.FS) error {
	var srcs []fs.FS
	for _, d := range dirs {
		srcs = append(srcs, base.DirFS(d))
	}
	srcs = append(srcs, trees...)
	for _, n := range names {
		if !fs.ValidPath(n) {
			img.missingFirmware = append(img.missingFirmware, n)
			continue
		}
		found := false
		for _, src := range srcs {
			for _, ext := range []string{"", ".xz", ".zst"} {
				data, err := fs.ReadFile(src, n+ext)
				if err != nil {
					if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
						return fmt.Errorf("builder: firmware %s: %w", n+ext, err)
					}
					continue
				}
				img.archive.AddFile(path.Join("lib/firmware", n+ext), data, 0o644)
				img.firmware = append(img.firmware, n+ext)
				found = true
				break
			}
			if found {
				break
			}
		}
		if !found {
			img.missingFirmware = append(img.missingFirmware, n)
		}
	}
	return nil
}

func addSpecFile(a *initramfs.Archive, f spec.File) error {
	fi, err := os.Stat(f.Src)
	if err != nil {
		return err
	}
	dst := strings.TrimPrefix(f.Dst, "/")
	if fi.IsDir() {
		return a.AddTree(f.Src, dst)
	}
	perm := f.Mode.Perm()
	if f.Mode == 0 {
		perm = 0o644
		if fi.Mode().Perm()&0o100 != 0 {
			perm = 0o755
		}
	}
	a.AddRecord(initramfs.Record{Name: dst, Type: initramfs.TypeFile, Perm: perm, Source: f.Src})
	return nil
}

// forbiddenInProd are programs that would give remote or password login.
var forbiddenInProd = []string{"sshd", "ssh", "dropbear", "dropbearmulti", "dbclient", "scp", "sftp-server", "telnetd"}

// CheckProd reports (wrapping ErrProdLeak) what in a prod initrd would let
// someone log in: an SSH or telnet server or client binary or link, an
// authorized_keys file, a shadow entry with a usable password, or an
// agent with SSH code.
func CheckProd(a *initramfs.Archive) error {
	var problems []string
	for _, r := range a.Records() {
		base := path.Base(r.Name)
		switch {
		case slices.Contains(forbiddenInProd, base) && (r.Type == initramfs.TypeFile || r.Type == initramfs.TypeSymlink || r.Type == initramfs.TypeHardlink):
			problems = append(problems, "/"+r.Name)
		case base == "authorized_keys" || base == "authorized_keys2":
			problems = append(problems, "/"+r.Name)
		}
	}
	if r, ok := a.Get("etc/shadow"); ok {
		data, err := r.Content()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 2 || f[0] == "" {
				continue
			}
			if pw := f[1]; pw == "" || (!strings.HasPrefix(pw, "*") && !strings.HasPrefix(pw, "!")) {
				problems = append(problems, fmt.Sprintf("/etc/shadow: %s has a password", f[0]))
			}
		}
	}
	if r, ok := a.Get(AgentPath); ok && r.Type == initramfs.TypeFile {
		var code string
		var err error
		if r.Source != "" && r.Data == nil {
			code, err = SSHCode(r.Source)
		} else {
			code = sshCodeIn(r.Data)
		}
		if err != nil {
			return err
		}
		if code != "" {
			problems = append(problems, "/"+AgentPath+" contains "+code)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrProdLeak, strings.Join(problems, ", "))
	}
	return nil
}

// hasPrefix reports whether p is dir or below it.
func hasPrefix(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
