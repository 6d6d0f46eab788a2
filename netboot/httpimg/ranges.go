package httpimg

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxRanges is the most byte ranges one request may ask for after
// overlapping and adjacent ones are merged; more are refused with 416.
// Boot clients ask for one.
const MaxRanges = 16

// maxRangeSpecs bounds the work of parsing a Range header at all (the
// server's header size limit bounds it too).
const maxRangeSpecs = 20000

var errUnsatisfiable = errors.New("httpimg: range not satisfiable")

// span is a resolved byte range [start, end), inside the file.
type span struct{ start, end int64 }

// normalizeRange rewrites r's Range header (RFC 9110 §14) before
// http.ServeContent sees it, for a file of size bytes: a range unit
// other than bytes is ignored (the header is removed: §14.2 says an
// unknown unit is ignored, not refused); unsatisfiable ranges such as
// "bytes=-0" are dropped and, if none is left, errUnsatisfiable is
// returned; overlapping and adjacent ranges are merged in order; more
// than MaxRanges after that is errUnsatisfiable too. A Range that If-Range
// says to ignore is removed.
func normalizeRange(r *http.Request, size int64, etag string, modtime time.Time) error {
	h := r.Header.Get("Range")
	if h == "" {
		return nil
	}
	unit, set, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		r.Header.Del("Range")
		return nil
	}
	if ir := r.Header.Get("If-Range"); ir != "" && !ifRangeMatches(ir, etag, modtime) {
		r.Header.Del("Range")
		return nil
	}
	specs := strings.Split(set, ",")
	if len(specs) > maxRangeSpecs {
		return fmt.Errorf("%w: %d ranges", errUnsatisfiable, len(specs))
	}
	var spans []span
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue // RFC 9110 §5.6.1: empty list elements
		}
		sp, ok, err := parseSpec(spec, size)
		if err != nil {
			// A syntactically bad Range is ignored, as if absent.
			r.Header.Del("Range")
			return nil
		}
		if ok {
			spans = append(spans, sp)
		}
	}
	if len(spans) == 0 {
		return fmt.Errorf("%w: %q for %d bytes", errUnsatisfiable, trunc(h), size)
	}
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp.start <= last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	if len(merged) > MaxRanges {
		return fmt.Errorf("%w: %d distinct ranges, at most %d", errUnsatisfiable, len(merged), MaxRanges)
	}
	parts := make([]string, len(merged))
	for i, sp := range merged {
		parts[i] = fmt.Sprintf("%d-%d", sp.start, sp.end-1)
	}
	r.Header.Set("Range", "bytes="+strings.Join(parts, ","))
	return nil
}

// parseSpec resolves one range-spec; ok is false for an unsatisfiable
// one (first byte past the end, or a zero-length suffix).
func parseSpec(spec string, size int64) (sp span, ok bool, err error) {
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return span{}, false, errors.New("no dash")
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// suffix-range: the last N bytes.
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 || !digits(last) {
			return span{}, false, errors.New("bad suffix length")
		}
		if n == 0 || size == 0 {
			return span{}, false, nil
		}
		return span{max(size-n, 0), size}, true, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || !digits(first) {
		return span{}, false, errors.New("bad first position")
	}
	end := size
	if last != "" {
		l, err := strconv.ParseInt(last, 10, 64)
		if err != nil || !digits(last) || l < start {
			return span{}, false, errors.New("bad last position")
		}
		end = min(l+1, size)
	}
	if start >= size {
		return span{}, false, nil
	}
	return span{start, end}, true, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// ifRangeMatches: RFC 9110 §13.1.5, a strong ETag or the exact
// Last-Modified date.
func ifRangeMatches(v, etag string, modtime time.Time) bool {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, `"`) {
		return v == etag
	}
	t, err := http.ParseTime(v)
	return err == nil && t.Equal(modtime.Truncate(time.Second)) && !modtime.IsZero()
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
