package testlab

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not inside the razor-mk module")
	}
	return filepath.Dir(mod)
}

// Binary builds ./cmd/<program> once per test process (static, as the
// Makefile does) and returns its path.
func Binary(t testing.TB, program string, tags ...string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	key := program + "+" + strings.Join(tags, ",")
	if p, ok := builds.bins[key]; ok {
		return p
	}
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "razor-e2e-bin-*")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir = d
		builds.bins = map[string]string{}
	}
	out := filepath.Join(builds.dir, strings.NewReplacer("+", "_", ",", "_").Replace(key))
	args := []string{"build", "-trimpath", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "./cmd/"+program)
	cmd := exec.Command("go", args...)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", program, err, b)
	}
	builds.bins[key] = out
	return out
}

// FreePort is a helper for picking a TCP port on 127.0.0.1 by binding :0.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
