// Package mkimage finds the microkernel the checkin server boots: the
// newest image directory under the images directory whose manifest.json
// checks out against its kernel's and initrd's size and sha256.
//
// Hashing an initrd of tens of megabytes takes a while, so a verification
// is remembered for as long as the manifest, kernel and initrd keep their
// size and modification time; a boot storm stats files and does not
// rehash them.
package mkimage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/manifest"
)

// ErrNoImage: no image directory holds a verified microkernel.
var ErrNoImage = errors.New("mkimage: no verified microkernel image")

// Image is a verified microkernel.
type Image struct {
	// Name is the image directory's name under the images directory; the
	// HTTP image service serves it at /images/<Name>/.
	Name     string
	Dir      string
	Manifest *manifest.Manifest
	// Kernel and Initrd are the artefacts' paths relative to Dir, with
	// forward slashes, as they appear in URLs.
	Kernel string
	Initrd string
}

// LoaderPath returns the path relative to Dir of the image's loader of a
// role (manifest.LoaderShim, LoaderGRUB), false if it has none.
func (i Image) LoaderPath(role string) (string, bool) {
	if i.Manifest == nil {
		return "", false
	}
	a, ok := i.Manifest.Loader(role)
	return filepath.ToSlash(a.Path), ok
}

// KernelURL and InitrdURL return the artefacts' URLs under base
// (http://host:port).
func (i Image) KernelURL(base string) string { return i.url(base, i.Kernel) }

// InitrdURL is like KernelURL for the initrd.
func (i Image) InitrdURL(base string) string { return i.url(base, i.Initrd) }

func (i Image) url(base, p string) string {
	return strings.TrimSuffix(base, "/") + path.Join("/images", i.Name, p)
}

// Finder picks the current image. The zero value is not usable; use New.
type Finder struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex // serialises verification (hashing)
	cache map[string]result
}

// result is a remembered verification of one image directory.
type result struct {
	msig    string // stat signature of manifest.json
	paths   []string
	fullsig string // stat signature of manifest, kernel and initrd; "" if the manifest was unusable
	img     Image
	err     error
}

// New returns a Finder over dir; log may be nil.
func New(dir string, log *slog.Logger) *Finder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Finder{dir: dir, log: log, cache: map[string]result{}}
}

// Dir returns the images directory.
func (f *Finder) Dir() string { return f.dir }

// candidate is an image directory with its manifest's modification time.
type candidate struct {
	name  string
	mtime time.Time
}

// Current returns the newest verified image: image directories are tried
// newest manifest.json first (then by name, descending), and the first
// that verifies wins. The error, when none does, lists why each failed.
func (f *Finder) Current() (Image, error) {
	imgs, err := f.verified(true)
	if err != nil {
		return Image{}, err
	}
	return imgs[0], nil
}

// Bootable returns every image directory that verifies, newest first; the
// first is the one Current returns. The error, when none does, is
// Current's.
func (f *Finder) Bootable() ([]Image, error) {
	return f.verified(false)
}

// verified verifies the image directories newest first, stopping at the
// first that verifies when first is set.
func (f *Finder) verified(first bool) ([]Image, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoImage, err)
	}
	var cands []candidate
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := os.Stat(filepath.Join(f.dir, e.Name(), manifest.FileName))
		if err != nil {
			continue
		}
		cands = append(cands, candidate{e.Name(), st.ModTime()})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := b.mtime.Compare(a.mtime); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})
	var problems []string
	var out []Image
	for _, c := range cands {
		img, err := f.verify(c.name)
		if err == nil {
			out = append(out, img)
			if first {
				return out, nil
			}
			continue
		}
		problems = append(problems, fmt.Sprintf("%s: %v", c.name, err))
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(problems) == 0 {
		return nil, fmt.Errorf("%w: no image directory with a %s in %s", ErrNoImage, manifest.FileName, f.dir)
	}
	return nil, fmt.Errorf("%w in %s: %s", ErrNoImage, f.dir, strings.Join(problems, "; "))
}

