package kmod

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIndexRoundTrip(t *testing.T) {
	dep := []DepLine{
		{Path: "kernel/drivers/net/virtio_net.ko", Deps: []string{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"}},
		{Path: "kernel/drivers/virtio/virtio_ring.ko"},
	}
	got, err := ParseDep(bytes.NewReader(FormatDep(dep)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dep, got); diff != "" {
		t.Errorf("ParseDep(FormatDep) mismatch (-want +got):\n%s", diff)
	}
	aliases := []Alias{{Pattern: "pci:v00001AF4d*sv*sd*bc*sc*i*", Module: "virtio_pci"}, {Pattern: "virtio:d00000001v*", Module: "virtio_net"}}
	gotA, err := ParseAliases(bytes.NewReader(FormatAlias(aliases)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(aliases, gotA); diff != "" {
		t.Errorf("ParseAliases(FormatAlias) mismatch (-want +got):\n%s", diff)
	}
	soft := []Softdep{{Module: "crc_t10dif", Pre: []string{"crct10dif"}}, {Module: "x", Pre: []string{"a", "b"}, Post: []string{"c"}}}
	gotS, err := ParseSoftdep(bytes.NewReader(FormatSoftdep(append(soft, Softdep{Module: "none"}))))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(soft, gotS); diff != "" {
		t.Errorf("ParseSoftdep(FormatSoftdep) mismatch (-want +got):\n%s", diff)
	}
	b, err := ParseBuiltin(strings.NewReader("# c\nkernel/net/unix/unix.ko\n\nkernel/crypto/crc32c-generic.ko\n"))
	if err != nil || !cmp.Equal(b, []string{"unix", "crc32c_generic"}) {
		t.Errorf("ParseBuiltin = %q, %v", b, err)
	}
}

func TestIndexErrors(t *testing.T) {
	for _, tt := range []struct {
		index string
		parse func(string) error
		in    string
	}{
		{"dep", func(s string) error { _, err := ParseDep(strings.NewReader(s)); return err }, "a.ko b.ko\n"},
		{"dep", func(s string) error { _, err := ParseDep(strings.NewReader(s)); return err }, ": b.ko\n"},
		{"alias", func(s string) error { _, err := ParseAliases(strings.NewReader(s)); return err }, "alias x\n"},
		{"alias", func(s string) error { _, err := ParseAliases(strings.NewReader(s)); return err }, "options x y\n"},
		{"softdep", func(s string) error { _, err := ParseSoftdep(strings.NewReader(s)); return err }, "softdep\n"},
		{"softdep", func(s string) error { _, err := ParseSoftdep(strings.NewReader(s)); return err }, "softdep pre: a\n"},
	} {
		if err := tt.parse("# ok\n\n" + tt.in); !errors.Is(err, ErrBadIndex) || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("%s(%q) = %v, want ErrBadIndex naming line 3", tt.index, tt.in, err)
		}
	}
	long := strings.Repeat("x", maxIndexLine+1) + ".ko:\n"
	if _, err := ParseDep(strings.NewReader(long)); err == nil {
		t.Errorf("ParseDep(line over %d bytes) = nil, want an error", maxIndexLine)
	}
}

func FuzzParseDep(f *testing.F) {
	f.Add("kernel/a.ko: kernel/b.ko.xz kernel/c.ko\n# c\nkernel/b.ko.xz:\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := ParseDep(strings.NewReader(in))
		if err != nil {
			return
		}
		again, err := ParseDep(bytes.NewReader(FormatDep(lines)))
		if err != nil || !cmp.Equal(lines, again) {
			t.Errorf("ParseDep(FormatDep(ParseDep(%q))) = %v, %v; want %v", in, again, err, lines)
		}
	})
}

func FuzzParseSoftdep(f *testing.F) {
	f.Add("softdep crc_t10dif pre: crct10dif\nsoftdep x pre: a b post: c\n")
	f.Fuzz(func(t *testing.T, in string) {
		deps, err := ParseSoftdep(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, d := range deps {
			if d.Module == "" || strings.Contains(d.Module, "-") {
				t.Errorf("ParseSoftdep(%q) gave module %q", in, d.Module)
			}
		}
	})
}
