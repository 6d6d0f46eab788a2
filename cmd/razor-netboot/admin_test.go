package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/daemon"
	"github.com/razor-mk/razor-mk/server/tlscert"
	"github.com/razor-mk/razor-mk/wire"
)

// startDaemon runs a server in-process on a loopback port.
func startDaemon(t *testing.T) (url, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.DHCP, cfg.TFTP, cfg.AdvertiseIP, cfg.RateLimit = dataDir, "127.0.0.1:0", "off", "off", "127.0.0.1", 0
	cfg.Store = "sqlite:" + filepath.Join(dataDir, "razor.db")
	cfg.ImagesDir = filepath.Join(dataDir, "images")
	d, err := daemon.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		d.Close()
	})
	return "http://" + d.Addr().String(), dataDir
}

// runCLI runs razor-netboot with args and returns stdout, stderr and the
// error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestAdminCLI(t *testing.T) {
	url, dir := startDaemon(t)
	// The token is read from the data directory's admin.token.
	t.Setenv("RAZOR_DATA_DIR", dir)
	t.Setenv("RAZOR_SERVER", url)
	t.Setenv("RAZOR_TOKEN", "")

	body, _ := wire.RegisterRequest{HWID: "525400000001", Facts: map[string]string{"processorcount": "4", "manufacturer": "Dell Inc."}}.Encode()
	resp, err := http.Post(url+wire.DefaultRegisterPath, wire.ContentTypeJSON, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	out, _, err := runCLI(t, "tags", "create", "dell", `["like", ["fact", "manufacturer"], "Dell.*"]`)
	if err != nil || out != `tag dell: ["like",["fact","manufacturer"],"Dell.*"] (1 nodes)`+"\n" {
		t.Errorf("tags create = %q, %v", out, err)
	}
	_, _, err = runCLI(t, "tags", "create", "bad", `["and", ["frob"]]`)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "rule[1]") {
		t.Errorf("tags create with a bad rule = %v, want a 400 naming rule[1]", err)
	}
	out, _, err = runCLI(t, "tags", "list")
	if err != nil || out != "NAME  NODES  RULE\ndell  1      [\"like\",[\"fact\",\"manufacturer\"],\"Dell.*\"]\n" {
		t.Errorf("tags list = %q, %v", out, err)
	}
	// A tag that does not exist is refused, unless asked for.
	_, _, err = runCLI(t, "policies", "create", "typo", "--tags", "del", "--local", "exit")
	if err == nil || !strings.Contains(err.Error(), `tag "del" does not exist`) || !strings.Contains(err.Error(), "--allow-unknown-tags") {
		t.Errorf("policies create with an unknown tag = %v, want it refused naming the tag and --allow-unknown-tags", err)
	}
	if _, _, err = runCLI(t, "policies", "create", "later", "--tags", "rack9", "--local", "exit", "--allow-unknown-tags"); err != nil {
		t.Errorf("policies create --allow-unknown-tags = %v", err)
	}
	if _, _, err = runCLI(t, "policies", "delete", "later"); err != nil {
		t.Error(err)
	}
	out, _, err = runCLI(t, "policies", "create", "install", "--order", "10", "--tags", "dell,cpus_4", "--max-count", "5",
		"--kernel", "http://10.0.0.1/linux", "--cmdline", "node={{.Node}}")
	want := "NAME     ORDER  ENABLED  TAGS         BOUND  TARGET\ninstall  10     true     cpus_4,dell  0/5    kernel http://10.0.0.1/linux\n"
	if err != nil || out != want {
		t.Errorf("policies create = %q, %v; want %q", out, err, want)
	}
	if _, _, err := runCLI(t, "policies", "create", "x", "--kernel", "/not/a/url"); err == nil || !strings.Contains(err.Error(), "target.kernel") {
		t.Errorf("policies create with a bad kernel = %v, want an error naming target.kernel", err)
	}
	if _, _, err := runCLI(t, "policies", "create", "x", "--local", "exit", "--poweroff"); err == nil {
		t.Errorf("policies create with two targets: no error")
	}
	out, _, err = runCLI(t, "policies", "disable", "install", "-o", "json")
	var p struct {
		Enabled *bool
		Target  struct{ Kind, Cmdline string }
	}
	if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.Enabled == nil || *p.Enabled || p.Target.Cmdline != "node={{.Node}}" {
		t.Errorf("policies disable -o json = %q, %v", out, err)
	}
	out, _, err = runCLI(t, "policies", "update", "install", "--max-count", "0", "-o", "json")
	if err != nil || !strings.Contains(out, `"max_count": 0`) || !strings.Contains(out, `"kind": "kernel"`) {
		t.Errorf("policies update = %q, %v", out, err)
	}

	out, _, err = runCLI(t, "nodes", "list", "-o", "json")
	var ns []struct {
		ID   string
		Tags []string
	}
	if err != nil || json.Unmarshal([]byte(out), &ns) != nil || len(ns) != 1 || ns[0].ID != "node1" || strings.Join(ns[0].Tags, ",") != "cpus_4,dell" {
		t.Errorf("nodes list -o json = %q, %v", out, err)
	}
	out, _, err = runCLI(t, "nodes", "list")
	if err != nil || !strings.HasPrefix(out, "ID     STATE   POLICY  MACS               IP  SERIAL  PRODUCT  TAGS         LAST CHECKIN\nnode1  active  -       52:54:00:00:00:01  -   -       -        cpus_4,dell  ") {
		t.Errorf("nodes list = %q, %v", out, err)
	}
	out, _, err = runCLI(t, "commands", "send", "node1", "reboot")
	if err != nil || out != "queued reboot for node1 (command 1)\n" {
		t.Errorf("commands send = %q, %v", out, err)
	}
	if _, _, err := runCLI(t, "commands", "send", "node1", "dance"); err == nil || !strings.Contains(err.Error(), "command") {
		t.Errorf("commands send dance = %v, want an error naming command", err)
	}
	out, _, err = runCLI(t, "nodes", "show", "node1")
	for _, want := range []string{"fact manufacturer  Dell Inc.", "fact processorcount  4", "command 1", "reboot (pending)", "pending_commands  1"} {
		if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("nodes show lacks %q:\n%s (%v)", want, out, err)
		}
	}
	out, _, err = runCLI(t, "commands", "list", "node1")
	if err != nil || !strings.Contains(out, "1   reboot") {
		t.Errorf("commands list = %q, %v", out, err)
	}
	if _, _, err := runCLI(t, "nodes", "show", "node9"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("nodes show node9 = %v, want 404", err)
	}
	if out, _, err := runCLI(t, "nodes", "delete", "node1"); err != nil || out != "deleted node1\n" {
		t.Errorf("nodes delete = %q, %v", out, err)
	}
	if out, _, err := runCLI(t, "policies", "delete", "install"); err != nil || out != "deleted policy install\n" {
		t.Errorf("policies delete = %q, %v", out, err)
	}
	if out, _, err := runCLI(t, "tags", "delete", "dell"); err != nil || out != "deleted tag dell\n" {
		t.Errorf("tags delete = %q, %v", out, err)
	}

	// A wrong token is refused; no token at all is a clear local error.
	if _, _, err := runCLI(t, "nodes", "list", "--token", "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("nodes list --token wrong = %v, want 401", err)
	}
	t.Setenv("RAZOR_DATA_DIR", t.TempDir())
	if _, _, err := runCLI(t, "nodes", "list"); err == nil || !strings.Contains(err.Error(), "no admin token") {
		t.Errorf("nodes list without a token = %v", err)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	if _, _, err := runCLI(t, "nodes", "list", "-o", "xml", "--token", strings.TrimSpace(string(tok))); err == nil || !strings.Contains(err.Error(), "-o") {
		t.Errorf("nodes list -o xml = %v, want an error naming -o", err)
	}
}