// signature stats the files an image's verification depends on.
func signature(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("%s: not a regular file", p)
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// verify loads and checks one image directory, reusing the remembered
// result while the files keep their size and modification time.
func (f *Finder) verify(name string) (Image, error) {
	dir := filepath.Join(f.dir, name)
	mpath := filepath.Join(dir, manifest.FileName)
	msig, err := signature(mpath)
	if err != nil {
		return Image{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.cache[name]; ok && r.msig == msig {
		if r.fullsig == "" {
			return r.img, r.err
		}
		if sig, err := signature(r.paths...); err == nil && sig == r.fullsig {
			return r.img, r.err
		}
	}
	r := load(dir, name, msig)
	if r.err != nil {
		f.log.Warn("microkernel image does not verify", "image", name, "err", r.err)
	} else {
		f.log.Info("microkernel image verified", "image", name,
			"kernel_version", r.img.Manifest.KernelVersion, "variant", r.img.Manifest.Variant)
	}
	f.cache[name] = r
	return r.img, r.err
}

// load reads and verifies dir's manifest. The stat signature is taken
// before hashing, so a file replaced during hashing is verified again on
// the next call.
func load(dir, name, msig string) result {
	r := result{msig: msig}
	m, err := manifest.Load(dir)
	if err != nil {
		r.err = err
		return r
	}
	arts := []manifest.Artefact{m.Kernel, m.Initrd}
	for _, l := range m.Loaders {
		arts = append(arts, l.Artefact)
	}
	r.paths = []string{filepath.Join(dir, manifest.FileName)}
	for _, a := range arts {
		if a.Path == "" || !filepath.IsLocal(a.Path) || strings.ContainsAny(a.Path, "\\?#% \t\r\n") {
			r.err = fmt.Errorf("%w: unusable artefact path %q", manifest.ErrMismatch, a.Path)
			return r
		}
		r.paths = append(r.paths, filepath.Join(dir, a.Path))
	}
	if r.fullsig, err = signature(r.paths...); err != nil {
		r.fullsig, r.err = "", err
		r.msig = "" // retry when the artefacts appear
		return r
	}
	if err := m.Verify(dir); err != nil {
		r.err = err
		return r
	}
	r.img = Image{Name: name, Dir: dir, Manifest: m, Kernel: filepath.ToSlash(m.Kernel.Path), Initrd: filepath.ToSlash(m.Initrd.Path)}
	return r
}

// ArchPreference turns a node's architecture, as a boot loader or the
// agent names it (iPXE's ${buildarch}: i386, x86_64, arm64; GRUB's
// $grub_cpu; Facter's architecture: x86_64, aarch64; Debian's amd64,
// arm64), into the image architectures (manifest arch, Debian names)
// that can boot it, best first. iPXE's BIOS build says i386 on 64-bit
// machines too, so the x86 names prefer amd64 and take i386 after it.
// An empty name gives nil: any image. An unknown name is kept as it is,
// so that it matches only an image of that very name.
func ArchPreference(arch string) []string {
	switch a := strings.ToLower(strings.TrimSpace(arch)); a {
	case "":
		return nil
	case "x86_64", "amd64", "x64", "i386", "i486", "i586", "i686", "x86", "386":
		return []string{"amd64", "i386"}
	case "arm64", "aarch64", "arm64-efi":
		return []string{"arm64"}
	default:
		return []string{a}
	}
}

// CurrentFor returns the newest verified image that boots a node of
// arch (see ArchPreference; "" is Current). A node whose architecture
// has no image gets an error naming it and the images there are, not
// another architecture's kernel.
func (f *Finder) CurrentFor(arch string) (Image, error) {
	pref := ArchPreference(arch)
	if pref == nil {
		return f.Current()
	}
	imgs, err := f.verified(false)
	if err != nil {
		return Image{}, err
	}
	for _, want := range pref {
		for _, img := range imgs {
			if imageArch(img) == want {
				return img, nil
			}
		}
	}
	var have []string
	for _, img := range imgs {
		have = append(have, img.Name+" ("+imageArch(img)+")")
	}
	return Image{}, fmt.Errorf("%w for architecture %s: the images directory has %s", ErrNoImage, arch, strings.Join(have, ", "))
}

// imageArch is an image's architecture; manifests from before the field
// was written are amd64.
func imageArch(img Image) string {
	if img.Manifest == nil || img.Manifest.Arch == "" {
		return "amd64"
	}
	return img.Manifest.Arch
}
