// Package e2e holds the end-to-end tests: real images built with mkbuild,
// booted in QEMU, talking to a real razor-netboot. They need root (for
// network namespaces and taps) and QEMU; they skip with the reason when
// those are missing, and `make test` installs what they need.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/adminapi"
)

// images caches built images per test process: key → output dir.
var images struct {
	mu   sync.Mutex
	dirs map[string]string
	root string
}

// buildImage runs `mkbuild build spec` once per process for each distinct
// spec and argument list and returns the output directory (vmlinuz,
// initrd, manifest.json). Downloads go to mkbuild's default cache, shared
// with the builder's own tests.
func buildImage(t *testing.T, spec string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("mkbuild's debian base needs apt-get")
	}
	images.mu.Lock()
	defer images.mu.Unlock()
	key := spec + " " + strings.Join(args, " ")
	if d, ok := images.dirs[key]; ok {
		return d
	}
	if images.dirs == nil {
		images.dirs = map[string]string{}
		d, err := os.MkdirTemp("", "razor-e2e-images-*")
		if err != nil {
			t.Fatal(err)
		}
		images.root = d
	}
	out := filepath.Join(images.root, fmt.Sprintf("img%d", len(images.dirs)))
	root := testlab.ModuleRoot(t)
	cmdArgs := append([]string{"build", filepath.Join(root, spec), "--out", out}, args...)
	start := time.Now()
	cmd := exec.Command(testlab.Binary(t, "mkbuild"), cmdArgs...)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mkbuild %s: %v\n%s", strings.Join(cmdArgs, " "), err, b)
	}
	t.Logf("built %s in %v", spec, time.Since(start).Round(time.Millisecond))
	images.dirs[key] = out
	return out
}

// server is a razor-netboot serve process started by a test.
type server struct {
	URL     string // as seen from the test (loopback or namespace address)
	DataDir string
	Client  *adminapi.Client
	Proc    *testlab.Proc
	args    []string
	netns   *testlab.TestNetns
}

// startServer runs `razor-netboot serve` with the given extra flags, an
// HTTP address, and a fresh data dir (unless one is given with
// --data-dir), waiting until /healthz answers.
func startServer(t *testing.T, ns *testlab.TestNetns, httpAddr, advertise string, extra ...string) *server {
	t.Helper()
	s := &server{netns: ns}
	dataDir := ""
	for i, a := range extra {
		if a == "--data-dir" && i+1 < len(extra) {
			dataDir = extra[i+1]
		}
	}
	if dataDir == "" {
		dataDir = t.TempDir()
		extra = append(extra, "--data-dir", dataDir)
	}
	s.DataDir = dataDir
	s.args = append([]string{"serve", "--http-addr", httpAddr, "--advertise-ip", advertise,
		"--log-level", "debug"}, extra...)
	host := httpAddr
	if strings.HasPrefix(host, ":") {
		host = advertise + host
	}
	s.URL = "http://" + host
	s.start(t)
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	s.Client = &adminapi.Client{Server: s.URL, Token: strings.TrimSpace(string(tok))}
	if ns != nil {
		s.Client.HTTP = ns.HTTPClient()
	}
	return s
}

func (s *server) start(t *testing.T) {
	t.Helper()
	bin := testlab.Binary(t, "razor-netboot")
	var cmd *exec.Cmd
	if s.netns != nil {
		cmd = s.netns.Command(bin, s.args...)
	} else {
		cmd = exec.Command(bin, s.args...)
	}
	s.Proc = testlab.Start(t, "razor-netboot", cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.healthy() {
			return
		}
		select {
		case <-s.Proc.Done():
			t.Fatalf("razor-netboot exited at start:\n%s", s.Proc.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("razor-netboot not healthy within 30 s:\n%s", s.Proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) healthy() bool {
	var c *exec.Cmd
	args := []string{"-fsS", "-m", "2", s.URL + "/healthz"}
	if s.netns != nil {
		c = s.netns.Command("curl", args...)
	} else {
		c = exec.Command("curl", args...)
	}
	return c.Run() == nil
}

// restart stops the server gracefully and starts it again on the same
// data dir.
func (s *server) restart(t *testing.T) {
	t.Helper()
	s.Proc.Stop()
	s.start(t)
}

// waitNode polls the admin API until a node satisfies ok, and returns it.
func (s *server) waitNode(t *testing.T, vm *testlab.VM, what string, timeout time.Duration, ok func(adminapi.Node) bool) adminapi.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		nodes, err := s.Client.Nodes(ctx)
		if err == nil {
			// The list leaves facts out; judge each node in full.
			for _, n := range nodes {
				full, ferr := s.Client.Node(ctx, n.ID)
				if ferr == nil && ok(full) {
					return full
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no node %s within %v (last error %v)", what, timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
		if vm != nil {
			select {
			case <-vm.Done():
				t.Fatalf("QEMU exited while waiting for a node %s", what)
			default:
			}
		}
	}
}

// hasMAC reports whether node n holds mac (AA:BB:… form).
func hasMAC(n adminapi.Node, mac string) bool {
	for _, m := range n.MACs {
		if strings.EqualFold(m, mac) {
			return true
		}
	}
	return false
}

// imageCmdline returns the kernel command line an image's manifest asks for.
func imageCmdline(t *testing.T, dir string) string {
	t.Helper()
	m, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m.Cmdline
}

// requireQEMU skips unless QEMU can run here.
func requireQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (make deps installs qemu-system-x86)")
	}
}
