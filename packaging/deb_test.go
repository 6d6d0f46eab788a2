package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
)

// debPaths are the paths the package owns that the test looks at.
const (
	conffile = "/etc/razor/razor-netboot.yaml"
	dataDir  = "/var/lib/razor"
	unitPath = "/lib/systemd/system/razor-netboot.service"
)

// hostGuard refuses to touch a host that has razor-mk, its user or its
// directories already: the test installs into the real root, so it only
// runs where it can undo everything it does.
func hostGuard(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("installs a .deb into the real root: needs root")
	}
	for _, p := range []string{"dpkg", "dpkg-deb", "setpriv", "udhcpc", "tftp", "curl"} {
		if _, err := exec.LookPath(p); err != nil {
			if p == "udhcpc" {
				if _, err := exec.LookPath("busybox"); err == nil {
					continue
				}
			}
			t.Skipf("%s not installed (scripts/deps.sh installs it)", p)
		}
	}
	testlab.RequireNetns(t)
	if out, _ := exec.Command("dpkg-query", "-W", "-f", "${Status}", "razor-mk").Output(); len(out) > 0 && !bytes.Contains(out, []byte("not-installed")) {
		t.Skipf("razor-mk is already known to dpkg on this host (%s): not touching it", out)
	}
	if _, err := user.Lookup("razor"); err == nil {
		t.Skip("a razor user exists already on this host: not touching it")
	}
	for _, p := range []string{"/etc/razor", dataDir} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists already on this host: not touching it", p)
		}
	}
}

// buildDeb returns $RAZOR_DEB, or builds the package with build.sh.
func buildDeb(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RAZOR_DEB"); p != "" {
		return p
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "packaging/build.sh", "deb", out)
	cmd.Dir = repoRoot(t)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh deb: %v\n%s", err, b)
	}
	return strings.TrimSpace(string(b[bytes.LastIndexByte(bytes.TrimSpace(b), '\n')+1:]))
}

