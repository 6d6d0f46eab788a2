package initramfs

import (
	"bytes"
	"errors"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// sample returns an archive with every kind of record, the way a Tiny Core
// base holds them: uid 1001/staff files, device nodes, symlinks, hardlinks.
func sample() *Archive {
	a := New()
	a.AddDir(".", 0o755)
	a.AddDir("bin", 0o755)
	a.AddFile("bin/busybox", []byte("#!busybox\x00\x01\x02binary"), 0o4755)
	a.AddSymlink("bin/sh", "busybox")
	a.AddRecord(Record{Name: "bin/ash", Type: TypeHardlink, Target: "bin/busybox"})
	a.AddRecord(Record{Name: "bin/hush", Type: TypeHardlink, Target: "bin/busybox"})
	a.AddDevice("dev/console", CharDevice, 5, 1, 0o600)
	a.AddDevice("dev/sda", BlockDevice, 8, 0, 0o660)
	a.AddDevice("dev/big", CharDevice, 4095, 1048575, 0o600)
	a.AddRecord(Record{Name: "dev/initctl", Type: TypeFifo, Perm: 0o600})
	a.AddRecord(Record{Name: "home/tc", Type: TypeDir, Perm: 0o750, UID: 1001, GID: 50})
	a.AddRecord(Record{Name: "home/tc/.profile", Type: TypeFile, Perm: 0o644, UID: 1001, GID: 50, Data: []byte("PS1='$ '\n")})
	a.AddFile("etc/empty", nil, 0o644)
	a.AddRecord(Record{Name: "tmp", Type: TypeDir, Perm: 0o777 | fs.ModeSticky})
	a.AddFile("init", []byte("#!/bin/sh\nexec /sbin/init\n"), 0o755)
	return a
}

func names(a *Archive) []string {
	var out []string
	for _, r := range a.Records() {
		out = append(out, r.Name)
	}
	return out
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"bin/sh", "bin/sh", nil},
		{"/bin/sh", "bin/sh", nil},
		{"./bin//sh/", "bin/sh", nil},
		{"", ".", nil},
		{"/", ".", nil},
		{".", ".", nil},
		{"a/./b", "a/b", nil},
		{"../etc/passwd", "", ErrUnsafePath},
		{"a/../../b", "", ErrUnsafePath},
		{"a/..", "", ErrUnsafePath},
		{"a\x00b", "", ErrUnsafePath},
		{string(bytes.Repeat([]byte("a"), 5000)), "", ErrNameTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 20)], func(t *testing.T) {
			got, err := cleanName(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("cleanName(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cleanName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAddRefused(t *testing.T) {
	tests := []struct {
		name string
		add  func(a *Archive)
		want error
	}{
		{"dotdot", func(a *Archive) { a.AddFile("../x", nil, 0o644) }, ErrUnsafePath},
		{"bad type", func(a *Archive) { a.AddRecord(Record{Name: "x", Type: 99}) }, ErrInvalidRecord},
		{"root not dir", func(a *Archive) { a.AddFile("/", nil, 0o644) }, ErrInvalidRecord},
		{"self link", func(a *Archive) { a.AddRecord(Record{Name: "x", Type: TypeHardlink, Target: "x"}) }, ErrInvalidRecord},
		{"bad device kind", func(a *Archive) { a.AddDevice("dev/x", 7, 1, 1, 0o600) }, ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New()
			tt.add(a)
			if err := a.Err(); !errors.Is(err, tt.want) {
				t.Fatalf("Err() = %v, want %v", err, tt.want)
			}
			if a.Len() != 0 {
				t.Errorf("Len() = %d, want 0: a refused record was kept", a.Len())
			}
			if err := a.Write(new(bytes.Buffer), WriteOptions{}); !errors.Is(err, tt.want) {
				t.Errorf("Write() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRecordsSortedParentsFirst(t *testing.T) {
	a := New()
	for _, n := range []string{"a/b", "a-b", "a", "b/c/d", ".", "a.b", "A"} {
		a.AddDir(n, 0o755)
	}
	want := []string{".", "A", "a", "a-b", "a.b", "a/b", "b/c/d"}
	if diff := cmp.Diff(want, names(a)); diff != "" {
		t.Errorf("Records() names (-want +got):\n%s", diff)
	}
}

func TestReplaceAndRemove(t *testing.T) {
	tests := []struct {
		name string
		edit func(a *Archive)
		want []Record
	}{
		{
			name: "file replaces file",
			edit: func(a *Archive) {
				a.AddFile("x", []byte("old"), 0o644)
				a.AddFile("x", []byte("new"), 0o600)
			},
			want: []Record{{Name: "x", Type: TypeFile, Perm: 0o600, Data: []byte("new")}},
		},
		{
			name: "file replaces directory and what is below it",
			edit: func(a *Archive) {
				a.AddDir("d", 0o755)
				a.AddFile("d/f", []byte("f"), 0o644)
				a.AddFile("d2", []byte("keep"), 0o644)
				a.AddSymlink("d", "d2")
			},
			want: []Record{
				{Name: "d", Type: TypeSymlink, Perm: 0o777, Target: "d2"},
				{Name: "d2", Type: TypeFile, Perm: 0o644, Data: []byte("keep")},
			},
		},
		{
			name: "directory replaces directory and keeps its entries",
			edit: func(a *Archive) {
				a.AddDir("d", 0o755)
				a.AddFile("d/f", []byte("f"), 0o644)
				a.AddRecord(Record{Name: "d", Type: TypeDir, Perm: 0o700, UID: 1001})
			},
			want: []Record{
				{Name: "d", Type: TypeDir, Perm: 0o700, UID: 1001},
				{Name: "d/f", Type: TypeFile, Perm: 0o644, Data: []byte("f")},
			},
		},
		{
			name: "remove subtree, not its namesakes",
			edit: func(a *Archive) {
				a.AddFile("lib/a", []byte("a"), 0o644)
				a.AddFile("lib/m/b", []byte("b"), 0o644)
				a.AddFile("lib2", []byte("c"), 0o644)
				a.AddDir("lib", 0o755)
				a.Remove("/lib/")
			},
			want: []Record{{Name: "lib2", Type: TypeFile, Perm: 0o644, Data: []byte("c")}},
		},
		{
			name: "removing a hardlinked file keeps the content in its links",
			edit: func(a *Archive) {
				a.AddFile("a", []byte("data"), 0o755)
				a.AddRecord(Record{Name: "c", Type: TypeHardlink, Target: "a"})
				a.AddRecord(Record{Name: "b", Type: TypeHardlink, Target: "a"})
				a.Remove("a")
			},
			want: []Record{
				{Name: "b", Type: TypeFile, Perm: 0o755, Data: []byte("data")},
				{Name: "c", Type: TypeHardlink, Target: "b"},
			},
		},
		{
			name: "replacing a hardlinked file leaves the links the old content",
			edit: func(a *Archive) {
				a.AddFile("a", []byte("old"), 0o755)
				a.AddRecord(Record{Name: "b", Type: TypeHardlink, Target: "a"})
				a.AddFile("a", []byte("new"), 0o644)
			},
			want: []Record{
				{Name: "a", Type: TypeFile, Perm: 0o644, Data: []byte("new")},
				{Name: "b", Type: TypeFile, Perm: 0o755, Data: []byte("old")},
			},
		},
		{
			name: "hardlink to a hardlink points at the file",
			edit: func(a *Archive) {
				a.AddFile("a", []byte("x"), 0o644)
				a.AddRecord(Record{Name: "b", Type: TypeHardlink, Target: "a"})
				a.AddRecord(Record{Name: "c", Type: TypeHardlink, Target: "/b"})
			},
			want: []Record{
				{Name: "a", Type: TypeFile, Perm: 0o644, Data: []byte("x")},
				{Name: "b", Type: TypeHardlink, Target: "a"},
				{Name: "c", Type: TypeHardlink, Target: "a"},
			},
		},
		{
			name: "remove root empties",
			edit: func(a *Archive) {
				a.AddFile("a", nil, 0o644)
				a.Remove(".")
			},
			want: []Record{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New()
			tt.edit(a)
			if err := a.Err(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, a.Records(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Records() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	base := New()
	base.AddFile("etc/motd", []byte("base"), 0o644)
	base.AddFile("etc/keep", []byte("keep"), 0o644)
	base.AddRecord(Record{Name: "usr/bin/tool", Type: TypeFile, Perm: 0o755, UID: 1001, GID: 50, Data: []byte("tool")})
	overlay := New()
	overlay.AddFile("etc/motd", []byte("overlay"), 0o600)
	overlay.AddFile("usr/bin/tool", []byte("tool2"), 0o755)
	overlay.AddRecord(Record{Name: "usr/bin/tool-link", Type: TypeHardlink, Target: "usr/bin/tool"})
	base.Merge(overlay)
	base.Remove("etc/keep")
	want := []Record{
		{Name: "etc/motd", Type: TypeFile, Perm: 0o600, Data: []byte("overlay")},
		{Name: "usr/bin/tool", Type: TypeFile, Perm: 0o755, Data: []byte("tool2")},
		{Name: "usr/bin/tool-link", Type: TypeHardlink, Target: "usr/bin/tool"},
	}
	if diff := cmp.Diff(want, base.Records()); diff != "" {
		t.Errorf("Merge() records (-want +got):\n%s", diff)
	}
	if got := overlay.Len(); got != 3 {
		t.Errorf("overlay.Len() after Merge = %d, want 3 (Merge must not change b)", got)
	}
}

func TestGet(t *testing.T) {
	a := sample()
	r, ok := a.Get("/bin/busybox")
	if !ok || r.Perm != fs.ModeSetuid|0o755 || r.Size() != 18 {
		t.Errorf("Get(/bin/busybox) = %+v, %v; want the setuid busybox of 18 bytes", r, ok)
	}
	if _, ok := a.Get("../bin"); ok {
		t.Errorf("Get(../bin) found something")
	}
	if got, want := r.ModeString(), "-rwsr-xr-x"; got != want {
		t.Errorf("ModeString() = %q, want %q", got, want)
	}
}

func TestModeString(t *testing.T) {
	tests := []struct {
		r    Record
		want string
	}{
		{Record{Type: TypeDir, Perm: 0o755}, "drwxr-xr-x"},
		{Record{Type: TypeDir, Perm: 0o777 | fs.ModeSticky}, "drwxrwxrwt"},
		{Record{Type: TypeCharDevice, Perm: 0o620}, "crw--w----"},
		{Record{Type: TypeBlockDevice, Perm: 0o660}, "brw-rw----"},
		{Record{Type: TypeSymlink, Perm: 0o777}, "lrwxrwxrwx"},
		{Record{Type: TypeFile, Perm: 0o644 | fs.ModeSetgid | fs.ModeSetuid}, "-rwSr-Sr--"},
		{Record{Type: TypeFifo, Perm: 0o600}, "prw-------"},
		{Record{Type: TypeSocket, Perm: 0o755}, "srwxr-xr-x"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.r.ModeString(); got != tt.want {
				t.Errorf("ModeString(%v %o) = %q, want %q", tt.r.Type, tt.r.Perm, got, tt.want)
			}
		})
	}
}

func TestDevnum(t *testing.T) {
	for _, d := range [][2]uint32{{0, 0}, {5, 1}, {8, 16}, {4095, 1048575}, {259, 65536}} {
		dev := mkdev(d[0], d[1])
		if ma, mi := devMajor(dev), devMinor(dev); ma != d[0] || mi != d[1] {
			t.Errorf("devMajor/devMinor(mkdev(%d, %d)) = %d, %d", d[0], d[1], ma, mi)
		}
	}
	if got, want := mkdev(8, 1), uint64(0x801); got != want {
		t.Errorf("mkdev(8, 1) = %#x, want %#x", got, want)
	}
}
