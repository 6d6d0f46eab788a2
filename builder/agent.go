package builder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/builder/spec"
)

// ModulePath is the Go module mk-agent is built from.
const ModulePath = "github.com/razor-mk/razor-mk"

// versionPkg is the package whose variables -ldflags -X stamps.
const versionPkg = ModulePath + "/internal/version"

// Errors about the agent; callers test them with errors.Is.
var (
	// ErrNoAgentSource: no prebuilt agent was given and no source tree found.
	ErrNoAgentSource = errors.New("builder: no mk-agent: no prebuilt agent for this image and no source tree to build one (install the razor-mk package, which ships them in /usr/lib/razor-mk/agent; run inside the razor-mk tree with Go; or give --agent PATH or agent.path)")
	// ErrBadAgent: the agent binary is unfit for the image (not a static
	// Linux executable for the image's architecture, or built for the
	// wrong variant).
	ErrBadAgent = errors.New("builder: unfit mk-agent")
)

// goArch maps Debian architecture names to GOARCH.
var goArch = map[string]string{"amd64": "amd64", "arm64": "arm64", "i386": "386"}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "i386": elf.EM_386}

// agentBuild is how the agent was obtained.
type agentBuild struct {
	Path string
	Tags []string
	Info *buildinfo.BuildInfo
	// Version is the version the builder stamped into an agent it built
	// itself (go build -trimpath does not record -ldflags); "" for a
	// prebuilt agent.
	Version string
}

// findModule walks up from dir to the directory whose go.mod declares
// ModulePath.
func findModule(dir string) (string, bool) {
	for i := 0; i < 64; i++ {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == ModulePath {
					return dir, true
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", false
}

// PrebuiltDir is where the razor-mk package and the release tarball put
// the prebuilt agents, relative to the directory of the mkbuild binary
// (/usr/bin/mkbuild: /usr/lib/razor-mk/agent).
const PrebuiltDir = "../lib/razor-mk/agent"

// DefaultAgentDir is PrebuiltDir beside the running executable, or "".
func DefaultAgentDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Join(filepath.Dir(exe), PrebuiltDir)
}

// PrebuiltName is a prebuilt agent's file name: mk-agent-<arch>, then
// "-" and the build tags joined with "+" if any (mk-agent-amd64-dev).
func PrebuiltName(arch string, tags []string) string {
	n := "mk-agent-" + arch
	if len(tags) > 0 {
		n += "-" + strings.Join(tags, "+")
	}
	return n
}

// obtainAgent returns the agent for the image and says where it came
// from: o.AgentPath, the spec's agent.path, a static build of
// ./cmd/mk-agent from the module source (agent.source, else the module
// holding the spec, else the one holding the working directory) into
// tmp, or, outside a source tree, the prebuilt agent in o.AgentDir.
func (o *Options) obtainAgent(ctx context.Context, s *spec.Spec, tmp string) (path, origin string, err error) {
	if o.AgentPath != "" {
		return o.AgentPath, "given with --agent: " + o.AgentPath, nil
	}
	if s.Agent.Path != "" {
		return s.Agent.Path, "agent.path in the spec: " + s.Agent.Path, nil
	}
	src := s.Agent.Source
	if src == "" {
		var ok bool
		if src, ok = findModule(filepath.Dir(s.Path)); !ok {
			wd := o.WorkDir
			if wd == "" {
				wd, _ = os.Getwd()
			}
			if src, ok = findModule(wd); !ok {
				return o.prebuiltAgent(s)
			}
		}
	}
	p, err := o.buildAgent(ctx, s, src, tmp)
	return p, "built from source in " + src, err
}

// prebuiltAgent returns the prebuilt agent for the spec's architecture
// and build tags.
func (o *Options) prebuiltAgent(s *spec.Spec) (string, string, error) {
	dir := o.AgentDir
	if dir == "" {
		dir = DefaultAgentDir()
	}
	if dir == "" {
		return "", "", ErrNoAgentSource
	}
	p := filepath.Join(dir, PrebuiltName(s.Arch, s.AgentTags()))
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("%w; looked for the prebuilt %s", ErrNoAgentSource, p)
	}
	return p, "prebuilt " + p, nil
}

