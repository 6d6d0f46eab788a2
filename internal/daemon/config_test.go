package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fl := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%v) = %v", args, err)
	}
	return LoadConfig(fl, func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatalf("LoadConfig() = %v", err)
	}
	if c.Store != "sqlite:/var/lib/razor/razor.db" || c.ImagesDir != "/var/lib/razor/images" || c.HTTPAddr != ":8026" ||
		c.RegisterTimeout != 120*time.Second || c.DHCP != "proxy" || c.TFTP != ":69" || c.IPXEDir != "/usr/lib/ipxe" {
		t.Errorf("LoadConfig() defaults = %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "razor.yaml")
	os.WriteFile(file, []byte("data_dir: /srv/razor\nhttp_addr: \":9000\"\nregister_timeout: 5m\ncheckin_interval: 30\ndhcp: off\nrate_limit: 2.5\n"), 0o644)
	c, err := load(t, []string{"--config", file, "--http-addr", ":9100"}, map[string]string{"RAZOR_CHECKIN_INTERVAL": "15", "RAZOR_TFTP": "off"})
	if err != nil {
		t.Fatalf("LoadConfig() = %v", err)
	}
	if c.DataDir != "/srv/razor" || c.Store != "sqlite:/srv/razor/razor.db" || c.HTTPAddr != ":9100" || c.RegisterTimeout != 5*time.Minute ||
		c.CheckinInterval != 15 || c.TFTP != "off" || c.DHCP != "off" || c.RateLimit != 2.5 {
		t.Errorf("LoadConfig() = %+v; want file < env < flags", c)
	}
	// RAZOR_CONFIG names the file too.
	c, err = load(t, nil, map[string]string{"RAZOR_CONFIG": file})
	if err != nil || c.DataDir != "/srv/razor" {
		t.Errorf("LoadConfig(RAZOR_CONFIG) = %+v, %v", c.DataDir, err)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.yaml", n))
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown yaml key", []string{"--config", write("data_dir: /x\nhttp_adr: :1\n")}, nil, "http_adr"},
		{"yaml type", []string{"--config", write("checkin_interval: often\n")}, nil, "often"},
		{"env type", nil, map[string]string{"RAZOR_REGISTER_TIMEOUT": "soon"}, "register_timeout (from RAZOR_REGISTER_TIMEOUT)"},
		{"env value", nil, map[string]string{"RAZOR_DHCP": "maybe"}, "dhcp (from RAZOR_DHCP): off, proxy or full"},
		{"env range", nil, map[string]string{"RAZOR_CHECKIN_WAIT": "999"}, "checkin_wait (from RAZOR_CHECKIN_WAIT)"},
		{"env store", nil, map[string]string{"RAZOR_STORE": "mysql://x"}, "store (from RAZOR_STORE)"},
		{"flag beats env", []string{"--log-level", "loud"}, map[string]string{"RAZOR_LOG_LEVEL": "info"}, "log_level (from --log-level)"},
		{"flag type", []string{"--checkin-interval", "x"}, nil, "--checkin-interval"},
		{"dhcp", []string{"--dhcp", "maybe"}, nil, "dhcp (from --dhcp):"},
		{"node token", []string{"--node-token", "sometimes"}, nil, "node_token"},
		{"full without interface", []string{"--dhcp", "full"}, nil, "dhcp_interface"},
		{"full without range", []string{"--dhcp", "full", "--dhcp-interface", "eth1"}, nil, "dhcp_range"},
		{"bad range", []string{"--dhcp-range", "10.0.0.9-10.0.0.1"}, nil, "dhcp_range"},
		{"store", []string{"--store", "mysql://x"}, nil, "store"},
		{"http addr", []string{"--http-addr", "8026"}, nil, "http_addr"},
		{"advertise", []string{"--advertise-ip", "0.0.0.0"}, nil, "advertise_ip"},
		{"tftp", []string{"--tftp", "yes"}, nil, "tftp"},
		{"interval", []string{"--checkin-interval", "0"}, nil, "checkin_interval"},
		{"wait", []string{"--checkin-wait", "301"}, nil, "checkin_wait"},
		{"mk log level", []string{"--mk-log-level", "loud"}, nil, "mk_log_level"},
		{"pattern", []string{"--fact-excl-pattern", "("}, nil, "fact_excl_pattern"},
		{"log format", []string{"--log-format", "xml"}, nil, "log_format"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "none.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadConfig(%v, %v) = %v, want an error naming %q", tc.args, tc.env, err, tc.want)
			}
			if tc.name != "missing file" && !errors.Is(err, ErrInvalid) {
				t.Errorf("LoadConfig(%v) = %v, want ErrInvalid", tc.args, err)
			}
		})
	}
}

func TestServerURL(t *testing.T) {
	c := DefaultConfig()
	c.AdvertiseIP, c.HTTPAddr = "192.0.2.7", ":8026"
	if got := c.ServerURL(); got != "http://192.0.2.7:8026" {
		t.Errorf("ServerURL() = %q", got)
	}
	c.AdvertiseIP, c.HTTPAddr = "", "198.51.100.1:80"
	if got := c.ServerURL(); got != "http://198.51.100.1:80" {
		t.Errorf("ServerURL() = %q", got)
	}
}

// The shipped example sets every key to its default.
func TestExampleIsDefaults(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "razor-netboot.yaml")
	got, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("LoadConfig(example) = %v", err)
	}
	want := DefaultConfig()
	want.fill()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("example config differs from the defaults (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(fields(), field{key: "dhcp_subnets"}) {
		if !strings.Contains(string(data), "\n"+f.key+":") {
			t.Errorf("example config lacks key %s", f.key)
		}
	}
}

// A file of comments only (the package's conffile as shipped, every key
// commented out) gives the defaults.
func TestCommentOnlyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "razor-netboot.yaml")
	os.WriteFile(file, []byte("# every key commented out\n# dhcp: proxy\n"), 0o644)
	c, err := load(t, []string{"--config", file}, nil)
	want := DefaultConfig()
	want.fill()
	if diff := cmp.Diff(want, c, cmpopts.EquateEmpty()); err != nil || diff != "" {
		t.Errorf("Load(comment-only file) = %v, differs from the defaults (-want +got):\n%s", err, diff)
	}
}
