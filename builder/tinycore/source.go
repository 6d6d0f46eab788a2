package tinycore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
)

// ErrProdSSH: a prod image would carry an SSH server extension.
var ErrProdSSH = errors.New("tinycore: prod image would carry an SSH server")

// Source is the tinycore base of a spec: a Tiny Core release's kernel and
// initrd, remastered.
type Source struct {
	Spec *spec.Spec
}

var _ base.Source = (*Source)(nil)

// New returns the tinycore base of s.
func New(s *spec.Spec) *Source { return &Source{Spec: s} }

// Kind returns "tinycore".
func (*Source) Kind() string { return "tinycore" }

// sshServerScript is the init script of Tiny Core's openssh.tcz, which
// the dev variant starts.
const sshServerScript = "/usr/local/etc/init.d/openssh"

// Open fetches the release and the extensions and returns the base: the
// release's kernel and initrd, and an overlay that remasters the
// assembled archive (restoring the release's own /init, accounts and
// /etc over what a Debian userland would have, then adding the agent's
// start, the extensions and the variant).
func (src *Source) Open(ctx context.Context, env base.Env) (*base.Base, error) {
	s := src.Spec
	t := s.Tinycore
	repo, exact, err := repoFor(s, env)
	if err != nil {
		return nil, err
	}
	env.Progress.Step(fmt.Sprintf("Tiny Core %s %s release", t.Version, t.Build))
	rel, err := openRelease(ctx, repo, t.Kernel, t.Initrds, exact)
	if err != nil {
		return nil, err
	}
	if err := checkTinyCore(rel.Archive); err != nil {
		return nil, err
	}
	env.Logger.Info("Tiny Core release", "version", rel.Version, "kernel", rel.KernelVersion, "build", t.Build, "mirror", t.Mirror)
	ssh, agentSSH := "", false
	var sshNotes []string
	if s.Variant == spec.VariantDev {
		ssh = t.SSHExtension
		if ssh == spec.AgentSSH {
			ssh, agentSSH = "", true
			sshNotes = append(sshNotes, "tinycore: dev SSH server: mk-agent's own (tinycore.ssh_extension "+spec.AgentSSH+")")
		} else if ssh == spec.DefaultSSHExtension {
			if _, err := repo.MD5(ctx, ssh); errors.Is(err, ErrUnknownExtension) {
				ssh, agentSSH = "", true
				sshNotes = append(sshNotes, "tinycore: dev SSH server: mk-agent's own (the mirror has no "+spec.DefaultSSHExtension+")")
			} else if err != nil {
				return nil, err
			}
		}
	}
	set, err := resolveExtensions(ctx, repo, s.Extensions, rel.KernelVersion, ssh, s.Variant == spec.VariantProd, env)
	if err != nil {
		return nil, err
	}
	var keys []string
	if s.Variant == spec.VariantDev {
		if keys, err = s.AuthorizedKeys(); err != nil {
			return nil, fmt.Errorf("tinycore: ssh: %w", err)
		}
		if len(keys) == 0 {
			env.Logger.Warn("dev image without authorized keys: its SSH server will let nobody in (see ssh.authorized_keys_files, --authorized-keys)")
		}
	}
	mode, notes, err := builtinMode(t.BuiltinMode, rel)
	if err != nil {
		return nil, err
	}
	set.Unpack = mode == "unpack"
	var cmdline []string
	if set.Unpack {
		// tce-setup would otherwise load the extensions of a tce directory
		// it finds on the node's disks, which needs the loop driver this
		// release lacks (busybox mount then loops on /dev/loopN).
		cmdline = append(cmdline, "base")
		notes = append(notes, "tinycore: kernel command line: base (only the image's own extensions: a tce directory on the node's disks is not loaded)")
	}
	if !kernelFeature(rel.Archive, rel.KernelVersion, "zram") {
		cmdline = append(cmdline, "nozswap")
		notes = append(notes, "tinycore: kernel command line: nozswap (the release has no zram driver; without it Tiny Core's init waits for /dev/zram0)")
	}
	notes = append(notes, fmt.Sprintf("tinycore: release %s, kernel %s (minimum %s)", rel.Version, rel.KernelVersion, minKernel))
	notes = append(notes, sshNotes...)
	for _, n := range notes {
		env.Logger.Info(n)
	}
	ov := &overlay{
		Variant:        s.Variant,
		Hostname:       s.Userland.Hostname,
		BusyboxExclude: s.Userland.BusyboxExclude,
		AuthorizedKeys: keys,
		Extensions:     set,
	}
	if ssh != "" {
		ov.SSHServer = sshServerScript
	}
	ov.AgentSSH = agentSSH
	release := rel.Archive
	b := &base.Base{
		KernelVersion: rel.KernelVersion,
		Kernel:        rel.Kernel.Path,
		Archive:       release,
		Sources:       append(rel.Sources, set.Sources()...),
		Extensions:    set.Names(),
		Notes:         notes,
		Cmdline:       cmdline,
		Overlay: func(a *initramfs.Archive) error {
			restore(a, release, agentSSH)
			if err := ov.Apply(a); err != nil {
				return err
			}
			if u := ov.Unpacked; u != nil {
				env.Logger.Info("built-in extensions unpacked", "entries", u.Files, "kept", u.Kept, "install_scripts", len(u.Scripts))
			}
			return nil
		},
	}
	return b, nil
}

