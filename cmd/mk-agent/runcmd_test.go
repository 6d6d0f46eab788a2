package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/syncbuf"
	"github.com/razor-mk/razor-mk/wire"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunEndToEnd runs `mk-agent run` against an httptest Razor server:
// discovery from the kernel command line, registration of the facts of a
// captured tree with the boot token, a reboot command obeyed in dry-run,
// and the local web server and mirror answering.
func TestRunEndToEnd(t *testing.T) {
	type event struct {
		kind string
		req  any
	}
	events := make(chan event, 100)
	cfg := wire.DefaultClientConfig()
	cfg.CheckinInterval, cfg.CheckinSkew = 1, 0
	var mu sync.Mutex
	registered := false
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.DefaultCheckinPath, func(w http.ResponseWriter, r *http.Request) {
		req, err := wire.ParseCheckinQuery(r.URL.Query())
		if err != nil {
			t.Errorf("bad checkin %q: %v", r.URL.RawQuery, err)
		}
		events <- event{"checkin", req}
		mu.Lock()
		c := wire.Register
		if registered {
			c = wire.Reboot
		}
		mu.Unlock()
		json.NewEncoder(w).Encode(wire.OK(c, &cfg))
	})
	mux.HandleFunc("POST "+wire.DefaultRegisterPath, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := wire.ParseRegister(r.Header.Get("Content-Type"), body)
		if err != nil {
			t.Errorf("bad register: %v", err)
		}
		mu.Lock()
		registered = true
		mu.Unlock()
		events <- event{"register", req}
		w.Write([]byte(`{"errcode":0,"result":"Ok"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	cmdline := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(cmdline, []byte("console=ttyS0 razor.server="+srv.URL+" razor.token=boot-42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "mk_conf.yaml")
	if err := os.WriteFile(conf, []byte("mk_checkin_interval: 1\nmk_checkin_skew: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(dir, "tinycorelinux")
	if err := os.MkdirAll(mirror, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mirror, "tce-install-list"), []byte("open-vm-tools.tcz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	webAddr, mirrorAddr := freeAddr(t), freeAddr(t)
	var stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "--dry-run", "--cmdline", cmdline, "--config", conf,
			"--state-dir", filepath.Join(dir, "state"), "--lease-dir", filepath.Join(dir, "leases"),
			"--facts-root", qemuTree, "--web-addr", webAddr, "--mirror-addr", mirrorAddr, "--mirror-dir", mirror,
			"--log-level", "debug"}, io.Discard, &stderr)
	}()

	var gotReg wire.RegisterRequest
	var checkins []wire.CheckinRequest
	deadline := time.After(20 * time.Second)
	for len(checkins) < 2 || gotReg.HWID == "" {
		select {
		case e := <-events:
			switch r := e.req.(type) {
			case wire.CheckinRequest:
				checkins = append(checkins, r)
			case wire.RegisterRequest:
				gotReg = r
			}
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no checkin and registration within 20 s; log:\n%s", stderr.String())
		}
	}
	if !checkins[0].FirstCheckin || checkins[0].Token != "boot-42" || checkins[0].HWID != "525400123401_525400123402" {
		t.Errorf("first checkin = %+v, want first_checkin, token boot-42, hw_id of the qemu tree", checkins[0])
	}
	if checkins[1].FirstCheckin {
		t.Errorf("second checkin = %+v, want first_checkin false", checkins[1])
	}
	if gotReg.Token != "boot-42" || gotReg.Facts["serialnumber"] != "QEMU-NODE-0001" || gotReg.Facts["kernelrelease"] != "" {
		t.Errorf("registration token %q serialnumber %q kernelrelease %q; want boot-42, QEMU-NODE-0001, excluded",
			gotReg.Token, gotReg.Facts["serialnumber"], gotReg.Facts["kernelrelease"])
	}
	// The reboot is only logged in dry-run.
	for !strings.Contains(stderr.String(), "dry run: would") {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("no dry-run reboot within 20 s; log:\n%s", stderr.String())
		}
	}

	resp, err := http.Get("http://" + webAddr + "/status")
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	var st struct {
		Server       string `json:"server"`
		ServerSource string `json:"server_source"`
		Registered   bool   `json:"registered"`
		FactsCount   int    `json:"facts_count"`
		Version      string `json:"version"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Server != srv.URL || st.ServerSource != "cmdline razor.server" || !st.Registered || st.FactsCount == 0 || st.Version == "" {
		t.Errorf("GET /status = %+v", st)
	}
	resp, err = http.Post("http://"+webAddr+"/setMkConfig", "text/json", strings.NewReader(`{"mk_checkin_interval":7}`))
	if err != nil {
		t.Fatalf("POST /setMkConfig: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "New configuration saved, Microkernel Controller restarted" {
		t.Errorf("POST /setMkConfig = %q", body)
	}
	// The server's next client_config (interval 1) wins again at once, so
	// look at the log rather than the file.
	if !strings.Contains(stderr.String(), "new configuration from setMkConfig") {
		t.Errorf("log lacks the setMkConfig restart:\n%s", stderr.String())
	}
	resp, err = http.Get("http://" + mirrorAddr + "/tinycorelinux/tce-install-list")
	if err != nil {
		t.Fatalf("GET tce-install-list: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "[\n  \"open-vm-tools.tcz\"\n]\n" {
		t.Errorf("GET tce-install-list = %q", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop within 10 s of cancel")
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	badConf := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConf, []byte("mk_fact_excl_pattern: \"(\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "bad server", args: []string{"--server", "ftp://x"}, want: "--server"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, want: "--log-level"},
		{name: "bad config", args: []string{"--config", badConf}, want: "mk_fact_excl_pattern"},
		{name: "bad env", env: map[string]string{"RAZOR_DRY_RUN": "perhaps"}, want: "RAZOR_DRY_RUN"},
		{name: "stray argument", args: []string{"extra"}, want: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stderr syncbuf.Buffer
			args := append([]string{"run", "--state-dir", filepath.Join(dir, "state"), "--web-addr", "off", "--mirror-addr", "off"}, tt.args...)
			err := run(context.Background(), args, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
				t.Errorf("mk-agent %v = %v (stderr %q), want an error naming %s", args, err, stderr.String(), tt.want)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	t.Setenv("RAZOR_SERVER", "http://10.9.8.7:8026")
	t.Setenv("RAZOR_WEB_ADDR", "off")
	cmd := newRunCmd()
	if err := cmd.Flags().Parse([]string{"--web-addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd.Flags()); err != nil {
		t.Fatalf("applyEnv = %v", err)
	}
	if got, _ := cmd.Flags().GetString("server"); got != "http://10.9.8.7:8026" {
		t.Errorf("--server from RAZOR_SERVER = %q", got)
	}
	if got, _ := cmd.Flags().GetString("web-addr"); got != "127.0.0.1:1" {
		t.Errorf("--web-addr = %q, want the command line to beat RAZOR_WEB_ADDR", got)
	}
}
