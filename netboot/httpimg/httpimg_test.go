package httpimg

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func setup(t *testing.T) (dir string, data []byte, logs *bytes.Buffer, h http.Handler) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "images")
	os.MkdirAll(filepath.Join(dir, "mk"), 0o755)
	data = make([]byte, 1<<20+3)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "mk", "initrd"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "mk", "manifest.json"), []byte(`{"name":"mk"}`), 0o644)
	os.WriteFile(filepath.Join(base, "secret"), []byte("outside"), 0o644)
	os.Symlink("../../secret", filepath.Join(dir, "mk", "escape"))
	logs = &bytes.Buffer{}
	return dir, data, logs, Handler(dir, slog.New(slog.NewTextHandler(logs, nil)))
}

func TestServe(t *testing.T) {
	_, data, logs, h := setup(t)
	mux := http.NewServeMux()
	mux.Handle("/images/", http.StripPrefix("/images/", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/images/mk/initrd"

	get := func(method string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	resp, body := get("GET")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.ContentLength != int64(len(data)) || etag == "" {
		t.Fatalf("GET = %d, %d bytes, Content-Length %d, ETag %q; want 200, the file, its length, an ETag", resp.StatusCode, len(body), resp.ContentLength, etag)
	}
	resp, body = get("GET", "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) || resp.Header.Get("Content-Range") != "bytes 100-199/1048579" {
		t.Errorf("GET Range = %d, %d bytes, Content-Range %q; want 206, bytes 100-199", resp.StatusCode, len(body), resp.Header.Get("Content-Range"))
	}
	resp, body = get("GET", "Range", "bytes=-10")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[len(data)-10:]) {
		t.Errorf("GET suffix Range = %d, %d bytes; want 206 and the last 10 bytes", resp.StatusCode, len(body))
	}
	resp, _ = get("GET", "Range", "bytes=2000000-")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("GET Range past the end = %d, want 416", resp.StatusCode)
	}
	resp, body = get("GET", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET If-None-Match current = %d, %d bytes; want 304, empty", resp.StatusCode, len(body))
	}
	resp, _ = get("GET", "If-None-Match", `"stale"`)
	if resp.StatusCode != 200 {
		t.Errorf("GET If-None-Match stale = %d, want 200", resp.StatusCode)
	}
	resp, body = get("HEAD")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD = %d, %d bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	resp, _ = get("POST")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "event=http-file") {
		t.Errorf("no http-file event logged:\n%s", logs)
	}
}

func TestConfinement(t *testing.T) {
	_, _, logs, h := setup(t)
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/mk/manifest.json", 200},
		{"/mk/escape", http.StatusForbidden},
		{"/../secret", http.StatusBadRequest},
		{"/mk/../../secret", http.StatusBadRequest},
		{`/mk\..\..\secret`, http.StatusBadRequest},
		{"//etc/passwd", http.StatusBadRequest},
		{"/mk", http.StatusNotFound},
		{"/", http.StatusBadRequest},
		{"/missing", http.StatusNotFound},
	} {
		req := httptest.NewRequest("GET", "http://x/", nil)
		req.URL.Path = tt.path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.path, rec.Code, tt.want)
		}
		if rec.Code == 200 && rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s Content-Type = %q, want application/json", tt.path, rec.Header().Get("Content-Type"))
		}
	}
	if !strings.Contains(logs.String(), "event=http-refused") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}

func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl (scripts/deps.sh installs it)")
	}
	_, data, _, h := setup(t)
	srv := httptest.NewServer(http.StripPrefix("/images/", h))
	defer srv.Close()
	out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "20", "-r", "5-9", srv.URL+"/images/mk/initrd").Output()
	if err != nil || !bytes.Equal(out, data[5:10]) {
		t.Errorf("curl -r 5-9 = % x, %v; want % x", out, err, data[5:10])
	}
	if err := exec.Command("curl", "-sS", "--fail", "--max-time", "20", "--path-as-is", srv.URL+"/images/../secret").Run(); err == nil {
		t.Error("curl --path-as-is /images/../secret succeeded, want a refusal")
	}
}

func TestLogLinesNameTheNode(t *testing.T) {
	dir, _, _, _ := setup(t)
	var logs bytes.Buffer
	h := New(dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Who: func(ip netip.Addr) (string, string) {
		if ip == netip.MustParseAddr("127.0.0.1") {
			return "node7", "52:54:00:00:00:07"
		}
		return "", ""
	}})
	srv := httptest.NewServer(http.StripPrefix("/images/", h))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/images/mk/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if !strings.Contains(logs.String(), "node=node7 mac=52:54:00:00:00:07") {
		t.Errorf("log:\n%s\nwant node=node7 mac=52:54:00:00:00:07", logs.String())
	}
}