// builtinMode decides how the built-in extensions reach the system
// (spec.BuiltinModes): "mount" needs a release whose kernel has loop and
// squashfs drivers; "auto" takes it then and "unpack" otherwise. The
// notes say what was decided and why, for the manifest.
func builtinMode(want string, rel *release) (string, []string, error) {
	var missing []string
	for _, d := range []string{"loop", "squashfs"} {
		if !kernelFeature(rel.Archive, rel.KernelVersion, d) {
			missing = append(missing, d)
		}
	}
	switch want {
	case "mount":
		if len(missing) > 0 {
			return "", nil, fmt.Errorf("%w: tinycore.builtin_mode mount: the release's kernel %s has no %s driver (no module in lib/modules, not in modules.builtin); use unpack", ErrRelease, rel.KernelVersion, strings.Join(missing, " or "))
		}
		return "mount", []string{"tinycore: built-in extensions: mounted at boot by tce-setup (builtin_mode mount)"}, nil
	case "unpack":
		return "unpack", []string{"tinycore: built-in extensions: unpacked into the initrd at build time, as copy2fs does (builtin_mode unpack)"}, nil
	}
	if len(missing) > 0 {
		return "unpack", []string{fmt.Sprintf("tinycore: built-in extensions: unpacked into the initrd at build time, as copy2fs does (the release has no %s driver to mount them)", strings.Join(missing, " or "))}, nil
	}
	return "mount", []string{"tinycore: built-in extensions: mounted at boot by tce-setup (the release has loop and squashfs drivers)"}, nil
}

// builderOnly are entries an image builder adds for its own Debian-style
// userland that have no use on Tiny Core (the dev keys of the agent's own
// SSH server; Tiny Core's openssh reads /home/tc/.ssh).
var builderOnly = []string{"etc/razor/authorized_keys"}

// builderFiles are files the image builder writes for every base that a
// Tiny Core release does without: a release that has none keeps none
// (Tiny Core 4.x has no /etc/os-release; the builder's would name the
// image, not the release, and mislead Tiny Core's own scripts).
var builderFiles = []string{"etc/os-release"}

// restore puts every entry of the release back into a, where a builder
// may have replaced it (/init, /etc/passwd, /etc/shadow, /etc/os-release,
// device nodes), and removes builderOnly entries unless keepKeys (the
// agent's own SSH server reads them). Entries the release does not have
// (the agent, /etc/mk-version.json) stay.
func restore(a, release *initramfs.Archive, keepKeys bool) {
	for _, r := range release.Records() {
		if cur, ok := a.Get(r.Name); ok && sameRecord(cur, r) {
			continue
		}
		a.AddRecord(r)
	}
	for _, p := range builderFiles {
		if _, ok := release.Get(p); !ok {
			a.Remove(p)
		}
	}
	for _, p := range builderOnly {
		if keepKeys {
			break
		}
		if _, ok := release.Get(p); !ok {
			a.Remove(p)
		}
	}
}

func sameRecord(x, y initramfs.Record) bool {
	if x.Type != y.Type || x.Perm != y.Perm || x.UID != y.UID || x.GID != y.GID || x.Target != y.Target || x.Major != y.Major || x.Minor != y.Minor || x.Source != y.Source {
		return false
	}
	return x.Type != initramfs.TypeFile || bytes.Equal(x.Data, y.Data)
}

// repoFor opens the spec's mirror repository.
func repoFor(s *spec.Spec, env base.Env) (*repo, string, error) {
	t := s.Tinycore
	major, exact, err := parseVersion(t.Version)
	if err != nil {
		return nil, "", err
	}
	m := &mirror{Location: t.Mirror, CacheDir: env.CacheDir, Logger: env.Logger, Progress: env.Progress}
	return newRepo(m, major, t.Build), exact, nil
}