func TestAdminTokenFile(t *testing.T) {
	_, dir := startDaemon(t)
	st, err := os.Stat(filepath.Join(dir, "admin.token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token = %v, %v; want mode 0600", st, err)
	}
}

// razor-netboot tokens create|list|revoke against a running server: the
// created token works with its role, a revoked one does not.
func TestTokensCLI(t *testing.T) {
	url, dir := startDaemon(t)
	t.Setenv("RAZOR_DATA_DIR", dir)
	t.Setenv("RAZOR_SERVER", url)
	t.Setenv("RAZOR_TOKEN", "")
	out, errOut, err := runCLI(t, "tokens", "create", "ci", "--role", "operator")
	if err != nil {
		t.Fatalf("tokens create = %v %s", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "rzt_") || len(secret) != 4+64 {
		t.Fatalf("tokens create printed %q, want a token", out)
	}
	if _, _, err := runCLI(t, "tokens", "create", "bad", "--role", "root"); err == nil || !strings.Contains(err.Error(), "role") {
		t.Errorf("tokens create --role root = %v, want an error naming role", err)
	}
	// The operator creates a tag; it may not list tokens.
	if _, errOut, err := runCLI(t, "tags", "create", "any", `["=",1,1]`, "--token", secret); err != nil {
		t.Errorf("operator tags create = %v %s", err, errOut)
	}
	if _, _, err := runCLI(t, "tokens", "list", "--token", secret); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("operator tokens list = %v, want 403", err)
	}
	out, _, err = runCLI(t, "tokens", "list")
	if err != nil || !strings.Contains(out, "ci") || !strings.Contains(out, "operator") || strings.Contains(out, secret) {
		t.Errorf("tokens list = %v\n%s", err, out)
	}
	if _, errOut, err := runCLI(t, "tokens", "revoke", "ci"); err != nil {
		t.Fatalf("tokens revoke = %v %s", err, errOut)
	}
	if _, _, err := runCLI(t, "tags", "list", "--token", secret); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked token tags list = %v, want 401 revoked", err)
	}
	out, _, _ = runCLI(t, "tokens", "list", "-o", "json")
	var ts []map[string]any
	if err := json.Unmarshal([]byte(out), &ts); err != nil || len(ts) != 1 || ts[0]["revoked"] == nil {
		t.Errorf("tokens list -o json = %v %s, want ci revoked", err, out)
	}
}

