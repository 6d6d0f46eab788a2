package builder

import (
	"debug/pe"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/manifest"
)

// UnsignedModules returns the names of the kernel modules in the archive
// (files under lib/modules, plain or compressed) that carry no appended
// signature, sorted. A kernel in lockdown, as Secure Boot puts Debian's
// kernel in, refuses to load them.
//
// The builder never rewrites a module: a compressed module is written
// decompressed, which is the image that was signed (Debian signs the
// plain .ko, then compresses it), so its signature survives byte for
// byte; this check reads what is actually in the initrd.
func UnsignedModules(a *initramfs.Archive) ([]string, error) {
	var out []string
	for _, r := range a.Records() {
		if r.Type != initramfs.TypeFile || !strings.HasPrefix(r.Name, "lib/modules/") || !kmod.IsModuleFile(r.Name) {
			continue
		}
		rc, err := r.Open()
		if err != nil {
			return nil, fmt.Errorf("builder: %s: %w", r.Name, err)
		}
		data, err := kmod.Decompress(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("builder: %s: %w", r.Name, err)
		}
		if !kmod.Signed(data) {
			out = append(out, kmod.Name(r.Name))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkSignedChain warns about what would stop a Secure Boot node: a
// kernel without an Authenticode signature (GRUB refuses it) and unsigned
// modules (the locked-down kernel refuses them).
func (o *Options) checkSignedChain(b *base.Base, img *image) {
	signed, err := peSigned(b.Kernel)
	switch {
	case err != nil:
		img.notes = append(img.notes, fmt.Sprintf("secure boot: the kernel is not a PE image (%v): the signed GRUB will refuse it", err))
	case !signed:
		img.notes = append(img.notes, "secure boot: the kernel carries no signature: the signed GRUB will refuse it under Secure Boot")
	}
	if n := len(img.unsignedModules); n > 0 {
		img.notes = append(img.notes, fmt.Sprintf("secure boot: %d unsigned modules (unsigned_modules): a kernel in lockdown will not load them", n))
	}
	for _, n := range img.notes {
		o.Logger.Warn(n)
	}
}

// peSigned reports whether the PE image at path has a certificate table
// (an Authenticode signature; whether it verifies is the firmware's and
// shim's business).
func peSigned(path string) (bool, error) {
	f, err := pe.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var dirs []pe.DataDirectory
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		dirs = h.DataDirectory[:h.NumberOfRvaAndSizes]
	case *pe.OptionalHeader32:
		dirs = h.DataDirectory[:h.NumberOfRvaAndSizes]
	}
	const certTable = 4 // IMAGE_DIRECTORY_ENTRY_SECURITY
	return len(dirs) > certTable && dirs[certTable].Size > 0, nil
}

// writeLoaders copies the base's signed loaders into the output directory
// and lists them in the manifest (checksums are filled in with the
// kernel's). Loaders a previous build left there that this image does not
// have are removed, so that the directory matches its manifest.
func (o *Options) writeLoaders(b *base.Base, m *manifest.Manifest) error {
	m.Loaders = nil
	keep := map[string]bool{}
	for _, l := range b.Loaders {
		o.Progress.Step("write " + l.Name)
		if !filepath.IsLocal(l.Name) || strings.ContainsRune(l.Name, '/') {
			return fmt.Errorf("builder: loader name %q", l.Name)
		}
		if err := copyAtomic(filepath.Join(o.OutDir, l.Name), l.Path); err != nil {
			return fmt.Errorf("builder: write %s: %w", l.Name, err)
		}
		keep[l.Name] = true
		m.Loaders = append(m.Loaders, manifest.Loader{Role: l.Role, Artefact: manifest.Artefact{Path: l.Name}})
	}
	for _, chain := range spec.SignedLoaders {
		for _, name := range []string{chain.Shim.Name, chain.GRUB.Name} {
			if !keep[name] {
				if err := os.Remove(filepath.Join(o.OutDir, name)); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("builder: %w", err)
				}
			}
		}
	}
	return nil
}

// upstreamRE is an upstream version: digits and dots.
var upstreamRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)+$`)

// upstreamVersion takes the upstream version of a signed loader from its
// package's version: Debian's signed-package versions embed it between
// "+" signs, after the signed package's own (shim-signed
// 1.51~1+deb12u1+16.1-2~deb12u1 is shim 16.1, 1.44+15.8-1~deb12u1 is
// 15.8; grub-efi-amd64-signed 1+2.06+13+deb12u2 is GRUB 2.06): the last
// part that looks like one. The package version is returned when none
// does.
func upstreamVersion(v string) string {
	up := v
	for _, f := range strings.Split(v, "+") {
		f, _, _ = strings.Cut(f, "-")
		if upstreamRE.MatchString(f) {
			up = f
		}
	}
	return up
}

// SecureBootSummary is the build summary's Secure Boot line for an image:
// the signed loaders and their versions, and whether every module is
// signed. warn is true when a Secure Boot node would not boot the image
// as it is (no loaders, unsigned modules, an unsigned kernel).
func SecureBootSummary(m *manifest.Manifest) (line string, warn bool) {
	var mods string
	switch n := len(m.UnsignedModules); {
	case n > 0:
		mods = fmt.Sprintf("%d %s UNSIGNED (a kernel in lockdown refuses them; see unsigned_modules)", n, plural(n, "module"))
		warn = true
	case len(m.Modules) == 0:
		mods = "no modules"
	default:
		mods = fmt.Sprintf("%d %s all signed", len(m.Modules), plural(len(m.Modules), "module"))
	}
	if !m.SignedChain() {
		return "no signed loaders (UEFI nodes with Secure Boot on cannot boot this image), " + mods, true
	}
	chain, _ := spec.LoadersFor(m.Arch)
	version := func(pkg string) string {
		for _, s := range m.Sources {
			if s.Kind == "deb" && s.Name == pkg {
				return " " + upstreamVersion(s.Version)
			}
		}
		return ""
	}
	for _, n := range m.Notes {
		if strings.HasPrefix(n, "secure boot: the kernel") {
			warn = true
			mods += ", kernel UNSIGNED"
		}
	}
	return fmt.Sprintf("shim%s + grub%s (signed), %s", version(chain.Shim.Package), version(chain.GRUB.Package), mods), warn
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
