package kmod

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/kmod/kmodtest"
)

func TestParseModinfo(t *testing.T) {
	tests := []struct {
		in   string
		want Info
	}{
		{"", Info{}},
		{"license=GPL\x00name=virtio_net\x00depends=virtio_ring,virtio,net_failover\x00alias=virtio:d00000001v*\x00vermagic=6.1.0 SMP\x00",
			Info{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"}, Aliases: []string{"virtio:d00000001v*"}, Vermagic: "6.1.0 SMP", License: "GPL"}},
		{"depends=\x00\x00\x00name=x\x00", Info{Name: "x"}},
		{"depends=crc-t10dif, scsi_mod\x00", Info{Depends: []string{"crc_t10dif", "scsi_mod"}}},
		{"firmware=bnx2/a.fw\x00firmware=bnx2/b.fw\x00", Info{Firmware: []string{"bnx2/a.fw", "bnx2/b.fw"}}},
		{"softdep=pre: crc32c post: x-y\x00softdep=pre: a\x00", Info{SoftdepPre: []string{"crc32c", "a"}, SoftdepPost: []string{"x_y"}}},
		{"softdep=post: z\x00", Info{SoftdepPost: []string{"z"}}},
		{"parm=a:b=c\x00", Info{}},
	}
	for _, tt := range tests {
		got, err := ParseModinfo([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseModinfo(%q) = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseModinfo(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{"noequals\x00", "=value\x00"} {
		if _, err := ParseModinfo([]byte(bad)); !errors.Is(err, ErrNotModule) {
			t.Errorf("ParseModinfo(%q) = %v, want ErrNotModule", bad, err)
		}
	}
}

func TestReadInfo(t *testing.T) {
	elf := kmodtest.ELF("name=e1000", "alias=pci:v00008086d0000100Esv*sd*bc*sc*i*", "depends=")
	got, err := ReadInfo(elf)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Name: "e1000", Aliases: []string{"pci:v00008086d0000100Esv*sd*bc*sc*i*"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadInfo mismatch (-want +got):\n%s", diff)
	}
	for name, data := range map[string][]byte{
		"not ELF":   []byte("hello world, not an ELF file at all"),
		"empty":     nil,
		"truncated": elf[:40],
	} {
		if _, err := ReadInfo(data); !errors.Is(err, ErrNotModule) {
			t.Errorf("ReadInfo(%s) = %v, want ErrNotModule", name, err)
		}
	}
}

// TestFixtureIsRealELF checks the generator against binutils: readelf must
// see the .modinfo strings.
func TestFixtureIsRealELF(t *testing.T) {
	readelf, err := exec.LookPath("readelf")
	if err != nil {
		t.Skip("readelf (binutils) not installed: cannot cross-check the ELF fixture")
	}
	p := filepath.Join(t.TempDir(), "x.ko")
	if err := os.WriteFile(p, kmodtest.ELF("name=x", "depends=y,z", "alias=pci:v*"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(readelf, "-W", "-p", ".modinfo", p).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, out)
	}
	for _, want := range []string{"name=x", "depends=y,z", "alias=pci:v*"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("readelf -p .modinfo = %q, want it to list %q", out, want)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ path, name, plain string }{
		{"kernel/drivers/net/virtio_net.ko", "virtio_net", "kernel/drivers/net/virtio_net.ko"},
		{"kernel/lib/crc-t10dif.ko.xz", "crc_t10dif", "kernel/lib/crc-t10dif.ko"},
		{"a/b.ko.zst", "b", "a/b.ko"},
		{"a/b.ko.gz", "b", "a/b.ko"},
	}
	for _, tt := range tests {
		if got := Name(tt.path); got != tt.name {
			t.Errorf("Name(%q) = %q, want %q", tt.path, got, tt.name)
		}
		if got := PlainPath(tt.path); got != tt.plain {
			t.Errorf("PlainPath(%q) = %q, want %q", tt.path, got, tt.plain)
		}
	}
	for _, p := range []string{"modules.dep", ".ko", "x.ko.bz2", "x.o"} {
		if IsModuleFile(p) {
			t.Errorf("IsModuleFile(%q) = true, want false", p)
		}
	}
}

// fixture is a small modules tree in the shape of Debian's: compressed and
// plain modules, dependencies, softdeps, firmware, an updates/ override,
// and broken modules.
func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("name=x\x00depends=a,b\x00alias=pci:v*\x00softdep=pre: a post: b\x00firmware=x.fw\x00"))
	f.Add([]byte("\x00\x00="))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseModinfo(data)
		if err != nil {
			if !errors.Is(err, ErrNotModule) {
				t.Fatalf("ParseModinfo(%q) = %v, not ErrNotModule", data, err)
			}
			return
		}
		for _, d := range in.Depends {
			if d == "" || strings.Contains(d, "-") {
				t.Fatalf("ParseModinfo(%q) gave dependency %q", data, d)
			}
		}
	})
}

func FuzzReadInfo(f *testing.F) {
	f.Add(kmodtest.ELF("name=x", "depends=a,b", "alias=pci:v*"))
	f.Add(kmodtest.ELF())
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ReadInfo(data); err != nil && !errors.Is(err, ErrNotModule) {
			t.Fatalf("ReadInfo = %v, not ErrNotModule", err)
		}
	})
}
