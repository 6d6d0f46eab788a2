package httpimg

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Range edge cases (RFC 9110 §14), against the file of setup (1048579
// bytes).
func TestRangeEdgeCases(t *testing.T) {
	_, data, _, h := setup(t)
	srv := httptest.NewServer(http.StripPrefix("/images/", h))
	defer srv.Close()
	size := len(data)
	many := make([]string, 15000)
	for i := range many {
		many[i] = fmt.Sprintf("%d-%d", i%100, 100+i%100)
	}
	distinct := make([]string, MaxRanges+1)
	for i := range distinct {
		distinct[i] = fmt.Sprintf("%d-%d", i*10, i*10+1)
	}
	tests := []struct {
		name, rng, ifRange string
		code               int
		contentRange       string
		body               []byte // nil: not checked
	}{
		{"zero-length suffix", "bytes=-0", "", 416, fmt.Sprintf("bytes */%d", size), nil},
		{"unknown unit ignored", "items=0-5", "", 200, "", data},
		{"unit case-insensitive", "BYTES=0-4", "", 206, fmt.Sprintf("bytes 0-4/%d", size), data[:5]},
		{"bad syntax ignored", "bytes=abc", "", 200, "", data},
		{"past the end", "bytes=2000000-", "", 416, fmt.Sprintf("bytes */%d", size), nil},
		{"unsatisfiable dropped", "bytes=-0,3-4", "", 206, fmt.Sprintf("bytes 3-4/%d", size), data[3:5]},
		{"overlapping coalesced", "bytes=0-9,5-19,20-29", "", 206, fmt.Sprintf("bytes 0-29/%d", size), data[:30]},
		{"15000 overlapping ranges coalesced", "bytes=" + strings.Join(many, ","), "", 206, fmt.Sprintf("bytes 0-199/%d", size), data[:200]},
		{"too many distinct ranges", "bytes=" + strings.Join(distinct, ","), "", 416, fmt.Sprintf("bytes */%d", size), nil},
		{"last end past the size clamped", "bytes=1048570-2000000", "", 206, fmt.Sprintf("bytes 1048570-1048578/%d", size), data[1048570:]},
		{"stale If-Range: whole file", "bytes=0-4", `"stale"`, 200, "", data},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/images/mk/initrd", nil)
			req.Header.Set("Range", tt.rng)
			if tt.ifRange != "" {
				req.Header.Set("If-Range", tt.ifRange)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || resp.Header.Get("Content-Range") != tt.contentRange {
				t.Fatalf("GET Range %.60s = %d, Content-Range %q; want %d, %q", tt.rng, resp.StatusCode, resp.Header.Get("Content-Range"), tt.code, tt.contentRange)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body = %d bytes, want %d", len(body), len(tt.body))
			}
		})
	}
	// Two distinct ranges: a multipart reply with both parts.
	req, _ := http.NewRequest("GET", srv.URL+"/images/mk/initrd", nil)
	req.Header.Set("Range", "bytes=10-19,0-4,12-14")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil {
		t.Fatalf("multi-range = %d, %v", resp.StatusCode, err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		got = append(got, fmt.Sprintf("%s %d", p.Header.Get("Content-Range"), len(b)))
	}
	want := []string{fmt.Sprintf("bytes 0-4/%d 5", size), fmt.Sprintf("bytes 10-19/%d 10", size)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("multi-range parts = %v, want %v", got, want)
	}
}

func FuzzNormalizeRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-0", "bytes=1-0", "items=1-2", "bytes=,,", "bytes=-", "bytes=5-,-3", "bytes= 1 - 2 "} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Range", h)
		if err := normalizeRange(r, size, `"x"`, timeZero); err != nil {
			return
		}
		out := r.Header.Get("Range")
		if out == "" {
			return
		}
		// What is left is canonical and satisfiable: ascending,
		// disjoint ranges inside the file.
		var prev int64 = -1
		for _, spec := range strings.Split(strings.TrimPrefix(out, "bytes="), ",") {
			var a, b int64
			if _, err := fmt.Sscanf(spec, "%d-%d", &a, &b); err != nil || a <= prev || b < a || b >= size {
				t.Fatalf("normalizeRange(%q, %d) = %q: range %q not canonical", h, size, out, spec)
			}
			prev = b + 1
		}
	})
}

var timeZero time.Time
