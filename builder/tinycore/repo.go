package tinycore

import (
	"context"
	"errors"
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"regexp"
	"strings"
	"sync"
)

// builds are the mirror's build directories.
var builds = []string{"x86", "x86_64", "armv6", "armv7", "aarch64"}

// buildForArch maps an image's Debian architecture to the mirror build of
// the same userland: amd64 → x86_64 (CorePure64), i386 → x86 (Core),
// arm64 → aarch64. Unknown architectures give "".
func buildForArch(arch string) string {
	switch arch {
	case "amd64":
		return "x86_64"
	case "i386", "386":
		return "x86"
	case "arm64":
		return "aarch64"
	case "armhf":
		return "armv7"
	}
	return ""
}

var versionRE = regexp.MustCompile(`^([0-9]{1,3})(\.x|\.[0-9]{1,3}(\.[0-9]{1,3})?)?$`)

// parseVersion splits a release version as a spec gives it: "15.x" or
// "15" (the major's current release) or "15.0" (a pinned release). It
// returns the major and, when pinned, the exact version.
func parseVersion(v string) (major, exact string, err error) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return "", "", fmt.Errorf("tinycore: version %q: want a release such as 15.x or 15.0", v)
	}
	if m[2] != "" && m[2] != ".x" {
		exact = m[1] + m[2]
	}
	return m[1], exact, nil
}

// repo is one major release and build of a mirror: the tcz/ and
// release/ directories under <major>.x/<build>/.
type repo struct {
	Mirror *mirror
	// Major is the release's major version ("15").
	Major string
	// Build is the build directory ("x86_64").
	Build string

	mu   sync.Mutex
	md5s map[string]string
	deps map[string][]byte
}

// newRepo returns the repository of major and build on m.
func newRepo(m *mirror, major, build string) *repo {
	return &repo{Mirror: m, Major: major, Build: build}
}

// Dir is the repository's path on a mirror: "15.x/x86_64".
func (r *repo) Dir() string { return r.Major + ".x/" + r.Build }

// TCZ is the mirror path of an extension file or sidecar.
func (r *repo) TCZ(file string) string { return r.Dir() + "/tcz/" + file }

// Release is the mirror path of a distribution file.
func (r *repo) Release(file string) string {
	return r.Dir() + "/release/distribution_files/" + file
}

// MD5 returns the digest the extension's .md5.txt announces. An
// extension without one is unknown (tce-load counts an extension as
// present only with its md5).
func (r *repo) MD5(ctx context.Context, name string) (string, error) {
	r.mu.Lock()
	if s, ok := r.md5s[name]; ok {
		r.mu.Unlock()
		return s, nil
	}
	r.mu.Unlock()
	data, err := r.Mirror.Get(ctx, r.TCZ(name+".md5.txt"), tcz.MaxMD5File)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: %s (no %s)", ErrUnknownExtension, name, r.Mirror.Describe(r.TCZ(name+".md5.txt")))
	}
	if err != nil {
		return "", err
	}
	sum, err := tcz.ParseMD5(data, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", r.Mirror.Describe(r.TCZ(name+".md5.txt")), err)
	}
	r.mu.Lock()
	if r.md5s == nil {
		r.md5s = map[string]string{}
	}
	r.md5s[name] = sum
	r.mu.Unlock()
	return sum, nil
}

// DepFile returns the extension's .dep file (nil when it has none).
func (r *repo) DepFile(ctx context.Context, name string) ([]byte, error) {
	r.mu.Lock()
	if d, ok := r.deps[name]; ok {
		r.mu.Unlock()
		return d, nil
	}
	r.mu.Unlock()
	data, err := r.Mirror.Get(ctx, r.TCZ(name+".dep"), tcz.MaxDepFile)
	switch {
	case errors.Is(err, ErrNotFound):
		data, err = nil, nil
	case err == nil && data == nil:
		data = []byte{} // published, empty (the real tcl.tcz.dep): kept as such
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.deps == nil {
		r.deps = map[string][]byte{}
	}
	r.deps[name] = data
	r.mu.Unlock()
	return data, nil
}

// Deps is a depsFunc over the repository: it checks that the extension
// exists (its .md5.txt) and parses its .dep.
func (r *repo) Deps(ctx context.Context, name string) ([]string, error) {
	if _, err := r.MD5(ctx, name); err != nil {
		return nil, err
	}
	data, err := r.DepFile(ctx, name)
	if err != nil {
		return nil, err
	}
	deps, err := tcz.ParseDep(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Mirror.Describe(r.TCZ(name+".dep")), err)
	}
	return deps, nil
}

// extension is an extension fetched from a mirror.
type extension struct {
	// Name is the file name ("openssh.tcz", placeholders replaced).
	Name string
	// Blob is the verified .tcz.
	Blob *blob
	// Dep is the .dep file as published (nil when none).
	Dep []byte
	// Info and List are the .info and .list files (nil when the mirror
	// has none).
	Info, List []byte
	// Version is the .info Version field, or "".
	Version string
}

// Fetch obtains an extension with its sidecars, the .tcz checked against
// its .md5.txt.
func (r *repo) Fetch(ctx context.Context, name string) (*extension, error) {
	sum, err := r.MD5(ctx, name)
	if err != nil {
		return nil, err
	}
	dep, err := r.DepFile(ctx, name)
	if err != nil {
		return nil, err
	}
	blob, err := r.Mirror.Fetch(ctx, r.TCZ(name), sum)
	if err != nil {
		return nil, err
	}
	e := &extension{Name: name, Blob: blob, Dep: dep}
	for _, side := range []struct {
		suffix string
		dst    *[]byte
		max    int64
	}{{".info", &e.Info, maxInfoFile}, {".list", &e.List, maxListFile}} {
		data, err := r.Mirror.Get(ctx, r.TCZ(name+side.suffix), side.max)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		*side.dst = data
	}
	if e.Info != nil {
		if info, err := parseInfo(e.Info); err == nil {
			e.Version = info.Version()
		}
	}
	return e, nil
}

// Resolve resolves roots on the repository (see resolver.Resolve) and
// fetches every extension of the closure, in load order. Extensions
// skip reports present are left out with their dependencies.
func (r *repo) Resolve(ctx context.Context, roots []string, kver string, skip func(string) bool) ([]*extension, error) {
	res := &resolver{Deps: r.Deps, KernelVersion: kver, Skip: skip}
	names, err := res.Resolve(ctx, roots)
	if err != nil {
		return nil, err
	}
	out := make([]*extension, 0, len(names))
	for _, n := range names {
		e, err := r.Fetch(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
