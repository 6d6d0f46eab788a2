package tinycore

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseInfo(t *testing.T) {
	data := "Title:          bash.tcz\nDescription:\tThe GNU Bourne Again SHell.\nVersion:        5.2.21\nComments:       Binaries only\n                ----\n\t\tMore text\nChange-log:     2024/01/01 first\n\nCurrent:        2024/02/01\n"
	got, err := parseInfo([]byte(data))
	if err != nil {
		t.Fatalf("ParseInfo = %v", err)
	}
	want := info{"Title": "bash.tcz", "Description": "The GNU Bourne Again SHell.", "Version": "5.2.21",
		"Comments": "Binaries only\n----\nMore text", "Change-log": "2024/01/01 first", "Current": "2024/02/01"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseInfo mismatch (-want +got):\n%s", diff)
	}
	if got.Version() != "5.2.21" {
		t.Errorf("Version() = %q, want 5.2.21", got.Version())
	}
	for _, bad := range []string{"  continuation first\n", "no colon here\n", "two words: x\n"} {
		if _, err := parseInfo([]byte(bad)); !errors.Is(err, ErrBadSidecar) {
			t.Errorf("ParseInfo(%q) = %v, want ErrBadSidecar", bad, err)
		}
	}
}

func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{"Title:\tx\n", "A: b\n  c\n", " x\n", "no colon\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseInfo(data)
		if err != nil {
			return
		}
		for k := range info {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("ParseInfo(%q) gave key %q", data, k)
			}
		}
	})
}
