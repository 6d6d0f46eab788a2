package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/wire"
)

// TestMain lets the test binary act as razor-netboot: with
// RAZOR_NETBOOT_TEST_MAIN=1 it runs the program's main instead of the
// tests, so that tests can start a real server process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("RAZOR_NETBOOT_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server is a razor-netboot serve child process.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan error
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer runs `razor-netboot serve` on dataDir and waits for
// /healthz.
func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"serve", "--dhcp", "off", "--tftp", "off", "--data-dir", dataDir,
		"--http-addr", addr, "--rate-limit", "0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RAZOR_NETBOOT_TEST_MAIN=1")
	s := &server{cmd: cmd, url: "http://" + addr, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("server exited early: %v\n%s", err, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after 20 s:\n%s", s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A registration storm against a real server process, killed with
// SIGKILL midway: every registration the server acknowledged is in the
// store after a restart.
func TestCrashKeepsAcknowledgedRegistrations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	s := startServer(t, dir)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	const workers = 32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mac := fmt.Sprintf("5254%02X%06X", w, i)
				body, _ := wire.RegisterRequest{HWID: mac, Facts: map[string]string{"processorcount": "2", "i": fmt.Sprint(i)}}.Encode()
				resp, err := client.Post(s.url+wire.DefaultRegisterPath, wire.ContentTypeJSON, bytes.NewReader(body))
				if err != nil {
					continue // the server is gone; keep trying until stopped
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r, _, err := wire.ParseReply(data)
				if err == nil && resp.StatusCode == 200 && r.ErrCode == 0 {
					mu.Lock()
					acked[mac] = true
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a few hundred registrations are in, with writes in flight.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.done <- nil
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d registrations acknowledged in 30 s before the kill", len(acked))
	}

	s2 := startServer(t, dir)
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := &adminapi.Client{Server: s2.url, Token: strings.TrimSpace(string(tok))}
	nodes, err := c.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range nodes {
		for _, m := range n.MACs {
			have[strings.ReplaceAll(m, ":", "")] = true
		}
	}
	missing := 0
	for mac := range acked {
		if !have[mac] {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged registration of %s lost in the crash", mac)
			}
		}
	}
	t.Logf("%d registrations acknowledged before SIGKILL, %d nodes after restart, %d lost", len(acked), len(nodes), missing)
	if missing > 0 {
		t.Errorf("%d of %d acknowledged registrations lost", missing, len(acked))
	}
}

// SIGTERM shuts the server down gracefully, releasing a held long-poll.
func TestServeGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	s := startServer(t, dir)
	body, _ := wire.RegisterRequest{HWID: "525400000001", Facts: map[string]string{"a": "b"}}.Encode()
	resp, err := http.Post(s.url+wire.DefaultRegisterPath, wire.ContentTypeJSON, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.url + wire.DefaultCheckinPath + "?hw_id=525400000001&wait=60")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r, _, _ := wire.ParseReply(data)
		got <- string(r.Command())
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case cmd := <-got:
		if cmd != "acknowledge" {
			t.Errorf("held checkin at shutdown = %q, want acknowledge", cmd)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("held checkin not released at shutdown")
	}
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("server exit = %v, want clean\n%s", err, s.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit on SIGTERM")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dhcp", "full", "--tftp", "off"}, "dhcp_interface"},
		{[]string{"--dhcp", "off", "--tftp", "off", "--checkin-interval", "0"}, "checkin_interval"},
		{[]string{"--dhcp", "off", "--tftp", "off", "--store", "mysql://db"}, "store"},
		{[]string{"--dhcp", "off", "--tftp", "off", "--http-addr", "nope"}, "http_addr"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"serve", "--data-dir", dir}, tc.args...)
		if err := run(t.Context(), args, &out, &errOut); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("razor-netboot %v = %v, want an error naming %s", args, err, tc.want)
		}
	}
}

// Start-up refusals, each naming what is wrong and how to fix it.
func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	noIPXE := filepath.Join(dir, "ipxe-empty")
	os.Mkdir(noIPXE, 0o755)
	os.WriteFile(filepath.Join(noIPXE, "undionly.kpxe"), []byte("x"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"interface", []string{"--dhcp", "proxy", "--dhcp-interface", "nosuch0", "--tftp", "off"}, nil,
			[]string{`dhcp_interface "nosuch0": no such network interface`, "it has: lo"}},
		{"ipxe dir lacks files", []string{"--dhcp", "off", "--tftp", "127.0.0.1:0", "--ipxe-dir", noIPXE}, nil,
			[]string{"ipxe_dir " + noIPXE + " lacks snponly.efi", "apt-get install ipxe", "--tftp off"}},
		{"ipxe dir missing", []string{"--dhcp", "off", "--tftp", "127.0.0.1:0", "--ipxe-dir", filepath.Join(dir, "none")}, nil,
			[]string{"none does not exist", "--ipxe-dir"}},
		{"images dir", []string{"--dhcp", "off", "--tftp", "off", "--images-dir", filepath.Join(dir, "imgs")}, nil,
			[]string{"images directory does not exist: images_dir " + filepath.Join(dir, "imgs"), "mkbuild build"}},
		{"env value", []string{"--tftp", "off"}, []string{"RAZOR_DHCP=sometimes"},
			[]string{"dhcp (from RAZOR_DHCP)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data-dir", data, "--http-addr", "127.0.0.1:0"}, tc.args...)
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(append(os.Environ(), "RAZOR_NETBOOT_TEST_MAIN=1"), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("razor-netboot %v started; want a refusal", args)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("razor-netboot %v: output lacks %q:\n%s", args, w, out)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "imgs")); !os.IsNotExist(err) {
		t.Errorf("a missing images_dir was created: %v", err)
	}
}

// A data directory the server's user cannot write is refused in words,
// naming the user. Root writes anywhere, so the server runs without
// CAP_DAC_OVERRIDE (setpriv) against a directory owned by nobody.
func TestServeDataDirNotWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop CAP_DAC_OVERRIDE with setpriv")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps", "-all",
		os.Args[0], "serve", "--data-dir", data, "--dhcp", "off", "--tftp", "off", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RAZOR_NETBOOT_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("serve started on an unwritable data dir")
	}
	if want := "data_dir " + data + " is not writable by user root (uid 0): permission denied"; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// A second serve on the same data directory refuses to start and names
// the running one (its pid); the first keeps serving.
func TestSecondServeRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	s := startServer(t, dir)
	cmd := exec.Command(os.Args[0], "serve", "--dhcp", "off", "--tftp", "off", "--data-dir", dir, "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RAZOR_NETBOOT_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("second serve started on the same data directory")
	}
	want := fmt.Sprintf("razor-netboot serve, pid %d", s.cmd.Process.Pid)
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "already in use") {
		t.Errorf("second serve output lacks %q:\n%s", want, out)
	}
	resp, err := http.Get(s.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first server after the refusal: %v %v", resp, err)
	}
	resp.Body.Close()
}