// buildAgent builds ./cmd/mk-agent in src, statically for the image.
func (o *Options) buildAgent(ctx context.Context, s *spec.Spec, src, tmp string) (string, error) {
	goTool := o.GoTool
	if goTool == "" {
		p, err := exec.LookPath("go")
		if err != nil {
			return "", fmt.Errorf("%w: the go command is not in PATH to build it", ErrNoAgentSource)
		}
		goTool = p
	}
	// go build skips the link when the output already holds a binary of
	// the same build ID, so each kind of agent gets a fixed place in the
	// cache; the image takes a copy.
	key := sha256.Sum256([]byte(strings.Join([]string{src, s.Arch, strings.Join(s.AgentTags(), ","), o.Version, o.Commit}, "\x00")))
	out := filepath.Join(o.CacheDir, "agent", hex.EncodeToString(key[:8]), "mk-agent")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("builder: %w", err)
	}
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", fmt.Errorf("builder: %w", err)
	}
	defer unlock()
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s", versionPkg, o.Version, versionPkg, o.Commit)
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags}
	if tags := s.AgentTags(); len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", out, "./cmd/mk-agent")
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = src
	// The build must not depend on the caller's environment: a static,
	// cgo-free binary for the image's architecture, without GOFLAGS.
	cmd.Env = append(filterEnv(os.Environ(), "GOFLAGS", "CGO_ENABLED", "GOOS", "GOARCH", "GOEXPERIMENT", "GOAMD64", "GOARM64"),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goArch[s.Arch], "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("builder: go %s (in %s): %w\n%s", strings.Join(args, " "), src, err, strings.TrimSpace(stderr.String()))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("builder: %w", err)
	}
	cp := filepath.Join(tmp, "mk-agent")
	if err := os.WriteFile(cp, data, 0o755); err != nil {
		return "", fmt.Errorf("builder: %w", err)
	}
	return cp, nil
}

func filterEnv(env []string, drop ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			out = append(out, kv)
		}
	}
	return out
}

// checkAgent verifies that the binary at path is a static Linux
// executable for arch, and that its build matches the variant: the dev
// variant's agent has the dev tag; the prod variant's has neither the dev
// tag nor any SSH package.
func checkAgent(path, arch, variant string) (*agentBuild, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadAgent, path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%w: %s is not an executable", ErrBadAgent, path)
	}
	if f.Machine != elfMachine[arch] {
		return nil, fmt.Errorf("%w: %s is for %v, the image is %s", ErrBadAgent, path, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%w: %s is dynamically linked; build it with CGO_ENABLED=0", ErrBadAgent, path)
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: no Go build information: %v", ErrBadAgent, path, err)
	}
	ab := &agentBuild{Path: path, Info: info, Tags: BuildTags(info)}
	hasDev := slices.Contains(ab.Tags, "dev")
	switch variant {
	case spec.VariantDev:
		if !hasDev {
			return nil, fmt.Errorf("%w: %s was not built with -tags dev, which the dev variant needs", ErrBadAgent, path)
		}
	case spec.VariantProd:
		if hasDev {
			return nil, fmt.Errorf("%w: %s was built with -tags dev: not for the prod variant", ErrBadAgent, path)
		}
		code, err := SSHCode(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadAgent, err)
		}
		if code != "" {
			return nil, fmt.Errorf("%w: %s contains SSH code (%s): not for the prod variant", ErrBadAgent, path, code)
		}
	}
	return ab, nil
}

// BuildTags returns the -tags a Go binary was built with.
func BuildTags(info *buildinfo.BuildInfo) []string {
	for _, s := range info.Settings {
		if s.Key == "-tags" && s.Value != "" {
			return strings.Split(s.Value, ",")
		}
	}
	return nil
}

// sshMarkers are package path prefixes of SSH implementations as they
// appear in a Go binary's function table (which -s -w keeps).
var sshMarkers = []string{
	"golang.org/x/crypto/ssh.",
	"golang.org/x/crypto/ssh/",
	"github.com/gliderlabs/ssh.",
	ModulePath + "/agent/devssh.",
}

// SSHCode returns the first SSH package whose functions the binary at path
// contains, or "".
func SSHCode(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return sshCodeIn(data), nil
}

func sshCodeIn(data []byte) string {
	for _, m := range sshMarkers {
		if bytes.Contains(data, []byte(m)) {
			return strings.TrimRight(m, "./")
		}
	}
	return ""
}
