package tce

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
	"github.com/razor-mk/razor-mk/tcz/squashfs"
)

// noKernelMounter fails as a kernel without loop or squashfs does.
type noKernelMounter struct{ mounts int }

func (m *noKernelMounter) Mount(image, dir string) error {
	m.mounts++
	return fmt.Errorf("%w: no /dev/loop-control and /dev/loop0: %w", ErrNoKernelSupport, syscall.ENXIO)
}

func (*noKernelMounter) Unmount(string) error { return nil }

// TestInstallUnpacksWithoutKernelSupport: when mounting fails for want
// of loop or squashfs, extensions are unpacked in Go as copy2fs installs
// them: regular files, links and modes as packed, markers written,
// install scripts run, existing files kept, failures named.
func TestInstallUnpacksWithoutKernelSupport(t *testing.T) {
	f := mirrorFixture(t)
	var s scripts
	in := newInstaller(t, f, &s)
	m := &noKernelMounter{}
	in.Mounter = m
	root := in.Root
	os.MkdirAll(filepath.Join(root, "usr/local/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/local/bin/vmtoolsd"), []byte("mine"), 0o755)
	rep := in.Install(context.Background(), DirSource{Dir: f.TCZDir()}, []string{"hello", "vmtools.tcz", "meta.tcz", "needs-corrupt.tcz"})
	if diff := cmp.Diff([]string{"marker-bin.tcz", "hello.tcz", "vmlib.tcz", "vmtools.tcz", "meta.tcz"}, rep.Installed); diff != "" {
		t.Errorf("Installed (-want +got):\n%s", diff)
	}
	fails := failedNames(rep)
	if !strings.Contains(fails["corrupt.tcz"], "tce: unpacking corrupt.tcz: squashfs: not a squashfs 4.0 image") {
		t.Errorf("corrupt.tcz failure = %q, want it named with the reason", fails["corrupt.tcz"])
	}
	if !strings.Contains(fails["needs-corrupt.tcz"], "dependency failed: corrupt.tcz") {
		t.Errorf("needs-corrupt.tcz failure = %q", fails["needs-corrupt.tcz"])
	}
	if m.mounts == 0 {
		t.Errorf("no mount was tried before unpacking")
	}
	if diff := cmp.Diff([]string{"hello", "vmtools"}, s.ran); diff != "" {
		t.Errorf("scripts run (-want +got):\n%s", diff)
	}
	p := filepath.Join(root, "usr/local/share/hello/greeting.txt")
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: %v %v, want a regular file (copied, not linked)", p, fi, err)
	}
	if data, _ := os.ReadFile(p); string(data) != "hello from hello.tcz\n" {
		t.Errorf("greeting.txt = %q", data)
	}
	if l, err := os.Readlink(filepath.Join(root, "usr/local/share/hello/link")); err != nil || l != "greeting.txt" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/local/bin/tcz-marker")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("program: %v %v, want mode 0755", fi, err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/vmtoolsd")); string(data) != "mine" {
		t.Errorf("existing vmtoolsd = %q, want it kept", data)
	}
	for _, mk := range []string{"vmlib", "meta", "marker-bin"} {
		if fi, err := os.Lstat(filepath.Join(root, InstalledDir, mk)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("marker %s: %v %v", mk, fi, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, LoopDir, "hello")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unpacking left a mount directory: %v", err)
	}
}

// TestUnpackRealExtension unpacks a real Tiny Core 4.x extension and
// compares every entry with the image: as root, owners as packed.
func TestUnpackRealExtension(t *testing.T) {
	dir, err := tctest.RealRelease()
	if err != nil {
		t.Skip(err)
	}
	for _, name := range []string{"ncurses-common.tcz", "libcap.tcz"} {
		img := filepath.Join(dir, "kttc/tce/optional", name)
		root := t.TempDir()
		u, err := unpackTree(img, root)
		if err != nil {
			t.Fatalf("unpackTree(%s) = %v", name, err)
		}
		if u.files == 0 || u.kept != 0 {
			t.Errorf("%s: %+v", name, u)
		}
		fh, _ := os.Open(img)
		fi, _ := fh.Stat()
		sq, err := squashfs.Open(fh, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sq.Walk(func(e *squashfs.Entry) error {
			if e.Path == "." {
				return nil
			}
			n++
			st, err := os.Lstat(filepath.Join(root, e.Path))
			if err != nil {
				t.Errorf("%s: %v", e.Path, err)
				return nil
			}
			if st.Mode() != e.Mode {
				t.Errorf("%s: mode %v, packed %v", e.Path, st.Mode(), e.Mode)
			}
			if sys := st.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (sys.Uid != e.UID || sys.Gid != e.GID) {
				t.Errorf("%s: owner %d:%d, packed %d:%d", e.Path, sys.Uid, sys.Gid, e.UID, e.GID)
			}
			if e.Mode.IsRegular() && st.Size() != e.Size {
				t.Errorf("%s: %d bytes, packed %d", e.Path, st.Size(), e.Size)
			}
			return nil
		})
		fh.Close()
		if n < 3 {
			t.Errorf("%s: %d entries", name, n)
		}
	}
}

// TestProbeLoop binds a loop device without /dev/loop-control, as on
// kernels before 3.1, and mounts an extension through it (root only).
func TestProbeLoop(t *testing.T) {
	f := mirrorFixture(t)
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	if _, err := os.Stat("/dev/loop0"); err != nil {
		t.Skip("no /dev/loop0 (loop module not loaded)")
	}
	if !hasFilesystem("squashfs") {
		t.Skip("the kernel has no squashfs support here")
	}
	img, err := os.Open(filepath.Join(f.TCZDir(), "hello.tcz"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	dev, err := probeLoop(img, img.Name())
	if err != nil {
		t.Fatalf("probeLoop = %v", err)
	}
	dir := t.TempDir()
	err = syscall.Mount(dev.Name(), dir, "squashfs", syscall.MS_RDONLY, "")
	dev.Close()
	if err != nil {
		t.Fatalf("mount %s: %v", dev.Name(), err)
	}
	defer syscall.Unmount(dir, 0)
	data, err := os.ReadFile(filepath.Join(dir, "usr/local/share/hello/greeting.txt"))
	if err != nil || string(data) != "hello from hello.tcz\n" {
		t.Errorf("reading through %s: %q, %v", dev.Name(), data, err)
	}
}

func TestReleaseVersion(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"os-release", map[string]string{"etc/os-release": "NAME=TinyCore\nVERSION_ID=15.0\n", "usr/share/doc/tc/release.txt": "14.0\n"}, "15.0"},
		{"4.x release.txt", map[string]string{"usr/share/doc/tc/release.txt": "4.4\n"}, "4.4"},
		{"neither", nil, ""},
	} {
		root := t.TempDir()
		for p, data := range tt.files {
			os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
			os.WriteFile(filepath.Join(root, p), []byte(data), 0o644)
		}
		if got := releaseVersion(root); got != tt.want {
			t.Errorf("%s: releaseVersion = %q, want %q", tt.name, got, tt.want)
		}
	}
}
