// Package builder builds Razor microkernel images: from an image spec
// (builder/spec) it opens the base (kernel and userland: builder/debian),
// resolves the kernel modules and their firmware (builder/kmod), obtains
// mk-agent (a static build of ./cmd/mk-agent, with the dev tag for the
// dev variant), assembles the initrd (initramfs) and writes vmlinuz,
// initrd and manifest.json (package manifest) into an output directory.
// The same spec, inputs and SOURCE_DATE_EPOCH give the same bytes.
package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/debian"
	"github.com/razor-mk/razor-mk/builder/modules"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/builder/tinycore"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/internal/version"
	"github.com/razor-mk/razor-mk/manifest"
)

// Artefact names in the output directory.
const (
	KernelFile = "vmlinuz"
	InitrdFile = "initrd"
)

// ErrProdLeak: the prod image would contain SSH or a password login.
var ErrProdLeak = errors.New("builder: prod image would allow remote or password login")

// Options configure Build.
type Options struct {
	// Spec is the loaded, validated spec (spec.Load).
	Spec *spec.Spec
	// OutDir receives vmlinuz, initrd and manifest.json; it is created.
	OutDir string
	// CacheDir holds downloads and unpacked packages; "" means
	// DefaultCacheDir().
	CacheDir string
	// AgentPath is a prebuilt mk-agent that replaces the spec's agent.
	AgentPath string
	// SourceDateEpoch is every initrd entry's mtime and the build time
	// recorded in the image (seconds since 1970).
	SourceDateEpoch int64
	// Version and Commit are recorded in the manifest and stamped into the
	// agent; "" means this program's internal/version.
	Version, Commit string
	// GoTool is the go command that builds the agent; "" finds it in PATH.
	GoTool string
	// AgentDir holds prebuilt agents (PrebuiltName), used outside a source
	// tree; "" means DefaultAgentDir().
	AgentDir string
	// WorkDir is where a source tree is looked for when the spec is not
	// in one; "" means the working directory.
	WorkDir string
	// AgentChosen, if set, is told where the agent came from ("prebuilt
	// /usr/lib/razor-mk/agent/mk-agent-amd64", "built from source in …").
	AgentChosen func(origin string)
	// StrictFirmware makes a module's missing firmware an error
	// (ErrMissingFirmware) instead of a note in the manifest.
	StrictFirmware bool
	// OpenBase returns the spec's base; nil means OpenBase.
	OpenBase func(*spec.Spec) (base.Source, error)
	// Logger receives details; nil discards them.
	Logger *slog.Logger
	// Progress shows steps and bytes; nil shows nothing.
	Progress base.Progress
}

// DefaultCacheDir is $XDG_CACHE_HOME/razor-mk, or ~/.cache/razor-mk.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "razor-mk")
	}
	return filepath.Join(os.TempDir(), "razor-mk-cache")
}

// OpenBase returns the base source a spec names; the spec's Tiny Core
// extensions come with it on every base.
func OpenBase(s *spec.Spec) (base.Source, error) {
	switch s.Base {
	case "debian":
		return tinycore.WithExtensions(debian.New(s), s), nil
	case "tinycore":
		return tinycore.New(s), nil
	}
	return nil, fmt.Errorf("builder: base %q is not supported", s.Base)
}

