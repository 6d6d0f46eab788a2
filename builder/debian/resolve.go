package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultStateGlobs are the files whose state decides what apt resolves a
// package name to: the package lists (apt-get update), the sources, the
// pin preferences and dpkg's status.
var DefaultStateGlobs = []string{
	"/var/lib/apt/lists/*",
	"/etc/apt/sources.list",
	"/etc/apt/sources.list.d/*",
	"/etc/apt/preferences",
	"/etc/apt/preferences.d/*",
	"/var/lib/dpkg/status",
}

// resolveVersion names the format of cached resolutions.
const resolveVersion = "v1"

// stateKey hashes what a resolution depends on: the names asked for, the
// architecture, and the name, size and mtime of apt's state files. It is
// "" when no state file exists (nothing to key on).
func stateKey(globs []string, arch string, names []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", resolveVersion, arch, strings.Join(names, ","))
	n := 0
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		slices.Sort(m)
		for _, p := range m {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, fi.Size(), fi.ModTime().UnixNano())
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// resolveAll resolves package names to their candidate versions, URLs and
// checksums; kernel (when not "") is followed from a meta-package to the
// versioned image package. Names apt does not know are absent from the
// result. The answer is cached under the cache directory, keyed on apt's
// state: after apt-get update the names are resolved again.
func resolveAll(ctx context.Context, apt *Apt, cache Cache, kernel string, names []string, log *slog.Logger) (map[string]Package, error) {
	globs := apt.StateGlobs
	if globs == nil {
		globs = DefaultStateGlobs
	}
	key := stateKey(globs, apt.Arch, names)
	file := filepath.Join(cache.Dir, "debian", "resolve", key+".json")
	if key != "" {
		if data, err := os.ReadFile(file); err == nil {
			var res map[string]Package
			if json.Unmarshal(data, &res) == nil {
				log.Debug("apt resolution from cache", "file", file)
				return res, nil
			}
		}
	}
	res, err := apt.Show(ctx, names...)
	if err != nil {
		return nil, err
	}
	if p, ok := res[kernel]; ok && kernel != "" {
		// linux-image-amd64 → linux-image-6.1.0-NN-amd64; bounded.
		for i := 0; i < 3; i++ {
			dep := p.DependsOn("linux-image-")
			if dep == "" || dep == p.Name {
				break
			}
			next, err := apt.Show(ctx, dep)
			if err != nil {
				return nil, err
			}
			q, ok := next[dep]
			if !ok {
				return nil, fmt.Errorf("%w: %s (which %s depends on)", ErrUnavailable, dep, p.Name)
			}
			log.Info("kernel meta-package resolved", "from", p.Name, "to", dep, "version", q.Version)
			p = q
		}
		res[kernel] = p
	}
	var pkgs []*Package
	for _, n := range names {
		if p, ok := res[n]; ok {
			pkgs = append(pkgs, &p)
		}
	}
	if err := apt.URIs(ctx, pkgs); err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		for _, n := range names {
			if q, ok := res[n]; ok && q.Name == p.Name && q.Version == p.Version {
				res[n] = *p
			}
		}
	}
	if key != "" {
		if data, err := json.Marshal(res); err == nil {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err == nil {
				if f, err := os.CreateTemp(filepath.Dir(file), ".resolve-"); err == nil {
					_, werr := f.Write(data)
					if cerr := f.Close(); werr == nil && cerr == nil {
						_ = os.Rename(f.Name(), file)
					}
					_ = os.Remove(f.Name())
				}
			}
		}
	}
	return res, nil
}
