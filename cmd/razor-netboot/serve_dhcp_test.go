package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
)

// TestServeFullDHCPFromYAML runs `razor-netboot serve --config` with
// dhcp_subnets in a namespace and busybox udhcpc in another: the
// reserved client gets the address, host name, router, DNS, domain and
// lease time of the file, so the YAML reaches the DHCP server whole.
func TestServeFullDHCPFromYAML(t *testing.T) {
	testlab.Require(t, "busybox")
	srv := testlab.NewNetns(t, "yssrv")
	cli := testlab.NewNetns(t, "yscli")
	testlab.Veth(t, srv, "ys0", "10.66.0.1/24", cli, "yc0", "")
	cli.MustIP("link", "set", "yc0", "address", "52:54:00:66:00:07")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "razor-netboot.yaml")
	os.WriteFile(conf, []byte(`data_dir: `+dir+`
images_dir: `+filepath.Join(dir, "images")+`
http_addr: "10.66.0.1:8026"
tftp: "off"
dhcp: full
dhcp_interface: ys0
log_level: debug
dhcp_subnets:
  - subnet: 10.66.0.0/24
    ranges: [10.66.0.100-10.66.0.110]
    routers: [10.66.0.1]
    dns: [10.66.0.53]
    domain: yaml.example
    lease_time: 45m
    reservations:
      - mac: 52:54:00:66:00:07
        ip: 10.66.0.7
        hostname: from-yaml
`), 0o644)
	cmd := srv.Command(os.Args[0], "serve", "--config", conf)
	cmd.Env = append(os.Environ(), "RAZOR_NETBOOT_TEST_MAIN=1")
	p := testlab.Start(t, "razor-netboot", cmd)

	script := filepath.Join(dir, "udhcpc.sh")
	log := filepath.Join(dir, "udhcpc.env")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+log+".tmp && mv "+log+".tmp "+log+"\nexit 0\n"), 0o755)
	cli.MustIP("link", "set", "yc0", "up")
	out, err := cli.Command("busybox", "udhcpc", "-f", "-q", "-n", "-i", "yc0", "-s", script, "-t", "20", "-T", "1", "-O", "lease").CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s\nserver:\n%s", err, out, p.Output())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("udhcpc ran no bound script: %v\n%s", err, out)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = strings.TrimSpace(v)
		}
	}
	if !strings.Contains(p.Output(), "full on ys0, subnets 10.66.0.0/24 [10.66.0.100-10.66.0.110]") {
		t.Errorf("start-up summary does not name the subnets:\n%s", p.Output())
	}
	for k, want := range map[string]string{"ip": "10.66.0.7", "hostname": "from-yaml", "router": "10.66.0.1", "dns": "10.66.0.53",
		"domain": "yaml.example", "lease": "2700", "subnet": "255.255.255.0", "serverid": "10.66.0.1"} {
		if env[k] != want {
			t.Errorf("udhcpc %s = %q, want %q", k, env[k], want)
		}
	}
}

// TestServeRefusesBadSubnets: a bad dhcp_subnets entry stops serve
// before anything listens, naming the file, the line and the key.
func TestServeRefusesBadSubnets(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.yaml")
	os.WriteFile(conf, []byte(`data_dir: `+dir+`
tftp: "off"
dhcp: full
dhcp_interface: lo
dhcp_subnets:
  - subnet: 10.66.0.0/24
    ranges: [10.66.0.100-10.66.0.110]
    routers: [10.67.0.1]
`), 0o644)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(t.Context(), []string{"serve", "--config", conf}, &stdout, &stderr)
	want := conf + ":8: dhcp_subnets[0].routers[0]: 10.67.0.1 is not inside subnet 10.66.0.0/24"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("serve = %v, want an error containing %q", err, want)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("refusal took %v", time.Since(start))
	}
}
