package deb

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/deb/debtest"
)

const control = `Package: hello
Version: 1:2.10-3
Architecture: amd64
Maintainer: Test <test@example.org>
Description: a test package
 with a continuation line
 .
 and another
`

var entries = []debtest.Entry{
	{Name: "./", Type: tar.TypeDir},
	{Name: "./usr/", Type: tar.TypeDir},
	{Name: "./usr/bin/", Type: tar.TypeDir},
	{Name: "./usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n")},
	{Name: "./usr/bin/hi", Type: tar.TypeSymlink, Link: "hello"},
	{Name: "./usr/bin/hello2", Type: tar.TypeLink, Link: "./usr/bin/hello"},
	{Name: "./usr/share/doc/hello/copyright", Data: []byte("GPL\n")},
}

func TestParseControl(t *testing.T) {
	c, err := ParseControl([]byte(control))
	if err != nil {
		t.Fatal(err)
	}
	want := Control{
		"Package": "hello", "Version": "1:2.10-3", "Architecture": "amd64", "Maintainer": "Test <test@example.org>",
		"Description": "a test package\nwith a continuation line\n.\nand another",
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("ParseControl mismatch (-want +got):\n%s", diff)
	}
	if c.Package() != "hello" || c.Version() != "1:2.10-3" || c.Architecture() != "amd64" {
		t.Errorf("accessors = %q %q %q", c.Package(), c.Version(), c.Architecture())
	}
	for _, bad := range []string{"", " continuation first\n", "no colon here\n", "Bad Key: x\n"} {
		if _, err := ParseControl([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseControl(%q) = %v, want ErrFormat", bad, err)
		}
	}
	// Only the first stanza counts.
	c, err = ParseControl([]byte("\n\nPackage: a\n\nPackage: b\n"))
	if err != nil || c.Package() != "a" {
		t.Errorf("ParseControl(two stanzas) = %v, %v; want Package a", c, err)
	}
}

func TestReadCompressions(t *testing.T) {
	for _, comp := range []string{"xz", "zst", "gz", ""} {
		t.Run("comp="+comp, func(t *testing.T) {
			data, err := debtest.Deb(control, entries, comp)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			ctl, err := Read(bytes.NewReader(data), func(name string, h *tar.Header, r io.Reader) error {
				b, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				got = append(got, name+" "+string(h.Typeflag)+" "+h.Linkname+" "+string(b))
				return nil
			})
			if err != nil {
				t.Fatalf("Read = %v", err)
			}
			if ctl.Package() != "hello" {
				t.Errorf("Read control Package = %q, want hello", ctl.Package())
			}
			want := []string{
				"usr 5  ", "usr/bin 5  ", "usr/bin/hello 0  #!/bin/sh\necho hello\n", "usr/bin/hi 2 hello ",
				"usr/bin/hello2 1 ./usr/bin/hello ", "usr/share/doc/hello/copyright 0  GPL\n",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Read entries mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	data, err := debtest.Deb(control, entries, "xz")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Extract(bytes.NewReader(data), dir, func(n string) bool { return !strings.HasPrefix(n, "usr/share") }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "usr/bin/hello2"))
	if err != nil || string(b) != "#!/bin/sh\necho hello\n" {
		t.Errorf("hard link content = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "usr/bin/hello")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/hello mode = %v, %v; want 0755", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "usr/bin/hi")); err != nil || l != "hello" {
		t.Errorf("usr/bin/hi link = %q, %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "usr/share")); !os.IsNotExist(err) {
		t.Errorf("usr/share extracted despite the filter: %v", err)
	}
}

func TestExtractConfined(t *testing.T) {
	outside := t.TempDir()
	evil := []debtest.Entry{
		{Name: "./../../escape", Data: []byte("x")}, // cleaned to the root: stays inside
		{Name: "./link", Type: tar.TypeSymlink, Link: outside},
		{Name: "./link/pwned", Data: []byte("x")}, // through the symlink: refused
	}
	data, err := debtest.Deb(control, evil, "gz")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Extract(bytes.NewReader(data), dir, nil)
	if err == nil {
		t.Errorf("Extract through an escaping symlink = nil error, want a refusal")
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Errorf("Extract wrote outside its directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err != nil {
		t.Errorf("../../escape was not kept inside as escape: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	good, err := debtest.Deb(control, entries, "gz")
	if err != nil {
		t.Fatal(err)
	}
	ctlOnly := debtest.Ar([]debtest.Member{{Name: "debian-binary", Data: []byte("2.0\n")}})
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"not ar", []byte("PK\x03\x04 this is a zip"), ErrFormat},
		{"truncated", good[:len(good)/2], ErrFormat},
		{"bad size", []byte("!<arch>\ndebian-binary   0           0     0     100644  12x4      `\n"), ErrFormat},
		{"bad terminator", []byte("!<arch>\ndebian-binary   0           0     0     100644  4         XX2.0\n"), ErrFormat},
		{"no control", ctlOnly, ErrNoMember},
		{"bad version", debtest.Ar([]debtest.Member{{Name: "debian-binary", Data: []byte("3.0\n")}}), ErrFormat},
		{"data before control", debtest.Ar([]debtest.Member{{Name: "debian-binary", Data: []byte("2.0\n")}, {Name: "data.tar", Data: nil}}), ErrFormat},
		{"unknown compression", debtest.Ar([]debtest.Member{{Name: "debian-binary", Data: []byte("2.0\n")}, {Name: "control.tar.lzo", Data: []byte("x")}}), ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("Read(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

// TestDpkgDebInterop reads a package built by dpkg-deb, the reference
// implementation, when it is installed.
func TestDpkgDebInterop(t *testing.T) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Skip("dpkg-deb not installed: cannot cross-check against dpkg")
	}
	for _, comp := range []string{"xz", "zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range map[string]string{"DEBIAN/control": control, "usr/bin/tool": "binary\n", "etc/tool.conf": "x=1\n"} {
				os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
				os.WriteFile(filepath.Join(root, p), []byte(c), 0o644)
			}
			out := filepath.Join(t.TempDir(), "tool.deb")
			if b, err := exec.Command(dpkgDeb, "--root-owner-group", "-Z"+comp, "--build", root, out).CombinedOutput(); err != nil {
				if strings.Contains(string(b), "unknown compression") || strings.Contains(string(b), "unknown") {
					t.Skipf("dpkg-deb cannot write %s: %s", comp, b)
				}
				t.Fatalf("dpkg-deb: %v\n%s", err, b)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dir := t.TempDir()
			ctl, err := Extract(f, dir, nil)
			if err != nil {
				t.Fatalf("Extract(dpkg-deb -Z%s output) = %v", comp, err)
			}
			if ctl.Package() != "hello" {
				t.Errorf("Package = %q", ctl.Package())
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "usr/bin/tool")); string(b) != "binary\n" {
				t.Errorf("usr/bin/tool = %q", b)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, comp := range []string{"xz", "zst", "gz", ""} {
		data, err := debtest.Deb(control, entries, comp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_, err := Read(bytes.NewReader(data), func(name string, h *tar.Header, r io.Reader) error {
			if strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
				t.Fatalf("Read gave unsafe name %q", name)
			}
			n++
			_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			return err
		})
		_ = err
	})
}

func FuzzArReader(f *testing.F) {
	f.Add(debtest.Ar([]debtest.Member{{Name: "a", Data: []byte("x")}, {Name: "bb/", Data: []byte("yy")}}))
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ar := NewArReader(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			h, err := ar.Next()
			if err != nil {
				return
			}
			if h.Size < 0 || h.Name == "" {
				t.Fatalf("Next() = %+v", h)
			}
			if _, err := io.Copy(io.Discard, io.LimitReader(ar, 1<<20)); err != nil {
				return
			}
		}
	})
}
