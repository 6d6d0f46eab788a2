package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildCmdEnv(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(good, []byte("name: x\nbase: debian\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RAZOR_OUT", dir)
	t.Setenv("RAZOR_VARIANT", "qa")
	err := run(context.Background(), []string{"build", good}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `--variant "qa"`) {
		t.Errorf("mkbuild build with RAZOR_OUT and RAZOR_VARIANT=qa = %v, want the variant refused (so --out was taken)", err)
	}
}

func TestBuildCmdErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(good, []byte("name: x\nbase: debian\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nbase: debian\nmodules:\n  include: [\"[\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"build", good}, `required flag(s) "out" not set`},
		{[]string{"build", "--out", dir}, "accepts 1 arg(s)"},
		{[]string{"build", good, "--out", dir, "--variant", "staging"}, `--variant "staging": want dev or prod`},
		{[]string{"build", good, "--out", dir, "--source-date-epoch", "yesterday"}, `SOURCE_DATE_EPOCH "yesterday"`},
		{[]string{"build", good, "--out", dir, "--source-date-epoch", "-5"}, `SOURCE_DATE_EPOCH "-5"`},
		{[]string{"build", good, "--out", dir, "--agent", filepath.Join(dir, "none")}, "--agent " + filepath.Join(dir, "none") + ": not a readable file"},
		{[]string{"build", bad, "--out", dir}, bad + `:4: modules.include[0]: "[": bad glob`},
		{[]string{"build", filepath.Join(dir, "missing.yaml"), "--out", dir}, "missing.yaml"},
		{[]string{"build", good, "--out", dir, "--authorized-keys", filepath.Join(dir, "nokey.pub")}, "--authorized-keys[0]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errb)
			if err == nil {
				t.Fatalf("mkbuild %v = nil error, want %q", tt.args, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("mkbuild %v = %q, want it to contain %q", tt.args, err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "initrd")); err == nil {
				t.Errorf("mkbuild %v failed but wrote an initrd", tt.args)
			}
		})
	}
}
