package initramfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	old := sample()
	new := sample()
	new.AddFile("bin/busybox", []byte("a newer busybox"), 0o755)
	new.AddSymlink("bin/sh", "ash")
	new.AddRecord(Record{Name: "home/tc/.profile", Type: TypeFile, Perm: 0o600, Data: []byte("PS1='$ '\n")})
	new.AddDevice("dev/console", CharDevice, 5, 2, 0o600)
	new.Remove("dev/initctl")
	new.AddFile("etc/hostname", []byte("box\n"), 0o644)
	new.AddSymlink("init", "/sbin/init")
	got := Diff(old, new)
	want := []Change{
		{Name: "bin/ash", Kind: Changed, Fields: []FieldChange{{"type", "hardlink", "file"}}},
		{Name: "bin/busybox", Kind: Changed, Fields: []FieldChange{{"mode", "-rwsr-xr-x", "-rwxr-xr-x"}, {"size", "18", "15"}, {Field: "content"}}},
		{Name: "bin/hush", Kind: Changed, Fields: []FieldChange{{"target", "bin/busybox", "bin/ash"}}},
		{Name: "bin/sh", Kind: Changed, Fields: []FieldChange{{"target", "busybox", "ash"}}},
		{Name: "dev/console", Kind: Changed, Fields: []FieldChange{{"device", "5,1", "5,2"}}},
		{Name: "dev/initctl", Kind: Removed},
		{Name: "etc/hostname", Kind: Added},
		{Name: "home/tc/.profile", Kind: Changed, Fields: []FieldChange{{"mode", "-rw-r--r--", "-rw-------"}, {"owner", "1001:50", "0:0"}}},
		{Name: "init", Kind: Changed, Fields: []FieldChange{{"type", "file", "symlink"}, {"mode", "-rwxr-xr-x", "lrwxrwxrwx"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff() (-want +got):\n%s", diff)
	}
	if d := Diff(sample(), sample()); len(d) != 0 {
		t.Errorf("Diff(same, same) = %v, want none", d)
	}
	wantStr := []string{
		"~ bin/busybox: mode -rwsr-xr-x -> -rwxr-xr-x, size 18 -> 15, content",
		"- dev/initctl",
		"+ etc/hostname",
	}
	var gotStr []string
	for _, c := range got {
		if c.Name == "bin/busybox" || c.Name == "dev/initctl" || c.Name == "etc/hostname" {
			gotStr = append(gotStr, c.String())
		}
	}
	if diff := cmp.Diff(wantStr, gotStr); diff != "" {
		t.Errorf("Change.String() (-want +got):\n%s", diff)
	}
}