// Build builds the image the spec describes into o.OutDir and returns its
// manifest. Artefacts are written to temporary names and renamed, the
// manifest last, so that a reader never sees a half-written image.
func Build(ctx context.Context, o Options) (*manifest.Manifest, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	s := o.Spec
	tmp, err := os.MkdirTemp(o.CacheDir, "build-")
	if err != nil {
		return nil, fmt.Errorf("builder: %w", err)
	}
	defer os.RemoveAll(tmp)

	src, err := o.OpenBase(s)
	if err != nil {
		return nil, err
	}
	b, err := src.Open(ctx, base.Env{CacheDir: o.CacheDir, Arch: s.Arch, Logger: o.Logger, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	o.Progress.Step("resolve kernel modules")
	set, err := resolveModules(s, b, o.Logger)
	if err != nil {
		return nil, err
	}
	o.Progress.Step("agent")
	agent, err := o.agent(ctx, s, tmp)
	if err != nil {
		return nil, err
	}
	o.Progress.Step("assemble initrd")
	img, err := assemble(s, b, set, agent, o)
	if err != nil {
		return nil, err
	}
	if img.unsignedModules, err = UnsignedModules(img.archive); err != nil {
		return nil, err
	}
	if len(b.Loaders) > 0 {
		o.checkSignedChain(b, img)
	}
	if err := o.checkImage(s, img, set); err != nil {
		return nil, err
	}
	m, err := img.manifest(s, b, set, o)
	if err != nil {
		return nil, err
	}
	if err := o.writeImage(s, b, img, m); err != nil {
		return nil, err
	}
	return m, nil
}

// check fills in Options' defaults, refuses what cannot build, and makes
// the output and cache directories.
func (o *Options) check() error {
	if o.Spec == nil {
		return errors.New("builder: no spec")
	}
	if o.OutDir == "" {
		return errors.New("builder: no output directory")
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Version == "" {
		o.Version = version.Version
	}
	if o.Commit == "" {
		o.Commit = version.Commit
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = base.Discard
	}
	if o.OpenBase == nil {
		o.OpenBase = OpenBase
	}
	if o.SourceDateEpoch < 0 || o.SourceDateEpoch > 1<<32-1 {
		return fmt.Errorf("builder: SOURCE_DATE_EPOCH %d out of range", o.SourceDateEpoch)
	}
	for _, d := range []string{o.OutDir, o.CacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("builder: %w", err)
		}
	}
	return nil
}

// resolveModules closes the spec's modules over their dependencies in the
// base's modules tree and checks each was built for the base's kernel.
func resolveModules(s *spec.Spec, b *base.Base, log *slog.Logger) (*modules.Set, error) {
	set := &modules.Set{}
	if len(s.Modules.Include) == 0 {
		return set, nil
	}
	if b.Modules == nil {
		return nil, fmt.Errorf("builder: %s: the kernel has no modules tree, but modules.include names %d", s.Path, len(s.Modules.Include))
	}
	tree, err := modules.OpenTree(b.Modules)
	if err != nil {
		return nil, err
	}
	if set, err = tree.Resolve(s.Modules.Include, s.Modules.Exclude); err != nil {
		return nil, fmt.Errorf("builder: modules.include: %w", err)
	}
	for _, m := range set.Modules {
		// A module built for another kernel would not load: the tree
		// and the kernel image must belong together.
		if v := m.Info.Vermagic; v != "" && v != b.KernelVersion && !strings.HasPrefix(v, b.KernelVersion+" ") {
			return nil, fmt.Errorf("builder: module %s (%s) is for kernel %q, the kernel is %s", m.Name, m.Path, strings.Fields(v)[0], b.KernelVersion)
		}
	}
	log.Info("modules resolved", "selected", len(s.Modules.Include), "with_dependencies", len(set.Modules), "firmware", len(set.Firmware))
	return set, nil
}

// agent obtains the agent binary (given, prebuilt or built) and checks it
// is a static binary of the spec's architecture and variant.
func (o *Options) agent(ctx context.Context, s *spec.Spec, tmp string) (*agentBuild, error) {
	agentPath, origin, err := o.obtainAgent(ctx, s, tmp)
	if err != nil {
		return nil, err
	}
	o.Logger.Info("agent", "origin", origin)
	if o.AgentChosen != nil {
		o.AgentChosen(origin)
	}
	agent, err := checkAgent(agentPath, s.Arch, s.Variant)
	if err != nil {
		return nil, err
	}
	if o.AgentPath == "" && s.Agent.Path == "" {
		agent.Version = o.Version // built with -X …Version=o.Version
	}
	return agent, nil
}

// checkImage gives the firmware advice (an error with StrictFirmware) and
// checks a prod image holds nothing of the dev variant.
func (o *Options) checkImage(s *spec.Spec, img *image, set *modules.Set) error {
	if advice := FirmwareAdvice(img.missingFirmware, set); len(advice) > 0 {
		if o.StrictFirmware {
			return fmt.Errorf("%w (strict): %s", ErrMissingFirmware, strings.Join(advice, "; "))
		}
		for _, a := range advice {
			o.Logger.Warn("firmware", "advice", a)
		}
	}
	if s.Variant == spec.VariantProd {
		return CheckProd(img.archive)
	}
	return nil
}

// writeImage writes the initrd, the kernel and, last, the manifest with
// the artefacts' sizes and hashes.
func (o *Options) writeImage(s *spec.Spec, b *base.Base, img *image, m *manifest.Manifest) error {
	o.Progress.Step("write " + InitrdFile)
	comp, err := initramfs.ParseCompression(s.Initrd.Compression)
	if err != nil {
		return err
	}
	err = writeAtomic(filepath.Join(o.OutDir, InitrdFile), func(w io.Writer) error {
		return img.archive.Write(&progressWriter{w: w, prog: o.Progress}, initramfs.WriteOptions{
			Compression: comp, Level: s.Initrd.Level, SourceDateEpoch: o.SourceDateEpoch,
		})
	})
	if err != nil {
		return fmt.Errorf("builder: write initrd: %w", err)
	}
	o.Progress.Step("write " + KernelFile)
	if err := copyAtomic(filepath.Join(o.OutDir, KernelFile), b.Kernel); err != nil {
		return fmt.Errorf("builder: write kernel: %w", err)
	}
	if err := o.writeLoaders(b, m); err != nil {
		return err
	}
	arts := []*manifest.Artefact{&m.Kernel, &m.Initrd}
	for i := range m.Loaders {
		arts = append(arts, &m.Loaders[i].Artefact)
	}
	for _, a := range arts {
		sum, size, err := manifest.HashFile(filepath.Join(o.OutDir, a.Path))
		if err != nil {
			return err
		}
		a.SHA256, a.Size = sum, size
	}
	m.Sizes.Kernel, m.Sizes.Initrd = m.Kernel.Size, m.Initrd.Size
	data, err := m.Encode()
	if err != nil {
		return fmt.Errorf("builder: manifest: %w", err)
	}
	if err := writeAtomic(filepath.Join(o.OutDir, manifest.FileName), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("builder: write manifest: %w", err)
	}
	return nil
}

// writeAtomic writes a file through fn to a temporary name beside path and
// copyAtomic copies the file src to path through writeAtomic.
func copyAtomic(path, src string) error {
	return writeAtomic(path, func(w io.Writer) error {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

// renames it over path.
func writeAtomic(path string, fn func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

type progressWriter struct {
	w    io.Writer
	n    int64
	prog base.Progress
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	p.prog.Bytes(p.n, 0)
	return n, err
}

// manifest describes the assembled image; the artefacts' checksums are
// filled in once they are written.
func (img *image) manifest(s *spec.Spec, b *base.Base, set *modules.Set, o Options) (*manifest.Manifest, error) {
	m := &manifest.Manifest{
		Schema:          manifest.SchemaVersion,
		Name:            s.Name,
		Version:         o.Version,
		Variant:         s.Variant,
		Base:            s.Base,
		Arch:            s.Arch,
		KernelVersion:   b.KernelVersion,
		Cmdline:         withParams(s.Cmdline(), b.Cmdline),
		Compression:     s.Initrd.Compression,
		SourceDateEpoch: o.SourceDateEpoch,
		SpecSHA256:      s.Layers[len(s.Layers)-1].SHA256,
		Kernel:          manifest.Artefact{Path: KernelFile},
		Initrd:          manifest.Artefact{Path: InitrdFile},
		Modules:         set.Names(),
		BuiltinModules:  set.Builtin,
		Firmware:        img.firmware,
		MissingFirmware: img.missingFirmware,
		AgentTags:       img.agent.Tags,
		Notes:           slices.Concat(b.Notes, FirmwareAdvice(img.missingFirmware, set), img.notes),
		Extensions:      slices.Clone(b.Extensions),
		UnsignedModules: img.unsignedModules,
	}
	for _, l := range s.Layers[:len(s.Layers)-1] {
		m.Sources = append(m.Sources, manifest.Source{Kind: "spec", Name: filepath.Base(l.Path), SHA256: l.SHA256})
	}
	m.Sources = append(m.Sources, b.Sources...)
	agentSum, agentSize, err := manifest.HashFile(img.agent.Path)
	if err != nil {
		return nil, err
	}
	m.Sources = append(m.Sources, manifest.Source{Kind: "agent", Name: "mk-agent", Version: agentVersion(img.agent), SHA256: agentSum})
	m.Sizes.Agent = agentSize
	for _, r := range img.archive.Records() {
		if r.Type != initramfs.TypeFile {
			continue
		}
		sum, size, err := recordSum(r)
		if err != nil {
			return nil, err
		}
		p := "/" + r.Name
		m.Files = append(m.Files, manifest.File{Path: p, Size: size, SHA256: sum})
		m.Sizes.InitrdUnpacked += size
		switch {
		case hasPrefix(p, "/lib/modules"):
			m.Sizes.ModulesUnpacked += size
		case hasPrefix(p, "/lib/firmware"):
			m.Sizes.FirmwareUnpacked += size
		}
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return m, nil
}

// agentVersion is the version stamped into the agent (-X
// internal/version.Version=…) and the Go release that built it.
func agentVersion(a *agentBuild) string {
	v := "unknown"
	if a.Version != "" {
		v = a.Version
	}
	for _, st := range a.Info.Settings {
		if st.Key != "-ldflags" {
			continue
		}
		for _, f := range strings.Fields(st.Value) {
			if val, ok := strings.CutPrefix(f, versionPkg+".Version="); ok {
				v = val
			}
		}
	}
	return v + " (" + a.Info.GoVersion + ")"
}

func recordSum(r initramfs.Record) (string, int64, error) {
	rc, err := r.Open()
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", 0, fmt.Errorf("builder: %s: %w", r.Name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// withParams appends to a kernel command line the parameters it lacks.
func withParams(cmdline string, params []string) string {
	have := strings.Fields(cmdline)
	for _, p := range params {
		if !slices.Contains(have, p) {
			have = append(have, p)
		}
	}
	return strings.Join(have, " ")
}
