package daemon

import (
	"strings"
	"testing"
)

// Parse never panics, and what it accepts it splits consistently.
func FuzzParseStore(f *testing.F) {
	for _, s := range []string{"sqlite:/var/lib/razor/razor.db", "sqlite:", "postgres://u:p@h:5432/db?sslmode=require",
		"postgresql://h/db", "postgres://[::1", "mysql://x", "", "sqlite:sqlite:x", "postgres://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		kind, target, err := ParseStore(spec)
		if err != nil {
			if kind != "" || target != "" {
				t.Errorf("ParseStore(%q) = %q, %q with error %v", spec, kind, target, err)
			}
			return
		}
		switch kind {
		case StoreSQLite:
			if target == "" || "sqlite:"+target != spec {
				t.Errorf("ParseStore(%q) = sqlite %q", spec, target)
			}
		case StorePostgres:
			if target != spec || !strings.HasPrefix(spec, "postgres") {
				t.Errorf("ParseStore(%q) = postgres %q", spec, target)
			}
		default:
			t.Errorf("ParseStore(%q) = kind %q", spec, kind)
		}
	})
}
