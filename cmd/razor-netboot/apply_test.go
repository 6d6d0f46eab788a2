package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// export, then apply of the export: no changes; apply creates, updates
// and (with --prune) deletes; --dry-run changes nothing.
func TestExportApply(t *testing.T) {
	url, dir := startDaemon(t)
	t.Setenv("RAZOR_DATA_DIR", dir)
	t.Setenv("RAZOR_SERVER", url)
	t.Setenv("RAZOR_TOKEN", "")
	must := func(args ...string) string {
		t.Helper()
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v = %v\n%s", args, err, out)
		}
		return out
	}
	must("tags", "create", "dell", `["like",["fact","manufacturer"],"Dell.*"]`)
	must("tags", "create", "big", `["and",["tag","dell"],[">=",["num",["fact","processorcount"]],8]]`)
	must("policies", "create", "install", "--order", "10", "--tags", "big", "--max-count", "5", "--local", "exit")
	export := must("export")
	for _, s := range []string{"name: dell", "name: big", "name: install", "max_count: 5"} {
		if !strings.Contains(export, s) {
			t.Errorf("export lacks %q:\n%s", s, export)
		}
	}
	file := filepath.Join(t.TempDir(), "razor.yaml")
	os.WriteFile(file, []byte(export), 0o644)
	if out := must("apply", "-f", file); out != "no changes\n" {
		t.Errorf("apply of the export = %q, want no changes", out)
	}
	// An edited file: one tag changed, one policy new, the old policy and
	// tag big not named.
	edited := `tags:
  - name: dell
    rule: ["like", ["fact", "manufacturer"], "Dell Inc.*"]
  - name: small
    rule: ["<", ["num", ["fact", "processorcount"]], 4]
policies:
  - name: tiny
    order: 1
    enabled: false
    tags: [small]
    max_count: 0
    target: {kind: local, local: exit}
`
	os.WriteFile(file, []byte(edited), 0o644)
	out := must("apply", "-f", file, "--prune", "--dry-run")
	if !strings.Contains(out, "(dry run) delete policy install") || !strings.Contains(out, "(dry run) update tag dell") {
		t.Errorf("apply --dry-run --prune =\n%s", out)
	}
	if again := must("export"); again != export {
		t.Errorf("--dry-run changed the server:\n%s", again)
	}
	out = must("apply", "-f", file)
	if !strings.Contains(out, "updated tag dell") || !strings.Contains(out, "created tag small") || !strings.Contains(out, "created policy tiny") || strings.Contains(out, "delete") {
		t.Errorf("apply =\n%s", out)
	}
	if got := must("export"); !strings.Contains(got, "name: install") {
		t.Errorf("apply without --prune deleted install:\n%s", got)
	}
	out = must("apply", "-f", file, "--prune")
	if !strings.Contains(out, "delete policy install") || !strings.Contains(out, "delete tag big") {
		t.Errorf("apply --prune =\n%s", out)
	}
	got := must("export")
	if strings.Contains(got, "install") || strings.Contains(got, "name: big") || !strings.Contains(got, "name: tiny") {
		t.Errorf("after --prune, export =\n%s", got)
	}
	if out := must("apply", "-f", file, "--prune"); out != "no changes\n" {
		t.Errorf("second apply --prune = %q, want no changes", out)
	}
	// A bad file changes nothing and names the problem.
	os.WriteFile(file, []byte("tags:\n  - name: x\n    rul: 1\n"), 0o644)
	if _, _, err := runCLI(t, "apply", "-f", file); err == nil || !strings.Contains(err.Error(), "rul") {
		t.Errorf("apply of a bad file = %v, want an error naming rul", err)
	}
}
