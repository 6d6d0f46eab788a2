package tce

import (
	"github.com/razor-mk/razor-mk/tcz"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseList(t *testing.T) {
	names, bad := ParseList([]byte("# onboot\nopenssh.tcz\n\n- open-vm-tools.tcz\n  bash   # comment\nbad/name.tcz\nopenssh.tcz\n[]\n"))
	if diff := cmp.Diff([]string{"openssh.tcz", "open-vm-tools.tcz", "bash.tcz"}, names); diff != "" {
		t.Errorf("ParseList names mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bad/name.tcz"}, bad); diff != "" {
		t.Errorf("ParseList bad mismatch (-want +got):\n%s", diff)
	}
}

func TestParseInstallList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{`["open_vm_tools.tcz", " x.tcz ", ""]`, []string{"open_vm_tools.tcz", "x.tcz"}},
		{"- drivers/misc/vmci.ko\n- vmxnet3\n", []string{"drivers/misc/vmci.ko", "vmxnet3"}},
		{"[]\n", nil},
		{"# none\n", nil},
	} {
		got, err := parseInstallList([]byte(tt.in))
		if err != nil {
			t.Fatalf("parseInstallList(%q) = %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
			t.Errorf("parseInstallList(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal([]string(a), []string(b))
})

func TestIsVMware(t *testing.T) {
	for _, tt := range []struct {
		facts map[string]string
		want  bool
	}{
		{map[string]string{"manufacturer": "VMware, Inc."}, true},
		{map[string]string{"productname": "VMware Virtual Platform"}, true},
		{map[string]string{"productname": "VMware7,1"}, true},
		{map[string]string{"virtual": "vmware", "is_virtual": "true"}, true},
		{map[string]string{"manufacturer": "QEMU", "productname": "Standard PC (Q35 + ICH9, 2009)", "virtual": "kvm"}, false},
		{nil, false},
	} {
		if got := IsVMware(tt.facts); got != tt.want {
			t.Errorf("IsVMware(%v) = %v, want %v", tt.facts, got, tt.want)
		}
	}
}

func TestBootReportFacts(t *testing.T) {
	r := &BootReport{
		Builtin:        Report{Failed: []Failure{{Name: "a.tcz", Err: ErrNotFound}, {Name: "b.tcz", Err: ErrScript}, {Name: "b.tcz", Err: ErrDependency}}},
		Mirror:         Report{Failed: []Failure{{Name: "c.tcz"}}},
		ModuleFailures: []Failure{{Name: "vmxnet"}},
	}
	want := map[string]string{FactFailed: "a.tcz,b.tcz,c.tcz", FactKmodFailed: "vmxnet",
		FactFailedWhy: "a.tcz: tce: extension not found; b.tcz: tce: install script failed; c.tcz: failed"}
	if diff := cmp.Diff(want, r.Facts()); diff != "" {
		t.Errorf("Facts() mismatch (-want +got):\n%s", diff)
	}
	if got := (&BootReport{}).Facts(); len(got) != 0 {
		t.Errorf("Facts() of a clean boot = %v, want none", got)
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"", "a.tcz\n# x\n- b\n", "[]", "a b c\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		names, _ := ParseList(data)
		seen := map[string]bool{}
		for _, n := range names {
			if c, err := tcz.CanonicalName(n); err != nil || c != n || seen[n] {
				t.Fatalf("ParseList(%q) gave %q (%v, seen %v)", data, n, err, seen[n])
			}
			seen[n] = true
		}
	})
}

func FuzzParseInstallList(f *testing.F) {
	for _, s := range []string{`["a.tcz"]`, "- x\n- y\n", "[]", "# c\n", `[1, 2]`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		names, err := parseInstallList(data)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || n != strings.TrimSpace(n) {
				t.Fatalf("parseInstallList(%q) gave %q", data, n)
			}
		}
	})
}
