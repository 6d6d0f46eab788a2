// Package packaging holds the release packaging (build.sh, the systemd
// unit, the Debian maintainer scripts) and its tests: the unit passes
// systemd-analyze; the .deb installs, serves with exactly the unit's
// capabilities, and removes cleanly.
package packaging

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the source tree's root (this package is packaging/).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// verifyUnit runs systemd-analyze verify on unit; any complaint (it exits
// 0 on unknown keys and bad values, only printing them) fails.
func verifyUnit(t *testing.T, unit string) {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

// The unit verifies (the binary path pointed at a freshly built
// razor-netboot, since /usr/bin has none before the package is
// installed) and its exposure stays at systemd's "OK" level.
func TestUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd; scripts/deps.sh installs it)")
	}
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "razor-netboot")
	build := exec.Command("go", "build", "-o", bin, "./cmd/razor-netboot")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(root, "packaging", "razor-netboot.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("ExecStart=/usr/bin/razor-netboot ")) {
		t.Fatal("unit's ExecStart is not /usr/bin/razor-netboot")
	}
	unit := filepath.Join(t.TempDir(), "razor-netboot.service")
	os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/bin/razor-netboot"), []byte(bin)), 0o644)
	verifyUnit(t, unit)

	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("exposure level %s", m[1])
	}
	caps := unitCaps(t, data)
	if strings.Join(caps, ",") != "net_bind_service,net_raw" {
		t.Errorf("unit capabilities = %v, want only net_bind_service and net_raw", caps)
	}
}

// unitCaps returns the unit's AmbientCapabilities as setpriv names, and
// checks that the bounding set is the same.
func unitCaps(t *testing.T, unit []byte) []string {
	t.Helper()
	get := func(key string) []string {
		var out []string
		sc := bufio.NewScanner(bytes.NewReader(unit))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
				for _, c := range strings.Fields(v) {
					out = append(out, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
				}
			}
		}
		return out
	}
	amb, bound := get("AmbientCapabilities"), get("CapabilityBoundingSet")
	if strings.Join(amb, ",") != strings.Join(bound, ",") {
		t.Errorf("AmbientCapabilities %v != CapabilityBoundingSet %v", amb, bound)
	}
	return amb
}

// capMask is the kernel's bit mask of setpriv capability names.
func capMask(caps []string) uint64 {
	bits := map[string]uint{"net_bind_service": 10, "net_admin": 12, "net_raw": 13}
	var m uint64
	for _, c := range caps {
		m |= 1 << bits[c]
	}
	return m
}

// procStatus returns the fields of /proc/PID/status.
func procStatus(pid int) map[string]string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// listenNotify opens a notification socket the razor user may write to.
func listenNotify(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "razor-notify-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	os.Chmod(path, 0o777)
	return path, c
}

func readNotify(c *net.UnixConn, timeout time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// ownerOf returns a file's owner uid.
func ownerOf(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}