// With --tls auto the CLI on the server reaches the admin API over HTTPS,
// trusting the data directory's CA; over plain HTTP from loopback it
// still works; a wrong --ca-file is refused by TLS.
func TestAdminCLIOverHTTPS(t *testing.T) {
	dataDir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.DHCP, cfg.TFTP, cfg.AdvertiseIP, cfg.RateLimit = dataDir, "127.0.0.1:0", "off", "off", "127.0.0.1", 0
	cfg.Store = "sqlite:" + filepath.Join(dataDir, "razor.db")
	cfg.ImagesDir = filepath.Join(dataDir, "images")
	cfg.TLS, cfg.HTTPSAddr = "auto", "127.0.0.1:0"
	d, err := daemon.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; d.Close() })
	t.Setenv("RAZOR_DATA_DIR", dataDir)
	t.Setenv("RAZOR_TOKEN", "")
	if out, errOut, err := runCLI(t, "tokens", "list", "--server", d.SecureURL()); err != nil {
		t.Errorf("tokens list over HTTPS = %v %s %s", err, out, errOut)
	}
	if _, errOut, err := runCLI(t, "nodes", "list", "--server", "http://"+d.Addr().String()); err != nil {
		t.Errorf("nodes list over HTTP from loopback = %v %s", err, errOut)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, err := tlscert.Auto(other, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "nodes", "list", "--server", d.SecureURL(), "--ca-file", filepath.Join(other, tlscert.CAFile)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("nodes list trusting another CA = %v, want a certificate error", err)
	}
	if _, _, err := runCLI(t, "nodes", "list", "--server", d.SecureURL(), "--ca-file", filepath.Join(other, "missing.pem")); err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("nodes list with a missing --ca-file = %v", err)
	}
}
