package local

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMirror(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "tinycorelinux")
	tcz := filepath.Join(dir, "14.x", "x86_64", "tcz")
	writeFile(t, filepath.Join(tcz, "open-vm-tools.tcz"), "squashfs image")
	writeFile(t, filepath.Join(tcz, "open-vm-tools.tcz.dep"), "glib2.tcz\n")
	writeFile(t, filepath.Join(tcz, "open-vm-tools.tcz.md5.txt"), "d41d8cd98f00b204e9800998ecf8427e  open-vm-tools.tcz\n")
	writeFile(t, filepath.Join(base, "secret"), "outside")
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(tcz, "evil.tcz")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../secret", filepath.Join(tcz, "evil2.tcz")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("open-vm-tools.tcz", filepath.Join(tcz, "alias.tcz")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tce-install-list.yaml"), "---\n- open-vm-tools.tcz\n")
	writeFile(t, filepath.Join(dir, KmodInstallList), "# VMware guest modules\ndrivers/misc/vmci.ko\n\nvmxnet.ko\n")

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/tinycorelinux/14.x/x86_64/tcz/open-vm-tools.tcz", 200, "squashfs image"},
		{"/tinycorelinux/14.x/x86_64/tcz/open-vm-tools.tcz.dep", 200, "glib2.tcz\n"},
		{"/tinycorelinux/14.x/x86_64/tcz/alias.tcz", 200, "squashfs image"},
		{"/tinycorelinux/tce-install-list", 200, "[\n  \"open-vm-tools.tcz\"\n]\n"},
		{"/tinycorelinux/kmod-install-list", 200, "[\n  \"drivers/misc/vmci.ko\",\n  \"vmxnet.ko\"\n]\n"},
		{"/tinycorelinux/14.x/x86_64/tcz/missing.tcz", 404, ""},
		{"/tinycorelinux/14.x/x86_64/tcz/evil.tcz", 404, ""},
		{"/tinycorelinux/14.x/x86_64/tcz/evil2.tcz", 404, ""},
		{"/tinycorelinux/14.x/x86_64/tcz", 404, ""},
		{"/tinycorelinux/14.x/x86_64/other/x", 404, ""},
		{"/tinycorelinux/../secret", 404, ""},
		{"/tinycorelinux/14.x/x86_64/tcz/%2e%2e", 404, ""},
		{"/tinycorelinux/tce-install-list.yaml", 404, ""},
		{"/secret", 404, ""},
	}
	h := NewMirrorHandler(dir, nil)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code/100 == 3 {
				// ServeMux cleans ".." paths by redirecting; follow once.
				loc := rec.Header().Get("Location")
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", loc, nil))
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d (%s)", tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("GET %s = %q, want %q", tt.path, rec.Body, tt.wantBody)
			}
			if strings.Contains(rec.Body.String(), "outside") {
				t.Errorf("GET %s leaked a file outside the mirror", tt.path)
			}
		})
	}
	// Range requests work, as ServeContent does them.
	req := httptest.NewRequest("GET", "/tinycorelinux/14.x/x86_64/tcz/open-vm-tools.tcz", nil)
	req.Header.Set("Range", "bytes=0-7")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusPartialContent || rec.Body.String() != "squashfs" {
		t.Errorf("GET with Range = %d %q, want 206 squashfs", rec.Code, rec.Body)
	}
}

func TestMirrorMissingDirAndBadList(t *testing.T) {
	h := NewMirrorHandler(filepath.Join(t.TempDir(), "none"), nil)
	for path, want := range map[string]int{
		"/tinycorelinux/tce-install-list":      200,
		"/tinycorelinux/14.x/x86_64/tcz/a.tcz": 404,
		"/tinycorelinux/kmod-install-list":     200,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s without a mirror dir = %d, want %d", path, rec.Code, want)
		}
		if want == 200 && rec.Body.String() != "[]\n" {
			t.Errorf("GET %s without a mirror dir = %q, want []", path, rec.Body)
		}
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, TCEInstallList), "- ok.tcz\n- /etc/passwd\n")
	rec := httptest.NewRecorder()
	NewMirrorHandler(dir, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/tinycorelinux/tce-install-list", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "/etc/passwd") {
		t.Errorf("GET a bad install list = %d %s, want 500 naming the entry", rec.Code, rec.Body)
	}
}

func TestParseInstallList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "original yaml", in: "--- \n- open_vm_tools.tcz\n", want: []string{"open_vm_tools.tcz"}},
		{name: "hanlon kmods", in: "- drivers/misc/vmci.ko\n- net/vsock/vsock.ko\n", want: []string{"drivers/misc/vmci.ko", "net/vsock/vsock.ko"}},
		{name: "json", in: `["a.tcz","b.tcz"]`, want: []string{"a.tcz", "b.tcz"}},
		{name: "flow yaml", in: "[a.tcz, b.tcz]", want: []string{"a.tcz", "b.tcz"}},
		{name: "lines", in: "a.tcz\nb.tcz\n", want: []string{"a.tcz", "b.tcz"}},
		{name: "lines with comments and CRLF", in: "# list\r\na.tcz\r\n\r\n  b.tcz  \r\n", want: []string{"a.tcz", "b.tcz"}},
		{name: "single line", in: "a.tcz", want: []string{"a.tcz"}},
		{name: "empty", in: "", want: []string{}},
		{name: "empty yaml list", in: "[]", want: []string{}},
		{name: "number name", in: "- 8021q\n- 42\n", want: []string{"8021q", "42"}},
		{name: "map entry", in: "- name: a.tcz\n", wantErr: true},
		{name: "absolute", in: "- /etc/passwd\n", wantErr: true},
		{name: "dotdot", in: "../x.tcz\n", wantErr: true},
		{name: "space in name", in: "a.tcz b.tcz\n", wantErr: true},
		{name: "yaml map", in: "a: b\n", wantErr: true},
		{name: "control char", in: "a\x01.tcz\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInstallList([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrBadInstallList) {
					t.Fatalf("ParseInstallList(%q) = %v, %v; want ErrBadInstallList", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInstallList(%q) = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseInstallList(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if _, err := ParseInstallList([]byte(strings.Repeat("a\n", MaxInstallList))); !errors.Is(err, ErrBadInstallList) {
		t.Errorf("ParseInstallList(huge) = %v, want ErrBadInstallList", err)
	}
}

func FuzzParseInstallList(f *testing.F) {
	f.Add([]byte("--- \n- open_vm_tools.tcz\n"))
	f.Add([]byte("# c\na.tcz\nb/c.ko\n"))
	f.Add([]byte(`["a", 1, 2.5, null]`))
	f.Add([]byte("- [a]\n- {b: c}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseInstallList(data)
		if err != nil {
			if !errors.Is(err, ErrBadInstallList) {
				t.Fatalf("error %v does not wrap ErrBadInstallList", err)
			}
			return
		}
		for _, n := range list {
			if n == "" || strings.HasPrefix(n, "/") || strings.Contains(n, "..") && strings.Contains("/"+n+"/", "/../") ||
				strings.ContainsAny(n, " \t\r\n\x00") {
				t.Fatalf("accepted bad name %q", n)
			}
		}
	})
}
