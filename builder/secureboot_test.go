package builder

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/manifest"
)

func TestBuildSecureBoot(t *testing.T) {
	dir := fixture(t)
	s := writeSpec(t, dir, "prod", "")
	out := filepath.Join(dir, "out")
	m, err := build(t, s, fakeAgent(t, ""), out, 0)
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	var got []string
	for _, l := range m.Loaders {
		data, err := os.ReadFile(filepath.Join(out, l.Path))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Role+" "+l.Path+" "+string(data))
	}
	want := []string{"shim shimx64.efi MZ signed shim-signed", "grub grubx64.efi MZ signed grub-efi-amd64-signed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaders mismatch (-want +got):\n%s", diff)
	}
	if err := m.Verify(out); err != nil {
		t.Errorf("Verify = %v", err)
	}
	// tg3 is the fixture's only unsigned module; the compressed ones
	// (virtio_net .xz, failover .zst, virtio_ring .gz) keep their
	// signature through decompression.
	if diff := cmp.Diff([]string{"tg3"}, m.UnsignedModules); diff != "" {
		t.Errorf("UnsignedModules mismatch (-want +got):\n%s", diff)
	}
	a, err := initramfs.ReadFile(filepath.Join(out, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"virtio_net", "failover", "virtio_ring", "virtio"} {
		var found bool
		for _, r := range a.Records() {
			if r.Type == initramfs.TypeFile && strings.HasSuffix(r.Name, "/"+name+".ko") {
				found = true
				rc, _ := r.Open()
				data, _ := kmod.Decompress(rc)
				rc.Close()
				if !kmod.Signed(data) {
					t.Errorf("%s in the initrd lost its signature", r.Name)
				}
			}
		}
		if !found {
			t.Errorf("initrd has no %s.ko", name)
		}
	}
	// The fixture's kernel is no PE image: the build says GRUB will refuse it.
	if !slices.ContainsFunc(m.Notes, func(n string) bool { return strings.HasPrefix(n, "secure boot: the kernel is not a PE image") }) {
		t.Errorf("Notes = %q, want the unsigned kernel noted", m.Notes)
	}
	line, warn := SecureBootSummary(m)
	if wantLine := "shim 16.1 + grub 2.06 (signed), 1 module UNSIGNED (a kernel in lockdown refuses them; see unsigned_modules), kernel UNSIGNED"; line != wantLine || !warn {
		t.Errorf("SecureBootSummary = %q, %v; want %q, true", line, warn, wantLine)
	}

	// Rebuilt with secure_boot off, into the same directory: no loaders,
	// and the old files are gone.
	s = writeSpec(t, dir, "prod", "")
	off := false
	s.Debian.SecureBoot, s.Debian.ShimDeb, s.Debian.GRUBDeb = &off, "", ""
	m, err = build(t, s, fakeAgent(t, ""), out, 0)
	if err != nil {
		t.Fatalf("Build (secure_boot off) = %v", err)
	}
	if len(m.Loaders) != 0 {
		t.Errorf("Loaders = %+v, want none", m.Loaders)
	}
	for _, n := range []string{"shimx64.efi", "grubx64.efi"} {
		if _, err := os.Stat(filepath.Join(out, n)); err == nil {
			t.Errorf("%s left in the output directory", n)
		}
	}
	if line, warn := SecureBootSummary(m); !warn || !strings.HasPrefix(line, "no signed loaders") {
		t.Errorf("SecureBootSummary (off) = %q, %v", line, warn)
	}
}

func TestSecureBootSummary(t *testing.T) {
	m := &manifest.Manifest{
		Arch:    "amd64",
		Modules: []string{"a", "b", "c"},
		Loaders: []manifest.Loader{{Role: manifest.LoaderShim}, {Role: manifest.LoaderGRUB}},
		Sources: []manifest.Source{
			{Kind: "deb", Name: "shim-signed", Version: "1.51~1+deb12u1+16.1-2~deb12u1"},
			{Kind: "deb", Name: "grub-efi-amd64-signed", Version: "1+2.06+13+deb12u2"},
		},
	}
	if line, warn := SecureBootSummary(m); line != "shim 16.1 + grub 2.06 (signed), 3 modules all signed" || warn {
		t.Errorf("SecureBootSummary = %q, %v", line, warn)
	}
	for v, want := range map[string]string{
		"1.51~1+deb12u1+16.1-2~deb12u1": "16.1",
		"1+2.06+13+deb12u2":             "2.06",
		"1.44+15.8-1~deb12u1":           "15.8",
		"weird":                         "weird",
	} {
		if got := upstreamVersion(v); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestPESigned(t *testing.T) {
	dir := t.TempDir()
	// A minimal PE32+ header: DOS stub pointing at "PE\0\0", a COFF header
	// and an optional header with 16 data directories.
	pe := func(certSize uint32) []byte {
		b := make([]byte, 0x40)
		copy(b, "MZ")
		b[0x3c] = 0x40
		b = append(b, "PE\x00\x00"...)
		coff := make([]byte, 20)
		coff[0], coff[1] = 0x64, 0x86 // AMD64
		coff[16] = 112 + 16*8         // SizeOfOptionalHeader
		b = append(b, coff...)
		opt := make([]byte, 112+16*8)
		opt[0], opt[1] = 0x0b, 0x02 // PE32+
		opt[108] = 16               // NumberOfRvaAndSizes
		off := 112 + 4*8 + 4        // data directory 4, its size
		opt[off] = byte(certSize)
		b = append(b, opt...)
		return append(b, bytes.Repeat([]byte{0}, 64)...)
	}
	for _, tt := range []struct {
		name string
		data []byte
		want bool
	}{
		{"signed", pe(0x80), true},
		{"unsigned", pe(0), false},
	} {
		p := filepath.Join(dir, tt.name)
		os.WriteFile(p, tt.data, 0o644)
		got, err := peSigned(p)
		if err != nil || got != tt.want {
			t.Errorf("peSigned(%s) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	p := filepath.Join(dir, "text")
	os.WriteFile(p, []byte("not a PE"), 0o644)
	if _, err := peSigned(p); err == nil {
		t.Errorf("peSigned(text) = nil error")
	}
}
