package webui

import (
	"strings"
	"testing"
)

// safeNext never lets a sign-in redirect leave the dashboard.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/ui/nodes?q=x", "//evil.example/", "https://evil.example/", "/ui/\\evil", "/api/v1/nodes", "/ui/\r\nSet-Cookie: x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/ui/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	})
}

// hex12 and colonMAC agree: whatever hex12 accepts, colonMAC spells as
// six colon-separated pairs that hex12 reads back the same.
func FuzzMACSpellings(f *testing.F) {
	for _, s := range []string{"52:54:00:ab:cd:ef", "525400ABCDEF", "5254.00ab.cdef", "52-54-00-AB-CD-EF", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := hex12(s)
		if h == "" {
			return
		}
		c := colonMAC(s)
		if len(c) != 17 || hex12(c) != h {
			t.Errorf("colonMAC(%q) = %q, hex12 %q", s, c, h)
		}
	})
}
