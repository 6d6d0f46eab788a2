package tinycore

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/builder/base"
	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
	"github.com/razor-mk/razor-mk/initramfs"
)

var fixture struct {
	once sync.Once
	f    *tctest.Fixture
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// mirrorFixture generates the fixture mirror once per test run.
func mirrorFixture(t *testing.T) *tctest.Fixture {
	t.Helper()
	if err := tctest.Require(); err != nil {
		t.Skip(err)
	}
	fixture.once.Do(func() {
		fixture.dir, fixture.err = os.MkdirTemp("", "tinycore-fixture-*")
		if fixture.err == nil {
			fixture.f, fixture.err = tctest.Generate(fixture.dir, tctest.Options{})
		}
	})
	if fixture.err != nil {
		t.Fatalf("generating the fixture mirror: %v", fixture.err)
	}
	return fixture.f
}

// server serves a mirror directory, counting requests and failing some.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	fails map[string]int // path → how many more 500s to answer
}

func serve(t *testing.T, dir string) *server {
	s := &server{hits: map[string]int{}, fails: map[string]int{}}
	files := http.FileServer(http.Dir(dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		fail := s.fails[r.URL.Path] > 0
		if fail {
			s.fails[r.URL.Path]--
		}
		s.mu.Unlock()
		if fail {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func testEnv(t *testing.T) base.Env {
	return base.Env{CacheDir: t.TempDir(), Arch: "amd64", Logger: slog.New(slog.DiscardHandler), Progress: base.Discard}
}

func TestRepoResolveOverHTTP(t *testing.T) {
	f := mirrorFixture(t)
	srv := serve(t, f.Dir)
	cache := t.TempDir()
	repo := newRepo(&mirror{Location: srv.URL + "/", CacheDir: cache}, f.Major, f.Build)
	ctx := context.Background()
	exts, err := repo.Resolve(ctx, []string{"vmtools.tcz", "disk"}, f.KernelVersion, nil)
	if err != nil {
		t.Fatalf("Resolve = %v", err)
	}
	var names []string
	for _, e := range exts {
		names = append(names, e.Name)
		data, err := os.ReadFile(e.Blob.Path)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(f.TCZDir(), e.Name))
		if string(data) != string(want) {
			t.Errorf("%s: cached content differs from the mirror's", e.Name)
		}
		if !strings.HasPrefix(e.Blob.Path, cache) {
			t.Errorf("%s: blob at %s, want it in the cache %s", e.Name, e.Blob.Path, cache)
		}
	}
	want := []string{"marker-bin.tcz", "vmlib.tcz", "vmtools.tcz", "scsi-" + f.KernelVersion + ".tcz", "disk.tcz"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Resolve order mismatch (-want +got):\n%s", diff)
	}
	if exts[2].Version != "12.3.5" || exts[2].Info == nil || exts[2].List == nil || string(exts[2].Dep) != "marker-bin.tcz\nvmlib.tcz\n" {
		t.Errorf("vmtools.tcz sidecars: version %q, info %d bytes, list %d bytes, dep %q", exts[2].Version, len(exts[2].Info), len(exts[2].List), exts[2].Dep)
	}
	tczPath := "/" + repo.TCZ("vmtools.tcz")
	if n := srv.count(tczPath); n != 1 {
		t.Errorf("first build fetched %s %d times, want 1", tczPath, n)
	}

	// A second build (a new Repo, the same cache) downloads no .tcz.
	repo2 := newRepo(&mirror{Location: srv.URL, CacheDir: cache}, f.Major, f.Build)
	exts2, err := repo2.Resolve(ctx, []string{"vmtools.tcz"}, f.KernelVersion, nil)
	if err != nil {
		t.Fatalf("second Resolve = %v", err)
	}
	for _, e := range exts2 {
		if !e.Blob.Cached {
			t.Errorf("second build: %s not taken from the cache", e.Name)
		}
	}
	if n := srv.count(tczPath); n != 1 {
		t.Errorf("after the second build %s was fetched %d times, want 1 (cached)", tczPath, n)
	}

	// A damaged cache entry is noticed and fetched again.
	if err := os.WriteFile(exts2[2].Blob.Path, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo3 := newRepo(&mirror{Location: srv.URL, CacheDir: cache}, f.Major, f.Build)
	e, err := repo3.Fetch(ctx, "vmtools.tcz")
	if err != nil {
		t.Fatalf("Fetch after damage = %v", err)
	}
	if e.Blob.Cached || srv.count(tczPath) != 2 {
		t.Errorf("damaged cache entry: cached=%v, fetched %d times; want a new download", e.Blob.Cached, srv.count(tczPath))
	}
}

func TestRepoErrors(t *testing.T) {
	f := mirrorFixture(t)
	srv := serve(t, f.Dir)
	ctx := context.Background()
	for _, loc := range []struct{ name, location string }{{"http", srv.URL}, {"directory", f.Dir}} {
		t.Run(loc.name, func(t *testing.T) {
			cache := t.TempDir()
			repo := newRepo(&mirror{Location: loc.location, CacheDir: cache}, f.Major, f.Build)
			tests := []struct {
				roots []string
				is    error
				msg   string
			}{
				{[]string{"badsum.tcz"}, ErrChecksum, "badsum.tcz has md5"},
				{[]string{"cyc-a.tcz"}, ErrCycle, "cyc-a.tcz → cyc-b.tcz → cyc-c.tcz → cyc-a.tcz"},
				{[]string{"needs-missing.tcz"}, ErrUnknownExtension, "nothere.tcz (no "},
				{[]string{"nothere.tcz"}, ErrUnknownExtension, "unknown extension: nothere.tcz"},
			}
			for _, tt := range tests {
				_, err := repo.Resolve(ctx, tt.roots, f.KernelVersion, nil)
				if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("Resolve(%v) = %v; want %v containing %q", tt.roots, err, tt.is, tt.msg)
				}
			}
			// The bad download is not kept.
			blobs, _ := filepath.Glob(filepath.Join(cache, "tinycore", "sha256", "*"))
			if len(blobs) != 0 {
				t.Errorf("cache holds %d blobs after failed fetches, want 0", len(blobs))
			}
		})
	}
}

func TestMirrorRetriesAndConfinement(t *testing.T) {
	f := mirrorFixture(t)
	srv := serve(t, f.Dir)
	repo := newRepo(&mirror{Location: srv.URL}, f.Major, f.Build)
	p := "/" + repo.TCZ("hello.tcz.md5.txt")
	srv.mu.Lock()
	srv.fails[p] = 1
	srv.mu.Unlock()
	if _, err := repo.MD5(context.Background(), "hello.tcz"); err != nil {
		t.Fatalf("MD5 after one 503 = %v, want a retry to succeed", err)
	}
	if n := srv.count(p); n != 2 {
		t.Errorf("%s requested %d times, want 2", p, n)
	}
	// A directory mirror serves nothing outside itself.
	outside := filepath.Join(filepath.Dir(f.Dir), "outside-secret")
	os.WriteFile(outside, []byte("secret"), 0o644)
	defer os.Remove(outside)
	os.Symlink(outside, filepath.Join(f.TCZDir(), "escape.tcz.md5.txt"))
	defer os.Remove(filepath.Join(f.TCZDir(), "escape.tcz.md5.txt"))
	m := &mirror{Location: f.Dir}
	for _, rel := range []string{"../outside-secret", f.Repo + "/tcz/escape.tcz.md5.txt", "/etc/passwd"} {
		if data, err := m.Get(context.Background(), rel, 100); err == nil {
			t.Errorf("Get(%q) = %q, want an error (outside the mirror)", rel, data)
		}
	}
}

func TestOpenRelease(t *testing.T) {
	f := mirrorFixture(t)
	srv := serve(t, f.Dir)
	ctx := context.Background()
	repo := newRepo(&mirror{Location: srv.URL, CacheDir: t.TempDir()}, f.Major, f.Build)
	kernel, initrds := releaseFiles(f.Build)
	rel, err := openRelease(ctx, repo, kernel, initrds, "")
	if err != nil {
		t.Fatalf("OpenRelease = %v", err)
	}
	if rel.Version != f.Version || rel.KernelVersion != f.KernelVersion {
		t.Errorf("OpenRelease: version %q kernel %q, want %q %q", rel.Version, rel.KernelVersion, f.Version, f.KernelVersion)
	}
	checks := []struct {
		name string
		want initramfs.Record
	}{
		{"dev/console", initramfs.Record{Type: initramfs.TypeCharDevice, Perm: 0o600, Major: 5, Minor: 1}},
		{"dev/sda", initramfs.Record{Type: initramfs.TypeBlockDevice, Perm: 0o660, GID: 6, Major: 8}},
		{"home/tc", initramfs.Record{Type: initramfs.TypeDir, Perm: 0o755, UID: 1001, GID: 50}},
		{"bin/sh", initramfs.Record{Type: initramfs.TypeSymlink, Perm: 0o777, Target: "busybox"}},
		{"lib/modules/" + f.KernelVersion + "/kernel.tclocal", initramfs.Record{Type: initramfs.TypeSymlink, Perm: 0o777, Target: "/usr/local/lib/modules/" + f.KernelVersion + "/kernel"}},
	}
	for _, c := range checks {
		r, ok := rel.Archive.Get(c.name)
		if !ok {
			t.Errorf("release archive lacks %s", c.name)
			continue
		}
		got := initramfs.Record{Type: r.Type, Perm: r.Perm, UID: r.UID, GID: r.GID, Target: r.Target, Major: r.Major, Minor: r.Minor}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", c.name, diff)
		}
	}
	// rootfs + modules read separately give the same archive as core.
	split, err := openRelease(ctx, repo, kernel, []string{f.Rootfs, f.Modules}, f.Version)
	if err != nil {
		t.Fatalf("OpenRelease(split, pinned) = %v", err)
	}
	if d := initramfs.Diff(rel.Archive, split.Archive); len(d) != 0 {
		t.Errorf("rootfs+modules differ from core: %v", d)
	}
	for _, tt := range []struct {
		initrds []string
		exact   string
		want    string
	}{
		{initrds, "14.0", `holds release "15.0", the spec pins "14.0"`},
		{[]string{f.Rootfs}, "", "no lib/modules/<kernel version>"},
		{[]string{"nothere.gz"}, "", "no " + srv.URL},
	} {
		_, err := openRelease(ctx, repo, kernel, tt.initrds, tt.exact)
		if !errors.Is(err, ErrRelease) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("OpenRelease(%v, %q) = %v, want ErrRelease containing %q", tt.initrds, tt.exact, err, tt.want)
		}
	}
	if _, err := openRelease(ctx, newRepo(repo.Mirror, "15", "aarch64"), "", nil, ""); !errors.Is(err, ErrRelease) {
		t.Errorf("OpenRelease(aarch64 without files) = %v, want ErrRelease", err)
	}
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct{ in, major, exact string }{
		{"15.x", "15", ""}, {"15", "15", ""}, {"15.0", "15", "15.0"}, {"4.7.7", "4", "4.7.7"},
	} {
		major, exact, err := parseVersion(tt.in)
		if err != nil || major != tt.major || exact != tt.exact {
			t.Errorf("ParseVersion(%q) = %q, %q, %v; want %q, %q", tt.in, major, exact, err, tt.major, tt.exact)
		}
	}
	for _, bad := range []string{"", "x", "15.y", "../15", "15.0.0.0"} {
		if _, _, err := parseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = nil error", bad)
		}
	}
}