// The package installs without starting anything, its unit verifies,
// mkbuild works without Go, razor-netboot serves full DHCP, TFTP and
// HTTP as the razor user with exactly the unit's capabilities (and fails
// without them), and the package removes leaving only the conffile and
// the data, then purges.
func TestDebInstallServeRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs the package")
	}
	hostGuard(t)
	deb := buildDeb(t)
	contents := debFiles(t, deb)
	t.Run("lintian", func(t *testing.T) {
		if _, err := exec.LookPath("lintian"); err != nil {
			t.Skip("lintian not installed (scripts/deps.sh installs it)")
		}
		// Errors and warnings fail; the package's overrides
		// (debian/lintian-overrides) say why each remaining one is right.
		out, err := exec.Command("lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb).CombinedOutput()
		if err != nil {
			t.Errorf("lintian %s: %v\n%s", deb, err, out)
		}
	})

	// Nothing the package ships may start on this host.
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, fs.ErrNotExist) {
		os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755)
		t.Cleanup(func() { os.Remove(policy) })
	}
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "razor-mk").CombinedOutput(); err != nil {
			t.Logf("clean-up: dpkg --purge: %v\n%s", err, out)
		}
		os.RemoveAll(dataDir)
		os.RemoveAll("/etc/razor")
		if _, err := user.Lookup("razor"); err == nil {
			if out, err := exec.Command("userdel", "razor").CombinedOutput(); err != nil {
				t.Logf("clean-up: userdel razor: %v\n%s", err, out)
			}
			exec.Command("groupdel", "razor").Run()
		}
	})

	run(t, "dpkg", "-i", deb)
	u, err := user.Lookup("razor")
	if err != nil {
		t.Fatalf("no razor user after install: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	for _, p := range []string{dataDir, dataDir + "/images"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Sys() == nil || fmt.Sprint(ownerOf(st)) != u.Uid || st.Mode().Perm() != 0o750 {
			t.Errorf("%s = owner %d mode %v, want razor and 0750", p, ownerOf(st), st.Mode().Perm())
		}
	}
	if out := run(t, "dpkg-query", "-W", "-f", "${Conffiles}", "razor-mk"); !strings.Contains(out, conffile) {
		t.Errorf("conffiles = %q, want %s", out, conffile)
	}
	if pids := processesOf("/usr/bin/razor-netboot"); len(pids) > 0 {
		t.Errorf("installing started razor-netboot (pids %v); it must wait for the operator", pids)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		verifyUnit(t, unitPath)
	}

	t.Run("mkbuild without Go", func(t *testing.T) { mkbuildWithoutGo(t) })
	t.Run("serve with the unit's capabilities", func(t *testing.T) { serveWithUnitCaps(t, uid) })

	run(t, "dpkg", "-r", "razor-mk")
	var left []string
	for _, f := range contents {
		if _, err := os.Lstat(f); err == nil {
			left = append(left, f)
		}
	}
	if strings.Join(left, " ") != conffile {
		t.Errorf("after dpkg -r these package files remain: %v; want only %s", left, conffile)
	}
	if _, err := os.Stat(dataDir + "/admin.token"); err != nil {
		t.Errorf("dpkg -r removed the data: %v", err)
	}
	run(t, "dpkg", "--purge", "razor-mk")
	for _, p := range []string{conffile, "/etc/razor"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s remains after purge", p)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// debFiles lists the regular files and links in a .deb, as absolute paths.
func debFiles(t *testing.T, deb string) []string {
	t.Helper()
	var out []string
	list := run(t, "sh", "-c", "dpkg-deb --fsys-tarfile "+deb+" | tar -t")
	for _, l := range strings.Split(list, "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), ".")
		if l == "" || strings.HasSuffix(l, "/") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// processesOf returns the pids whose executable is exe.
func processesOf(exe string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && p == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mkbuildWithoutGo builds the prod image with the installed mkbuild,
// outside any source tree and with no go on PATH: it takes the prebuilt
// agent and says so.
func mkbuildWithoutGo(t *testing.T) {
	// Into the service's images directory, which the serve test then
	// boots from.
	out := dataDir + "/images/prod"
	cmd := exec.Command("/usr/bin/mkbuild", "build", "/usr/share/razor-mk/images/prod.yaml", "--out", out, "--quiet")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + os.Getenv("HOME")}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mkbuild build (no Go): %v\n%s", err, b)
	}
	want := "agent          prebuilt /usr/lib/razor-mk/agent/mk-agent-amd64"
	if !strings.Contains(string(b), want) {
		t.Errorf("mkbuild output lacks %q:\n%s", want, b)
	}
	for _, f := range []string{"vmlinuz", "initrd", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("mkbuild wrote no %s: %v", f, err)
		}
	}
}

// serveWithUnitCaps runs the installed razor-netboot as the razor user
// with the unit's capability set, in a network namespace, serving full
// DHCP on a veth, TFTP on port 69 and HTTP on 8026; a client in a second
// namespace gets a lease with busybox udhcpc, fetches undionly.kpxe with
// tftp-hpa and the boot script, kernel and /readyz with curl. Without the
// capabilities the same command must fail, so the set is shown necessary
// as well as sufficient.
func serveWithUnitCaps(t *testing.T, uid int) {
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	caps := unitCaps(t, unit)
	srv := testlab.NewNetns(t, "rzdeb-s")
	cli := testlab.NewNetns(t, "rzdeb-c")
	run(t, "ip", "link", "add", "rzs0", "netns", srv.Name, "type", "veth", "peer", "name", "rzc0", "netns", cli.Name)
	for _, step := range [][]string{{"-n", srv.Name, "addr", "add", "10.231.0.1/24", "dev", "rzs0"}, {"-n", srv.Name, "link", "set", "rzs0", "up"}, {"-n", cli.Name, "link", "set", "rzc0", "up"}} {
		run(t, "ip", step...)
	}

	start := func(capSet []string) (*exec.Cmd, *bytes.Buffer, string, func() (string, error)) {
		sock, conn := listenNotify(t)
		set := "-all"
		for _, c := range capSet {
			set += ",+" + c
		}
		args := []string{"--reuid", "razor", "--regid", "razor", "--init-groups",
			"--inh-caps", set, "--ambient-caps", set, "--bounding-set", set, "--no-new-privs",
			"/usr/bin/razor-netboot", "serve", "--config", conffile,
			"--dhcp", "full", "--dhcp-interface", "rzs0", "--dhcp-range", "10.231.0.100-10.231.0.120",
			"--tftp", "10.231.0.1:69", "--http-addr", ":8026", "--advertise-ip", "10.231.0.1"}
		cmd := srv.Command("setpriv", args...)
		// As the unit sets them.
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "RAZOR_DATA_DIR=" + dataDir, "NOTIFY_SOCKET=" + sock}
		logs := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, logs, "setpriv " + strings.Join(args, " "), func() (string, error) { return readNotify(conn, 60*time.Second) }
	}

	// Without the capabilities: refused (port 67 and 69 are privileged).
	cmd, logs, line, _ := start(nil)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(logs.String(), "permission denied") {
			t.Errorf("without capabilities: exit %v, want a permission error:\n%s", err, logs)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("without capabilities the server started anyway:\n%s", logs)
	}

	cmd, logs, line, ready := start(caps)
	t.Logf("%s", line)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	msg, err := ready()
	if err != nil || !strings.HasPrefix(msg, "READY=1") {
		t.Fatalf("no READY=1 from the server (%q, %v):\n%s", msg, err, logs)
	}
	st := procStatus(cmd.Process.Pid)
	want := fmt.Sprintf("%016x", capMask(caps))
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); exe != "/usr/bin/razor-netboot" ||
		strings.Fields(st["Uid"])[1] != strconv.Itoa(uid) || st["CapEff"] != want || st["CapPrm"] != want || st["CapBnd"] != want || st["NoNewPrivs"] != "1" {
		t.Errorf("server process %s: Uid %s CapEff %s CapPrm %s CapBnd %s NoNewPrivs %s; want uid %d and capabilities %s only",
			exe, st["Uid"], st["CapEff"], st["CapPrm"], st["CapBnd"], st["NoNewPrivs"], uid, want)
	}

	// DHCP: a lease from the range.
	script := filepath.Join(t.TempDir(), "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"event=$1 ip=$ip subnet=$subnet siaddr=$siaddr boot_file=$boot_file\"\n"), 0o755)
	out, err := cli.Command("busybox", "udhcpc", "-i", "rzc0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", script).CombinedOutput()
	m := regexp.MustCompile(`event=bound ip=(\S+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("udhcpc: %v\n%s\nserver:\n%s", err, out, logs)
	}
	ip, err := netip.ParseAddr(string(m[1]))
	if err != nil || ip.Less(netip.MustParseAddr("10.231.0.100")) || netip.MustParseAddr("10.231.0.120").Less(ip) {
		t.Fatalf("udhcpc leased %s, want an address of 10.231.0.100-10.231.0.120:\n%s", m[1], out)
	}
	t.Logf("udhcpc: %s", bytes.TrimSpace(out))
	run(t, "ip", "-n", cli.Name, "addr", "add", ip.String()+"/24", "dev", "rzc0")

	// TFTP: iPXE, byte for byte.
	got := filepath.Join(t.TempDir(), "undionly.kpxe")
	if out, err := cli.Command("tftp", "-m", "binary", "10.231.0.1", "-c", "get", "undionly.kpxe", got).CombinedOutput(); err != nil {
		t.Fatalf("tftp get undionly.kpxe: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(got)
	b, _ := os.ReadFile("/usr/lib/ipxe/undionly.kpxe")
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("tftp undionly.kpxe: %d bytes, want the %d of /usr/lib/ipxe/undionly.kpxe", len(a), len(b))
	}

	// HTTP: ready (listeners up, the image mkbuild built verifies), the
	// boot script, and the kernel it names.
	curl := func(url string) (int, string) {
		out, err := cli.Command("curl", "-sS", "-o", "-", "-w", "\n%{http_code}", url).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		s := string(out)
		i := strings.LastIndexByte(s, '\n')
		code, _ := strconv.Atoi(s[i+1:])
		return code, s[:i]
	}
	if code, body := curl("http://10.231.0.1:8026/readyz"); code != 200 || !strings.Contains(body, `"images":["prod"]`) {
		t.Errorf("GET /readyz = %d %s, want 200 with the prod image", code, body)
	}
	code, script2 := curl("http://10.231.0.1:8026/boot.ipxe?mac=52:54:00:12:34:56&platform=pcbios")
	k := regexp.MustCompile(`(?m)^kernel (\S+)`).FindStringSubmatch(script2)
	if code != 200 || k == nil {
		t.Fatalf("GET /boot.ipxe = %d:\n%s", code, script2)
	}
	if code, body := curl(k[1]); code != 200 || len(body) < 1<<20 {
		t.Errorf("GET %s = %d, %d bytes; want the kernel", k[1], code, len(body))
	}
	select {
	case err := <-done:
		done <- err
		t.Fatalf("server exited: %v\n%s", err, logs)
	default:
	}
	t.Logf("server log:\n%s", logs)
}
