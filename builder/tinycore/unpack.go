package tinycore

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/tcz/squashfs"
)

// Paths of Tiny Core's extension bookkeeping that an unpacked built-in
// extension gets, as tce-load would have written them.
const (
	// installedDir holds /usr/local/tce.installed/NAME: an extension's
	// install script, or an empty marker. tce-setup skips an extension
	// whose entry exists.
	installedDir = "usr/local/tce.installed"
	// setupList is /tmp/setup.lst: the install scripts tce-setup runs at
	// the end of the boot-time extension loading (tce-load -b queues them
	// there).
	setupList = "tmp/setup.lst"
	// newModules tells tce-setup to run depmod -a.
	newModules = "etc/sysconfig/newmodules"
)

// unpackReport is what unpacking the built-in extensions added.
type unpackReport struct {
	// Files is the number of entries added; Kept those the release (or
	// an earlier extension) already had, kept as cp -ai with "n" does.
	Files, Kept int
	// Scripts are the install scripts queued in /tmp/setup.lst.
	Scripts []string
}

// unpackBuiltin unpacks the built-in extensions, in load order, into a,
// as Tiny Core's copy2fs mode installs them (tce-load's copyInstall: the
// tree copied over / keeping existing files, owners and modes as packed),
// and writes the bookkeeping tce-load would: the
// /usr/local/tce.installed/NAME marker (the extension's own install
// script when it has one, queued in /tmp/setup.lst so that tce-setup runs
// it at boot, after ldconfig) and /etc/sysconfig/newmodules for an
// extension with kernel modules. tce-setup then finds every built-in
// extension installed and mounts nothing. marker owns the markers (tc:staff).
func (s *set) unpackBuiltin(a *initramfs.Archive, marker owner) (unpackReport, error) {
	var rep unpackReport
	var scripts []string
	for _, e := range s.Builtin {
		if err := unpackOne(a, e, marker, &rep, &scripts); err != nil {
			return rep, fmt.Errorf("tinycore: unpacking %s: %w", e.Name, err)
		}
	}
	if len(scripts) > 0 {
		var b strings.Builder
		for _, sc := range scripts {
			b.WriteString("/" + sc + "\n")
		}
		a.AddRecord(initramfs.Record{Name: setupList, Type: initramfs.TypeFile, Perm: 0o644, UID: marker.UID, GID: marker.GID, Data: []byte(b.String())})
	}
	rep.Scripts = scripts
	return rep, a.Err()
}

func unpackOne(a *initramfs.Archive, e *extension, marker owner, rep *unpackReport, scripts *[]string) error {
	f, err := os.Open(e.Blob.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	sq, err := squashfs.Open(f, fi.Size())
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(e.Name, ".tcz")
	script := path.Join(installedDir, base)
	hasScript, modules := false, false
	err = sq.Walk(func(x *squashfs.Entry) error {
		if x.Path == "." {
			return nil
		}
		name, err := resolveParent(a, x.Path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(x.Path, "usr/local/lib/modules/") {
			modules = true
		}
		if x.Path == script && x.Mode.IsRegular() && x.Mode&0o111 != 0 {
			hasScript = true
		}
		if _, ok := a.Get(name); ok {
			// cp -ai answered "n": what is there stays (a directory keeps
			// its owner and mode, its new contents are added below).
			if !x.Mode.IsDir() {
				rep.Kept++
			}
			return nil
		}
		r := initramfs.Record{Name: name, Perm: x.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), UID: x.UID, GID: x.GID}
		switch {
		case x.Mode.IsDir():
			r.Type = initramfs.TypeDir
		case x.Mode.IsRegular():
			r.Type = initramfs.TypeFile
			if r.Data, err = sq.ReadFile(x); err != nil {
				return err
			}
		case x.Mode&fs.ModeSymlink != 0:
			r.Type, r.Target = initramfs.TypeSymlink, x.Target
		case x.Mode&fs.ModeCharDevice != 0:
			r.Type, r.Major, r.Minor = initramfs.TypeCharDevice, x.Major, x.Minor
		case x.Mode&fs.ModeDevice != 0:
			r.Type, r.Major, r.Minor = initramfs.TypeBlockDevice, x.Major, x.Minor
		case x.Mode&fs.ModeNamedPipe != 0:
			r.Type = initramfs.TypeFifo
		case x.Mode&fs.ModeSocket != 0:
			r.Type = initramfs.TypeSocket
		default:
			return fmt.Errorf("%s: unsupported entry type %v", x.Path, x.Mode.Type())
		}
		a.AddRecord(r)
		rep.Files++
		return nil
	})
	if err != nil {
		return err
	}
	if hasScript {
		*scripts = append(*scripts, script)
	} else if _, ok := a.Get(script); !ok {
		a.AddRecord(initramfs.Record{Name: script, Type: initramfs.TypeFile, Perm: 0o644, UID: marker.UID, GID: marker.GID, Data: []byte{}})
	}
	if modules {
		a.AddRecord(initramfs.Record{Name: newModules, Type: initramfs.TypeFile, Perm: 0o644, Data: []byte{}})
	}
	return nil
}

// resolveParent returns where p lands in a when copied over it: a parent
// directory that is a symlink in a (lib → usr/lib) is followed, as cp
// does on a real root.
func resolveParent(a *initramfs.Archive, p string) (string, error) {
	parts := strings.Split(p, "/")
	cur := ""
	for i := 0; i < len(parts)-1; i++ {
		cur = path.Join(cur, parts[i])
		for hops := 0; ; hops++ {
			r, ok := a.Get(cur)
			if !ok || r.Type != initramfs.TypeSymlink {
				break
			}
			if hops > 8 {
				return "", fmt.Errorf("/%s: too many symlinks", cur)
			}
			t := r.Target
			if !strings.HasPrefix(t, "/") {
				t = path.Join(path.Dir(cur), t)
			}
			cur = strings.TrimPrefix(path.Clean("/"+t), "/")
			if cur == "" || strings.HasPrefix(cur, "..") {
				return "", fmt.Errorf("/%s: a symlink out of the root", p)
			}
		}
	}
	return path.Join(cur, parts[len(parts)-1]), nil
}
