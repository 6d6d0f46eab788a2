package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInitArgs(t *testing.T) {
	tests := []struct {
		pid  int
		argv []string
		want []string
	}{
		{1, []string{"/init"}, []string{"init"}},
		{1, []string{"/bin/mk-agent", "init"}, []string{"init"}},
		{1, []string{"/init", "single"}, []string{"init", "single"}},
		{1, []string{"/bin/mk-agent", "run"}, []string{"init", "run"}},
		{42, []string{"/sbin/init"}, []string{"init"}},
		{42, []string{"/sbin/init", "version"}, []string{"version"}},
		{42, []string{"/bin/mk-agent", "run"}, []string{"run"}},
		{42, []string{"/bin/mk-agent"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			if got := initArgs(tt.pid, tt.argv); !cmp.Equal(got, tt.want) {
				t.Errorf("initArgs(%d, %q) = %q, want %q", tt.pid, tt.argv, got, tt.want)
			}
		})
	}
}

func TestInitRefusesWithoutPID1(t *testing.T) {
	var out, errb strings.Builder
	err := run(t.Context(), []string{"init"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "PID 1") {
		t.Errorf("mk-agent init (not PID 1) = %v, want a refusal naming PID 1", err)
	}
}

// TestProdHasNoSSH proves that the prod agent links no SSH code, and that
// the dev agent does (so that the check itself can fail).
func TestProdHasNoSSH(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool")
	}
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %v: %v\n%s", tags, err, out)
		}
		return string(out)
	}
	prod, dev := deps(), deps("-tags", "dev")
	for _, pkg := range []string{"golang.org/x/crypto/ssh", "github.com/razor-mk/razor-mk/agent/devssh"} {
		if strings.Contains(prod, pkg+"\n") {
			t.Errorf("prod mk-agent depends on %s", pkg)
		}
		if !strings.Contains(dev, pkg+"\n") {
			t.Errorf("dev mk-agent does not depend on %s", pkg)
		}
	}
}
