package leasefile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriteReadAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dhcp")
	if got, err := ReadAll(dir); err != nil || len(got) != 0 {
		t.Fatalf("ReadAll(missing) = %v, %v; want none, nil", got, err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Info{Interface: "eth1", MAC: "52:54:00:00:00:02", Address: "10.0.0.3/24", Obtained: t0.Add(time.Second)}
	b := Info{Interface: "eth0", MAC: "52:54:00:00:00:01", Address: "10.0.0.2/24", RazorServerIP: "10.0.0.1", RazorPort: 8026, Obtained: t0}
	for _, in := range []Info{a, b} {
		if err := Write(dir, in); err != nil {
			t.Fatalf("Write(%s) = %v", in.Interface, err)
		}
	}
	got, err := ReadAll(dir)
	if err != nil {
		t.Fatalf("ReadAll = %v", err)
	}
	if diff := cmp.Diff([]Info{b, a}, got); diff != "" {
		t.Errorf("ReadAll mismatch (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = ReadAll(dir)
	if err == nil || len(got) != 2 {
		t.Errorf("ReadAll with a bad file = %d leases, %v; want 2 and an error", len(got), err)
	}
	for _, name := range []string{"", "../x", ".."} {
		if err := Write(dir, Info{Interface: name}); err == nil {
			t.Errorf("Write(interface %q) = nil, want error", name)
		}
	}
}
