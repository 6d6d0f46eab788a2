package tinycore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"path"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/manifest"
)

// ReleaseFiles returns the default distribution files of a build: the
// kernel and the combined initrd (rootfs + modules). Builds without
// distribution_files on the mirror (armv7, aarch64: piCore ships SD card
// images) give empty names.
func ReleaseFiles(build string) (kernel string, initrds []string) {
	switch build {
	case "x86_64":
		return "vmlinuz64", []string{"corepure64.gz"}
	case "x86":
		return "vmlinuz", []string{"core.gz"}
	}
	return "", nil
}

// Release is an opened Tiny Core release.
type Release struct {
	// Version is the release's VERSION_ID (etc/os-release) or
	// usr/share/doc/tc/release.txt ([4.x]).
	Version string
	// KernelVersion is the name of the single lib/modules/<kver>
	// directory of the initrd.
	KernelVersion string
	// Kernel is the verified kernel image.
	Kernel *Blob
	// Archive is the initrds read in order (later entries replace
	// earlier ones, as the kernel unpacks them), with every device node,
	// owner, symlink and permission.
	Archive *initramfs.Archive
	// Sources are the release files for the manifest.
	Sources []manifest.Source
}

// OpenRelease fetches and reads a release's kernel and initrds from the
// repository's release/distribution_files/, each checked against its
// .md5.txt. When exact is not empty, the release must be that version.
func OpenRelease(ctx context.Context, r *Repo, kernel string, initrds []string, exact string) (*Release, error) {
	if kernel == "" || len(initrds) == 0 {
		return nil, fmt.Errorf("%w: the %s build has no default distribution files; name tinycore.kernel and tinycore.initrds", ErrRelease, r.Build)
	}
	fetch := func(name string) (*Blob, error) {
		data, err := r.Mirror.Get(ctx, r.Release(name+".md5.txt"), tcz.MaxMD5File)
		if errors.Is(err, ErrNotFound) {
			if _, err2 := r.Mirror.Get(ctx, r.Release(name), 1); errors.Is(err2, ErrNotFound) {
				return nil, fmt.Errorf("%w: no %s on the mirror (is %s the right release and build?)", ErrRelease, r.Mirror.Describe(r.Release(name)), r.Dir())
			}
			return nil, fmt.Errorf("%w: %s has no .md5.txt to check it against", ErrRelease, r.Mirror.Describe(r.Release(name)))
		}
		if err != nil {
			return nil, err
		}
		sum, err := tcz.ParseMD5(data, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Mirror.Describe(r.Release(name+".md5.txt")), err)
		}
		return r.Mirror.Fetch(ctx, r.Release(name), sum)
	}
	rel := &Release{Archive: initramfs.New()}
	k, err := fetch(kernel)
	if err != nil {
		return nil, err
	}
	rel.Kernel = k
	rel.Sources = append(rel.Sources, manifest.Source{Kind: "tinycore-release", Name: kernel, URL: k.URL, SHA256: k.SHA256})
	for _, name := range initrds {
		b, err := fetch(name)
		if err != nil {
			return nil, err
		}
		a, err := initramfs.ReadFile(b.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrRelease, b.URL, err)
		}
		rel.Archive.Merge(a)
		rel.Sources = append(rel.Sources, manifest.Source{Kind: "tinycore-release", Name: name, URL: b.URL, SHA256: b.SHA256})
	}
	rel.Version = ReleaseVersion(rel.Archive)
	for i := range rel.Sources {
		rel.Sources[i].Version = rel.Version
	}
	if exact != "" && rel.Version != exact {
		return nil, fmt.Errorf("%w: %s holds release %q, the spec pins %q (the mirror's distribution_files are the current release of %s.x: write version: \"%s.x\" to take it, or use a local copy of %s)",
			ErrRelease, r.Mirror.Describe(r.Dir()+"/release/distribution_files/"), rel.Version, exact, r.Major, r.Major, exact)
	}
	kvers := KernelVersions(rel.Archive)
	switch len(kvers) {
	case 0:
		return nil, fmt.Errorf("%w: no lib/modules/<kernel version> in %s (a rootfs without its modules? add the modules archive to tinycore.initrds)", ErrRelease, strings.Join(initrds, ", "))
	case 1:
		rel.KernelVersion = kvers[0]
	default:
		return nil, fmt.Errorf("%w: several kernel versions in lib/modules: %s", ErrRelease, strings.Join(kvers, ", "))
	}
	return rel, nil
}

// KernelVersions returns the directories under lib/modules, sorted.
func KernelVersions(a *initramfs.Archive) []string {
	var out []string
	for _, r := range a.Records() {
		if r.Type != initramfs.TypeDir {
			continue
		}
		if dir, name := path.Split(r.Name); dir == "lib/modules/" && name != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ReleaseVersion returns VERSION_ID of etc/os-release, else the first
// line of usr/share/doc/tc/release.txt, else "".
func ReleaseVersion(a *initramfs.Archive) string {
	if r, ok := a.Get("etc/os-release"); ok {
		if data, err := r.Content(); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "VERSION_ID="); ok {
					return strings.Trim(v, `"'`)
				}
			}
		}
	}
	if r, ok := a.Get("usr/share/doc/tc/release.txt"); ok {
		if data, err := r.Content(); err == nil {
			line, _, _ := strings.Cut(string(data), "\n")
			return strings.TrimSpace(line)
		}
	}
	return ""
}