// sshServers are the programs of SSH servers.
var sshServers = []string{"sshd", "dropbear", "dropbearmulti", "tinysshd"}

// sshFile returns the first file of a .list that is an SSH server.
func sshFile(list []byte) string {
	for _, l := range strings.Split(string(list), "\n") {
		l = strings.TrimSpace(l)
		if slices.Contains(sshServers, path.Base(l)) {
			return strings.TrimPrefix(l, "./")
		}
	}
	return ""
}

var sshNameRE = regexp.MustCompile(`(?i)^(openssh|dropbear|tinyssh)`)

// resolveExtensions resolves and fetches the spec's extensions for the
// kernel release kver: the built-in ones (and sshExt, the dev variant's
// SSH server, when not empty) and the mirror-only ones, less what is
// built in. In prod, an extension that is or holds an SSH server (by
// name, or sshd in its .list) is an error wrapping ErrProdSSH that names
// it and what required it.
func resolveExtensions(ctx context.Context, repo *repo, e spec.Extensions, kver, sshExt string, prod bool, env base.Env) (*set, error) {
	set := &set{Repo: repo.Dir(), KmodInstall: append([]string(nil), e.MirrorModules...)}
	roots := append([]string(nil), e.Builtin...)
	if sshExt != "" {
		roots = append(roots, sshExt)
	}
	if len(roots) > 0 {
		env.Progress.Step("resolve built-in extensions")
		exts, err := repo.Resolve(ctx, roots, kver, nil)
		if err != nil {
			return nil, fmt.Errorf("extensions.builtin: %w", err)
		}
		set.Builtin = exts
	}
	builtin := map[string]bool{}
	for _, x := range set.Builtin {
		builtin[x.Name] = true
	}
	if len(e.Mirror) > 0 {
		env.Progress.Step("resolve mirror-only extensions")
		exts, err := repo.Resolve(ctx, e.Mirror, kver, func(n string) bool { return builtin[n] })
		if err != nil {
			return nil, fmt.Errorf("extensions.mirror: %w", err)
		}
		set.Mirror = exts
		for _, n := range e.Mirror {
			c, err := tcz.CanonicalName(n)
			if err != nil {
				return nil, err
			}
			set.TCEInstall = append(set.TCEInstall, tcz.WithKernel(c, kver))
		}
	}
	if prod {
		var bad []string
		for _, list := range [][]*extension{set.Builtin, set.Mirror} {
			for _, x := range list {
				switch {
				case sshNameRE.MatchString(x.Name):
					bad = append(bad, x.Name)
				default:
					if f := sshFile(x.List); f != "" {
						bad = append(bad, x.Name+" (holds "+f+")")
					}
				}
			}
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("%w: %s (a dependency of the spec's extensions?)", ErrProdSSH, strings.Join(bad, ", "))
		}
	}
	for _, x := range append(append([]*extension{}, set.Builtin...), set.Mirror...) {
		env.Logger.Info("extension", "name", x.Name, "version", x.Version, "bytes", x.Blob.Size, "cached", x.Blob.Cached)
	}
	return set, nil
}

// WithExtensions wraps the source of another base (debian) so that the
// bases it opens carry the spec's extensions in the same layout as on
// Tiny Core; the agent's own installer loads them at boot. Without
// extensions in the spec it returns src.
func WithExtensions(src base.Source, s *spec.Spec) base.Source {
	if !s.HasExtensions() || s.Base == "tinycore" {
		return src
	}
	return &withExtensions{Source: src, spec: s}
}

type withExtensions struct {
	base.Source
	spec *spec.Spec
}

func (w *withExtensions) Open(ctx context.Context, env base.Env) (*base.Base, error) {
	b, err := w.Source.Open(ctx, env)
	if err != nil {
		return nil, err
	}
	repo, _, err := repoFor(w.spec, env)
	if err != nil {
		return nil, err
	}
	set, err := resolveExtensions(ctx, repo, w.spec.Extensions, b.KernelVersion, "", w.spec.Variant == spec.VariantProd, env)
	if err != nil {
		return nil, err
	}
	if b.Archive == nil {
		b.Archive = initramfs.New()
	}
	set.AddTo(b.Archive, owner{})
	b.Sources = append(b.Sources, set.Sources()...)
	b.Extensions = append(b.Extensions, set.Names()...)
	return b, nil
}
