package tinycore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/tcz"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/manifest"
)

// releaseFiles returns the default distribution files of a build: the
// kernel and the combined initrd (rootfs + modules). Builds without
// distribution_files on the mirror (armv7, aarch64: piCore ships SD card
// images) give empty names.
func releaseFiles(build string) (kernel string, initrds []string) {
	switch build {
	case "x86_64":
		return "vmlinuz64", []string{"corepure64.gz"}
	case "x86":
		return "vmlinuz", []string{"core.gz"}
	}
	return "", nil
}

// release is an opened Tiny Core release.
type release struct {
	// Version is the release's VERSION_ID (etc/os-release) or
	// usr/share/doc/tc/release.txt ([4.x]).
	Version string
	// KernelVersion is the name of the single lib/modules/<kver>
	// directory of the initrd or, for an initrd without modules, the
	// version the kernel image's header names.
	KernelVersion string
	// Kernel is the verified kernel image.
	Kernel *blob
	// Archive is the initrds read in order (later entries replace
	// earlier ones, as the kernel unpacks them), with every device node,
	// owner, symlink and permission.
	Archive *initramfs.Archive
	// Sources are the release files for the manifest.
	Sources []manifest.Source
}

// openRelease fetches and reads a release's kernel and initrds from the
// repository's release/distribution_files/, each checked against its
// .md5.txt. When exact is not empty, the release must be that version.
func openRelease(ctx context.Context, r *repo, kernel string, initrds []string, exact string) (*release, error) {
	if kernel == "" || len(initrds) == 0 {
		return nil, fmt.Errorf("%w: the %s build has no default distribution files; name tinycore.kernel and tinycore.initrds", ErrRelease, r.Build)
	}
	fetch := func(name string) (*blob, error) {
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
	rel := &release{Archive: initramfs.New()}
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
	rel.Version = releaseVersion(rel.Archive)
	for i := range rel.Sources {
		rel.Sources[i].Version = rel.Version
	}
	if exact != "" && rel.Version != exact {
		return nil, fmt.Errorf("%w: %s holds release %q, the spec pins %q (the mirror's distribution_files are the current release of %s.x: write version: \"%s.x\" to take it, or use a local copy of %s)",
			ErrRelease, r.Mirror.Describe(r.Dir()+"/release/distribution_files/"), rel.Version, exact, r.Major, r.Major, exact)
	}
	kvers := kernelVersions(rel.Archive)
	header, herr := kernelImageVersion(rel.Kernel.Path)
	switch len(kvers) {
	case 0:
		if herr != nil {
			return nil, fmt.Errorf("%w: no lib/modules/<kernel version> in %s, and the kernel's version cannot be read from %s: %w", ErrRelease, strings.Join(initrds, ", "), kernel, herr)
		}
		rel.KernelVersion = header
	case 1:
		rel.KernelVersion = kvers[0]
		if herr == nil && header != kvers[0] {
			return nil, fmt.Errorf("%w: %s is kernel %s, the initrd's modules are for %s", ErrRelease, kernel, header, kvers[0])
		}
	default:
		return nil, fmt.Errorf("%w: several kernel versions in lib/modules: %s", ErrRelease, strings.Join(kvers, ", "))
	}
	if err := checkMinKernel(rel.KernelVersion); err != nil {
		return nil, err
	}
	return rel, nil
}

// kernelVersions returns the directories under lib/modules, sorted.
func kernelVersions(a *initramfs.Archive) []string {
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

// releaseVersion returns VERSION_ID of etc/os-release, else the first
// line of usr/share/doc/tc/release.txt, else "".
func releaseVersion(a *initramfs.Archive) string {
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

// minKernel is the oldest kernel a tinycore image is built for: mk-agent
// (a static Go program) was verified on Tiny Core 4.x's 3.0.21 (Go itself
// documents Linux 3.2 as its minimum); older releases are refused.
const minKernel = "3.0"

// checkMinKernel refuses a kernel release older than minKernel.
func checkMinKernel(kver string) error {
	maj, minor, ok := kernelMajorMinor(kver)
	wmaj, wmin, _ := kernelMajorMinor(minKernel)
	if !ok {
		return fmt.Errorf("%w: kernel version %q: want major.minor…", ErrRelease, kver)
	}
	if maj < wmaj || maj == wmaj && minor < wmin {
		return fmt.Errorf("%w: kernel %s is older than %s, the oldest mk-agent runs on", ErrRelease, kver, minKernel)
	}
	return nil
}

func kernelMajorMinor(kver string) (int, int, bool) {
	var maj, minor int
	if n, _ := fmt.Sscanf(kver, "%d.%d", &maj, &minor); n != 2 {
		return 0, 0, false
	}
	return maj, minor, true
}

// kernelImageVersion reads the version string of an x86 bzImage: the
// setup header ("HdrS", boot protocol 2.00 or later) points to it with
// kernel_version (offset 0x20e, relative to 0x200). It returns its first
// word, the kernel release ("3.0.21-tinycore").
func kernelImageVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return "", fmt.Errorf("not an x86 bzImage (%d bytes of header): %w", len(hdr), err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(hdr[0x206:]) < 0x200 {
		return "", errors.New("not an x86 bzImage (no HdrS setup header of boot protocol 2.00 or later)")
	}
	ptr := binary.LittleEndian.Uint16(hdr[0x20e:])
	if ptr == 0 {
		return "", errors.New("the bzImage header names no kernel version")
	}
	buf := make([]byte, 256)
	n, err := f.ReadAt(buf, int64(ptr)+0x200)
	if n == 0 {
		return "", fmt.Errorf("kernel version string at %#x: %w", int(ptr)+0x200, err)
	}
	s, _, _ := strings.Cut(string(buf[:n]), "\x00")
	fields := strings.Fields(s)
	if len(fields) == 0 || !kernelReleaseRE.MatchString(fields[0]) {
		return "", fmt.Errorf("kernel version string %q is not a kernel release", tcz.Truncate(s, 60))
	}
	return fields[0], nil
}

var kernelReleaseRE = regexp.MustCompile(`^[0-9]+\.[0-9]+[A-Za-z0-9._+~-]*$`)

// kernelFeature reports whether the release's kernel has a driver: as a
// module under lib/modules/<kver>/ (name.ko, .ko.gz, .ko.xz, .ko.zst) or
// in its modules.builtin.
func kernelFeature(a *initramfs.Archive, kver, name string) bool {
	dir := "lib/modules/" + kver + "/"
	for _, r := range a.Records() {
		if !strings.HasPrefix(r.Name, dir) {
			continue
		}
		base := path.Base(r.Name)
		for _, ext := range []string{".ko", ".ko.gz", ".ko.xz", ".ko.zst"} {
			if base == name+ext && r.Type != initramfs.TypeDir {
				return true
			}
		}
	}
	if data, err := fileContent(a, dir+"modules.builtin"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if path.Base(strings.TrimSpace(l)) == name+".ko" {
				return true
			}
		}
	}
	return false
}
