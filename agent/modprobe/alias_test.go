package modprobe

import (
	"errors"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/kmod"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", true},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", false},
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", true},
		{"virtio:d00000001v*", "virtio:d00000001v00001AF4", true},
		{"virtio:d00000001v*", "virtio:d00000010v00001AF4", false},
		{"fs-squashfs", "fs-squashfs", true},
		{"fs-squashfs", "fs-squashfsx", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a*", "a/b/c", true}, // fnmatch without FNM_PATHNAME: '*' crosses '/'
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*x*", "abxcd", true},
		{"[abc]x", "bx", true},
		{"[abc]x", "dx", false},
		{"[!abc]x", "dx", true},
		{"[^abc]x", "ax", false},
		{"[0-9A-F]", "C", true},
		{"[0-9A-F]", "c", false},
		{"[]a]", "]", true},
		{"[]a]", "a", true},
		{"[a-]", "-", true},
		{"[", "[", true},
		{"[ab", "[ab", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\`, `a\`, true},
		{"pci:v00008086d000010[0-9A-F][!0-8]sv*", "pci:v00008086d0000100Esv00001AF4", true},
		{"pci:v00008086d000010[0-9A-F][!0-8]sv*", "pci:v00008086d00001008sv00001AF4", false},
		{"block-major-7-*", "block-major-7-0", true},
		{"cpu:type:x86,ven*fam*mod*:feature:*0093*", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0093,00C0", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.s, func(t *testing.T) {
			if got := Match(tt.pattern, tt.s); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func readAliases(t *testing.T) []Alias {
	t.Helper()
	f, err := os.Open("testdata/lib/modules.alias")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ParseAliases(f)
	if err != nil {
		t.Fatalf("ParseAliases(fixture) = %v", err)
	}
	return a
}

func TestLookup(t *testing.T) {
	aliases := readAliases(t)
	tests := []struct {
		modalias string
		want     []string
	}{
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", []string{"virtio_pci"}},
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"virtio:d00000002v00001AF4", []string{"virtio_blk"}},
		{"virtio:d00000004v00001AF4", []string{"virtio_rng"}},
		{"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", []string{"e1000"}},
		{"pci:v00008086d00001237sv00001AF4sd00001100bc06sc00i00", nil},
		{"fs-squashfs", []string{"squashfs"}},
		{"block-major-7-3", []string{"loop"}},
		{"acpi:PNP0A03:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.modalias, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Lookup(aliases, tt.modalias)); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.modalias, diff)
			}
		})
	}
}

func TestParseAliasesErrors(t *testing.T) {
	for _, in := range []string{
		"alias pci:v* \n",
		"options foo bar=1\n",
		"alias a b c\n",
		"\n\nalias\n",
	} {
		if _, err := ParseAliases(strings.NewReader(in)); !errors.Is(err, kmod.ErrBadIndex) {
			t.Errorf("ParseAliases(%q) error = %v, want kmod.ErrBadIndex", in, err)
		}
	}
	got, err := ParseAliases(strings.NewReader("# c\n\nalias x-y mod-name\n"))
	if err != nil {
		t.Fatalf("ParseAliases = %v", err)
	}
	if len(got) != 1 || got[0].Module != "mod_name" || got[0].Pattern != "x-y" {
		t.Errorf("ParseAliases = %+v, want one alias x-y -> mod_name", got)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	f.Add("a*b?c", "axxbyc")
	f.Add("*[!a-c]*", "xyz")
	f.Add(`[\]]`, "]")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := Match(pattern, s)
		// Without classes and escapes, and without '/', fnmatch and
		// path.Match agree.
		if strings.ContainsAny(pattern+s, `[\/`) {
			return
		}
		want, err := path.Match(pattern, s)
		if err == nil && got != want {
			t.Errorf("Match(%q, %q) = %v, path.Match says %v", pattern, s, got, want)
		}
	})
}

func FuzzParseAliases(f *testing.F) {
	b, _ := os.ReadFile("testdata/lib/modules.alias")
	f.Add(string(b))
	f.Add("alias a b\nalias\n")
	f.Fuzz(func(t *testing.T, in string) {
		aliases, err := ParseAliases(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, a := range aliases {
			if a.Pattern == "" || a.Module == "" {
				t.Errorf("ParseAliases(%q) gave empty field in %+v", in, a)
			}
			Lookup(aliases, a.Pattern)
		}
	})
}
