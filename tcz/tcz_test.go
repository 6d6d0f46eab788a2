package tcz

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMD5(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, data, want, err string
	}{
		{"md5sum output", sum + "  bash.tcz\n", sum, ""},
		{"no final newline", sum + "  bash.tcz", sum, ""},
		{"upper case", strings.ToUpper(sum) + "  bash.tcz\n", sum, ""},
		{"binary mode", sum + " *bash.tcz\n", sum, ""},
		{"digest only", sum + "\n", sum, ""},
		{"trailing blank line", sum + "  bash.tcz\n\n", sum, ""},
		{"empty", "", "", "empty"},
		{"short digest", "0123  bash.tcz\n", "", "not an md5 digest"},
		{"not hex", strings.Repeat("z", 32) + "  bash.tcz\n", "", "not an md5 digest"},
		{"other file", sum + "  zsh.tcz\n", "", `names "zsh.tcz", want "bash.tcz"`},
		{"two lines", sum + "  bash.tcz\n" + sum + "  bash.tcz\n", "", "more than one line"},
		{"extra fields", sum + "  bash.tcz x\n", "", "want"},
		{"huge", strings.Repeat("a", MaxMD5File+1), "", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMD5([]byte(tt.data), "bash.tcz")
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrBadSidecar) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseMD5(%q) = %q, %v; want error containing %q", tt.data, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMD5(%q) = %q, %v; want %q", tt.data, got, err, tt.want)
			}
		})
	}
}

func TestParseDep(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
		err        string
	}{
		{"empty file", "", nil, ""},
		{"one", "glib2.tcz\n", []string{"glib2.tcz"}, ""},
		{"no final newline", "a.tcz\nb.tcz", []string{"a.tcz", "b.tcz"}, ""},
		{"blank and white lines", "\n  a.tcz \t\n\n\t\nb.tcz\n", []string{"a.tcz", "b.tcz"}, ""},
		{"crlf", "a.tcz\r\nb.tcz\r\n", []string{"a.tcz", "b.tcz"}, ""},
		{"kernel placeholder kept", "scsi-KERNEL.tcz\n", []string{"scsi-KERNEL.tcz"}, ""},
		{"without suffix", "ncurses.tcz\nncurses\n", nil, "line 2: \"ncurses\" has no .tcz"},
		{"duplicates once", "a.tcz\na.tcz\n a.tcz\n", []string{"a.tcz"}, ""},
		{"split on blanks as tce-load does", "lib.tcz x.tcz\n", []string{"lib.tcz", "x.tcz"}, ""},
		{"real quirks: a line of blanks, trailing blank lines", "libattr.tcz\n \n\n\n", []string{"libattr.tcz"}, ""},
		{"slash", "../etc.tcz\n", nil, "line 1"},
		{"control character", "a.tcz\nb\x01.tcz\n", nil, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDep([]byte(tt.data))
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrBadSidecar) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseDep(%q) = %q, %v; want error containing %q", tt.data, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDep(%q) = %v", tt.data, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDep(%q) mismatch (-want +got):\n%s", tt.data, diff)
			}
		})
	}
}

func TestCanonicalNameAndKernel(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"bash.tcz", "bash.tcz", ""},
		{" bash ", "bash.tcz", ""},
		{"gtk+-2.tcz", "gtk+-2.tcz", ""},
		{"scsi-KERNEL.tcz", "scsi-KERNEL.tcz", ""},
		{"", "", "bad extension name"},
		{".tcz", "", "bad extension name"},
		{"-x.tcz", "", "bad extension name"},
		{"a/b.tcz", "", "bad extension name"},
		{"a b.tcz", "", "bad extension name"},
		{strings.Repeat("a", MaxNameLen), "", "bad extension name"},
	}
	for _, tt := range tests {
		got, err := CanonicalName(tt.in)
		if tt.err != "" {
			if !errors.Is(err, ErrBadName) {
				t.Errorf("CanonicalName(%q) = %q, %v; want ErrBadName", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got := WithKernel("scsi-KERNEL.tcz", "6.6.8-tinycore64"); got != "scsi-6.6.8-tinycore64.tcz" {
		t.Errorf("WithKernel = %q", got)
	}
	if got := WithKernel("KERNEL.tcz", "6.6.8"); got != "KERNEL.tcz" {
		t.Errorf("WithKernel(KERNEL.tcz) = %q, want it unchanged (no -KERNEL suffix)", got)
	}
}

func FuzzParseDep(f *testing.F) {
	for _, s := range []string{"", "a.tcz\n", "a\n\n b.tcz\t\n", "scsi-KERNEL.tcz", "../x\n", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		deps, err := ParseDep(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range deps {
			if c, err := CanonicalName(d); err != nil || c != d {
				t.Fatalf("ParseDep(%q) gave %q, not canonical (%v)", data, d, err)
			}
			if seen[d] {
				t.Fatalf("ParseDep(%q) gave %q twice", data, d)
			}
			seen[d] = true
		}
	})
}

func FuzzParseMD5(f *testing.F) {
	for _, s := range []string{"0123456789abcdef0123456789abcdef  x.tcz\n", "", "zz", "0123456789ABCDEF0123456789ABCDEF *x.tcz"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sum, err := ParseMD5(data, "x.tcz")
		if err != nil {
			return
		}
		if len(sum) != 32 || strings.ToLower(sum) != sum {
			t.Fatalf("ParseMD5(%q) = %q, not 32 lower-case hex digits", data, sum)
		}
	})
}
