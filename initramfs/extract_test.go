package initramfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// onDisk describes an extracted file the way flatten describes a record.
type onDisk struct {
	Mode, Owner, Target, Device, Content string
	Ino                                  uint64
}

func scan(t *testing.T, dir string) map[string]onDisk {
	t.Helper()
	out := make(map[string]onDisk)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		r := Record{Perm: fi.Mode() & permMask}
		var o onDisk
		switch m := fi.Mode(); {
		case m.IsDir():
			r.Type = TypeDir
		case m.IsRegular():
			r.Type = TypeFile
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			o.Content = string(b)
			if st.Nlink > 1 {
				o.Ino = st.Ino
			}
		case m&fs.ModeSymlink != 0:
			r.Type = TypeSymlink
			o.Target, _ = os.Readlink(p)
		case m&fs.ModeCharDevice != 0:
			r.Type = TypeCharDevice
		case m&fs.ModeDevice != 0:
			r.Type = TypeBlockDevice
		case m&fs.ModeNamedPipe != 0:
			r.Type = TypeFifo
		}
		if r.Type == TypeCharDevice || r.Type == TypeBlockDevice {
			o.Device = cmpDev(st.Rdev)
		}
		if r.Type == TypeSymlink {
			r.Perm = 0o777
		}
		o.Mode = r.ModeString()
		o.Owner = ownerOf(st)
		out[rel] = o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtract(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("extracting device nodes and owners needs root")
	}
	a := sample()
	a.AddFile("etc/ro/file", []byte("in a read-only dir"), 0o444)
	a.AddDir("etc/ro", 0o555)
	dir := t.TempDir()
	if err := a.Extract(dir); err != nil {
		t.Fatalf("Extract() = %v", err)
	}
	got := scan(t, dir)
	// Expected: every record (and the implicit parents) as flatten sees it.
	want := make(map[string]onDisk)
	for _, f := range withParents(t, a, "dev", "etc", "home") {
		o := onDisk{Mode: f.Mode, Owner: f.Owner, Target: f.Target, Device: f.Device, Content: f.Content}
		if f.Links != "" {
			o.Ino = got[f.Name].Ino
			if o.Ino == 0 || o.Ino != got["bin/busybox"].Ino {
				t.Errorf("%s: not a hardlink of bin/busybox", f.Name)
			}
		}
		want[f.Name] = o
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Extract() tree (-want +got):\n%s", diff)
	}
	// Extracting again over the same tree replaces what is there.
	if err := a.Extract(dir); err != nil {
		t.Fatalf("Extract() again = %v", err)
	}
}

// TestExtractConfined tries to write outside the target through symlinks.
func TestExtractConfined(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name string
		a    func() *Archive
	}{
		{"absolute symlink dir", func() *Archive {
			a := New()
			a.AddSymlink("evil", outside)
			a.AddFile("evil/pwned", []byte("x"), 0o644)
			return a
		}},
		{"relative symlink dir", func() *Archive {
			a := New()
			a.AddSymlink("evil", "../../../../../../../../"+outside)
			a.AddFile("evil/pwned", []byte("x"), 0o644)
			return a
		}},
		{"hardlink through symlink", func() *Archive {
			a := New()
			a.AddSymlink("evil", outside)
			a.AddFile("f", []byte("x"), 0o644)
			a.AddRecord(Record{Name: "evil/pwned", Type: TypeHardlink, Target: "f"})
			return a
		}},
		{"device through symlink", func() *Archive {
			a := New()
			a.AddSymlink("evil", outside)
			a.AddRecord(Record{Name: "evil/pwned", Type: TypeFifo, Perm: 0o644})
			return a
		}},
		{"symlink through symlink", func() *Archive {
			a := New()
			a.AddSymlink("evil", outside)
			a.AddSymlink("evil/pwned", "/etc/passwd")
			return a
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tt.a().Extract(dir)
			if err == nil {
				t.Errorf("Extract() = nil, want an error")
			}
			if _, serr := os.Lstat(filepath.Join(outside, "pwned")); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("Extract() wrote outside its directory: %v", serr)
			}
		})
	}
}

func TestExtractReplacesAndRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "full"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "full/keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	a := New()
	a.AddFile("f", []byte("replaced the symlink"), 0o644)
	if err := a.Extract(dir); err != nil {
		t.Fatalf("Extract() = %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "replaced the symlink" {
		t.Errorf("f = %q, %v; want the file replacing the symlink", b, err)
	}
	b := New()
	b.AddFile("full", []byte("x"), 0o644)
	if err := b.Extract(dir); err == nil {
		t.Errorf("Extract(file over a non-empty directory) = nil, want an error")
	}
}
