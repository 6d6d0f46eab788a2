package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../images/prod.yaml", "../../images/dev.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: x\nbase: debian\nfiles:\n  - {src: a, dst: /b, mode: 0755}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("name: &n x\nbase: debian\nuserland: {hostname: *n}\n"))
	f.Add([]byte("extends: s.yaml\n"))
	f.Add([]byte("kernel: {cmdline: null}\nmodules: {include: ~}\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "s.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, path, Options{Home: dir})
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("Parse(%q) = %v, does not wrap ErrSpec", data, err)
			}
			return
		}
		if s.Name == "" || s.Base == "" {
			t.Fatalf("Parse(%q) accepted a spec without name or base", data)
		}
	})
}
