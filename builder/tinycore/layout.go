package tinycore

import (
	"fmt"
	"github.com/razor-mk/razor-mk/tcz"
	"path"
	"strings"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/manifest"
)

// Where extensions go in an image (Tiny Core's remaster convention, and
// the original microkernel's mirror directory).
const (
	// builtinDir holds built-in extensions: optional/NAME.tcz (with .dep
	// and .md5.txt) and onboot.lst, loaded at boot by Tiny Core's
	// tce-setup, or by the agent on the debian base.
	builtinDir = "tmp/builtin"
	// mirrorDir is the image's TCE mirror, served by the agent on
	// 127.0.0.1:2157 under /tinycorelinux/: <major>.x/<build>/tcz/ plus
	// tce-install-list and kmod-install-list.
	mirrorDir = "tmp/tinycorelinux"
)

// owner is the owner of the extension files in an image.
type owner struct {
	UID, GID uint32
}

// set is an image's extensions.
type set struct {
	// Repo is the mirror directory they come from ("15.x/x86_64"); the
	// image's mirror tree uses the same path.
	Repo string
	// Builtin are the built-in extensions in load order.
	Builtin []*extension
	// Mirror are the mirror-only extensions (those of TCEInstall and
	// their dependencies that are not built in), in load order.
	Mirror []*extension
	// TCEInstall is tce-install-list: what the agent installs from its
	// mirror on VMware.
	TCEInstall []string
	// KmodInstall is kmod-install-list: the kernel modules it then loads.
	KmodInstall []string
	// Unpack unpacks the built-in extensions into the image at build
	// time (copy2fs) instead of adding their .tcz files for tce-setup to
	// mount at boot.
	Unpack bool
}

// Empty reports whether the set adds nothing to an image.
func (s *set) Empty() bool {
	return s == nil || len(s.Builtin) == 0 && len(s.Mirror) == 0 && len(s.TCEInstall) == 0 && len(s.KmodInstall) == 0
}

// Names returns every extension of the set, built-in ones first, as the
// manifest lists them ("builtin/openssh.tcz", "mirror/open-vm-tools.tcz").
func (s *set) Names() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, e := range s.Builtin {
		out = append(out, "builtin/"+e.Name)
	}
	for _, e := range s.Mirror {
		out = append(out, "mirror/"+e.Name)
	}
	return out
}

// Sources returns the manifest sources of the set's extensions.
func (s *set) Sources() []manifest.Source {
	if s == nil {
		return nil
	}
	var out []manifest.Source
	for _, list := range [][]*extension{s.Builtin, s.Mirror} {
		for _, e := range list {
			out = append(out, manifest.Source{Kind: "tcz", Name: e.Name, Version: e.Version, URL: e.Blob.URL, SHA256: e.Blob.SHA256})
		}
	}
	return out
}

// AddTo adds the set to an image: built-in extensions under
// /tmp/builtin/optional with onboot.lst (every built-in extension, in
// load order; none when Unpack is set: see unpackBuiltin), and the mirror tree under /tmp/tinycorelinux with the two
// install lists. Extension files are read from their cached blobs when
// the archive is written.
func (s *set) AddTo(a *initramfs.Archive, o owner) {
	if s.Empty() {
		return
	}
	dir := func(name string, perm uint32) {
		a.AddRecord(initramfs.Record{Name: name, Type: initramfs.TypeDir, Perm: permOf(perm), UID: o.UID, GID: o.GID})
	}
	file := func(name string, data []byte) {
		a.AddRecord(initramfs.Record{Name: name, Type: initramfs.TypeFile, Perm: 0o644, UID: o.UID, GID: o.GID, Data: data})
	}
	ext := func(dst string, e *extension, sidecars bool) {
		a.AddRecord(initramfs.Record{Name: path.Join(dst, e.Name), Type: initramfs.TypeFile, Perm: 0o644, UID: o.UID, GID: o.GID, Source: e.Blob.Path})
		file(path.Join(dst, e.Name+".md5.txt"), tcz.FormatMD5(e.Blob.MD5, e.Name))
		if e.Dep != nil {
			// An empty .dep is published as such (tcl.tcz.dep); keep it.
			file(path.Join(dst, e.Name+".dep"), e.Dep)
		}
		if sidecars {
			if e.Info != nil {
				file(path.Join(dst, e.Name+".info"), e.Info)
			}
			if e.List != nil {
				file(path.Join(dst, e.Name+".list"), e.List)
			}
		}
	}
	if len(s.Builtin) > 0 && !s.Unpack {
		dir(builtinDir, 0o775)
		dir(builtinDir+"/optional", 0o775)
		var lst strings.Builder
		for _, e := range s.Builtin {
			ext(builtinDir+"/optional", e, false)
			lst.WriteString(e.Name + "\n")
		}
		file(builtinDir+"/onboot.lst", []byte(lst.String()))
	}
	dir(mirrorDir, 0o755)
	if len(s.Mirror) > 0 {
		tcz := path.Join(mirrorDir, s.Repo, "tcz")
		// Every directory of the tree, not only the leaf, is tc's.
		var parents []string
		for d := path.Dir(tcz); d != mirrorDir && d != "." && d != "/"; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			dir(parents[i], 0o755)
		}
		dir(tcz, 0o755)
		for _, e := range s.Mirror {
			ext(tcz, e, true)
		}
	}
	file(mirrorDir+"/tce-install-list", installList(s.TCEInstall))
	file(mirrorDir+"/kmod-install-list", installList(s.KmodInstall))
}

// installList renders an install list as the original's YAML files did:
// a sequence of names.
func installList(names []string) []byte {
	if len(names) == 0 {
		return []byte("[]\n")
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return []byte(b.String())
}
