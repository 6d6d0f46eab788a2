// This file is razor-netboot serve's configuration: one typed struct
// filled, in rising precedence, from its defaults, an optional YAML file
// (strict: an unknown key is an error naming it), RAZOR_* environment
// variables and command-line flags, then validated as a whole with the
// bad field named.
//
// Every field has a YAML key (snake_case), a flag (the key with dashes)
// and an environment variable (RAZOR_ and the key upper-cased): the key
// http_addr is --http-addr and RAZOR_HTTP_ADDR.

package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("config: invalid")

// Config is everything serve needs. The yaml tag is the key; help is the
// flag's help text.
type Config struct {
	// DataDir holds the store, the admin token and the default images
	// directory.
	DataDir string `yaml:"data_dir" help:"data directory: the SQLite store, admin.token, images/"`
	// Store is sqlite:PATH (default sqlite:<data_dir>/razor.db) or a
	// postgres:// URL.
	Store    string `yaml:"store" help:"store: sqlite:PATH or postgres://… (default sqlite:<data-dir>/razor.db)"`
	HTTPAddr string `yaml:"http_addr" help:"HTTP listen address: node API, /boot.ipxe, /images/, admin API, /metrics"`
	// AdvertiseIP is the address nodes reach this server at; default the
	// http_addr's IP, else the first non-loopback IPv4 address.
	AdvertiseIP string `yaml:"advertise_ip" help:"address nodes reach this server at (default: the first non-loopback IPv4)"`
	TFTP        string `yaml:"tftp" help:"TFTP: off or a listen address"`
	DHCP        string `yaml:"dhcp" help:"DHCP: off, proxy (beside an existing DHCP server) or full"`
	// DHCPInterface and DHCPRange (or DHCPSubnets) are required by full
	// DHCP.
	DHCPInterface string `yaml:"dhcp_interface" help:"interface full DHCP serves"`
	DHCPRange     string `yaml:"dhcp_range" help:"full DHCP address pool, FROM-TO (one subnet; dhcp_subnets in the file for more)"`
	// The one-subnet shorthand's options; lists are comma-separated.
	DHCPSubnet    string        `yaml:"dhcp_subnet" help:"full DHCP network in CIDR form (default: the interface's network holding the range)"`
	DHCPRouters   string        `yaml:"dhcp_routers" help:"full DHCP routers (option 3), comma-separated"`
	DHCPDNS       string        `yaml:"dhcp_dns" help:"full DHCP DNS servers (option 6), comma-separated"`
	DHCPNTP       string        `yaml:"dhcp_ntp" help:"full DHCP NTP servers (option 42), comma-separated"`
	DHCPDomain    string        `yaml:"dhcp_domain" help:"full DHCP domain name (option 15)"`
	DHCPSearch    string        `yaml:"dhcp_search" help:"full DHCP domain search list (option 119), comma-separated"`
	DHCPLeaseTime time.Duration `yaml:"dhcp_lease_time" help:"full DHCP lease time (default 1h; a subnet's lease_time wins)"`
	// UEFILoader is the first stage UEFI x86-64 PXE clients get; a
	// subnet or reservation of dhcp_subnets may set its own.
	UEFILoader string `yaml:"uefi_loader" help:"UEFI PXE loader: auto (shim when the image has the signed chain, else iPXE), ipxe or shim"`
	// DHCPSubnets configures full DHCP per subnet (YAML only, no flag):
	// several networks, relayed ones included, with reservations.
	DHCPSubnets []DHCPSubnet `yaml:"dhcp_subnets" flag:"-"`
	ImagesDir   string       `yaml:"images_dir" help:"microkernel images, one directory per image with manifest.json (default <data-dir>/images)"`
	IPXEDir     string       `yaml:"ipxe_dir" help:"iPXE binaries (undionly.kpxe, ipxe.efi, snponly.efi)"`

	AdminToken string `yaml:"admin_token" help:"admin API bearer token (default: read or created in <data-dir>/admin.token)"`
	// TLS serves the admin and node APIs over HTTPS on https_addr: "auto"
	// (a CA and server certificate made in <data_dir>/tls), or "off" with
	// tls_cert and tls_key set (the operator's certificate).
	TLS       string `yaml:"tls" help:"HTTPS for the admin and node APIs: off, or auto (a CA and certificate made in <data-dir>/tls); or give tls_cert and tls_key"`
	TLSCert   string `yaml:"tls_cert" help:"PEM certificate chain for HTTPS (the CA last, to let nodes pin it)"`
	TLSKey    string `yaml:"tls_key" help:"PEM private key of tls_cert"`
	HTTPSAddr string `yaml:"https_addr" help:"HTTPS listen address when TLS is on"`
	// NodeToken says when node requests must carry the node's boot token:
	// off, issued or always (core.TokenMode).
	NodeToken string `yaml:"node_token" help:"node boot tokens: off, issued (required once issued for a node) or always"`

	RegisterTimeout time.Duration `yaml:"register_timeout" help:"a node silent this long is asked to register again"`
	CheckinInterval int           `yaml:"checkin_interval" help:"seconds between a node's checkins (mk_checkin_interval)"`
	CheckinSkew     int           `yaml:"checkin_skew" help:"seconds of random delay before a node's first checkin (mk_checkin_skew)"`
	CheckinWait     int           `yaml:"checkin_wait" help:"seconds a node's checkin may be held for a command, 0 for none (mk_checkin_wait)"`
	MKLogLevel      string        `yaml:"mk_log_level" help:"the agent's log level (mk_log_level): Logger::DEBUG, INFO, WARN, ERROR or FATAL"`
	FactExclPattern string        `yaml:"fact_excl_pattern" help:"regular expression of fact names the agent does not report (mk_fact_excl_pattern)"`
	KernelArgs      string        `yaml:"kernel_args" help:"extra kernel arguments for the microkernel (console=ttyS0…)"`
	BootRetry       time.Duration `yaml:"boot_retry" help:"how long a failed boot script waits before rebooting"`

	MaxWaiters    int           `yaml:"max_waiters" help:"most long-poll checkins held at once"`
	RateLimit     float64       `yaml:"rate_limit" help:"node API requests per second per client address, 0 for no limit"`
	RateBurst     int           `yaml:"rate_burst" help:"node API burst per client address"`
	FlushInterval time.Duration `yaml:"flush_interval" help:"how often batched checkin times are written"`

	// Connection budgets (docs/operations.md, Hardening).
	HTTPMaxConns      int           `yaml:"http_max_conns" help:"most HTTP connections open at once, 0 for half the file descriptor limit"`
	HTTPMaxConnsPerIP int           `yaml:"http_max_conns_per_ip" help:"most HTTP connections open at once from one client address, 0 for no limit"`
	TFTPMaxTransfers  int           `yaml:"tftp_max_transfers" help:"most TFTP transfers running at once, 0 for no limit"`
	TFTPMaxPerIP      int           `yaml:"tftp_max_per_ip" help:"most TFTP transfers running at once to one client address, 0 for no limit"`
	EventsPerNode     int           `yaml:"events_per_node" help:"node events kept per node (its timeline), 0 for no bound"`
	EventsTotal       int           `yaml:"events_total" help:"node events kept in all, 0 for no bound"`
	EventsMaxAge      time.Duration `yaml:"events_max_age" help:"node events older than this are dropped, 0 for no bound"`
	CommandExpiry     time.Duration `yaml:"command_expiry" help:"a queued command not delivered within this long expires, 0 for never"`

	LogLevel  string `yaml:"log_level" help:"server log level: debug, info, warn or error"`
	LogFormat string `yaml:"log_format" help:"server log format: text or json"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:           "/var/lib/razor",
		HTTPAddr:          ":8026",
		TFTP:              ":69",
		DHCP:              "proxy",
		IPXEDir:           "/usr/lib/ipxe",
		RegisterTimeout:   120 * time.Second,
		NodeToken:         string(core.TokenIssued),
		TLS:               "off",
		HTTPSAddr:         ":8443",
		CheckinInterval:   60,
		CheckinSkew:       5,
		MKLogLevel:        "Logger::ERROR",
		FactExclPattern:   `(^facter.*$)|(^id$)|(^kernel.*$)|(^memoryfree$)|(^operating.*$)|(^osfamily$)|(^path$)|(^ps$)|(^ruby.*$)|(^selinux$)|(^ssh.*$)|(^swap.*$)|(^timezone$)|(^uniqueid$)|(^uptime.*$)|(.*json_str$)`,
		BootRetry:         15 * time.Second,
		MaxWaiters:        10000,
		RateLimit:         20,
		RateBurst:         40,
		FlushInterval:     time.Second,
		HTTPMaxConnsPerIP: 64,
		TFTPMaxTransfers:  256,
		TFTPMaxPerIP:      8,
		LogLevel:          "info",
		LogFormat:         "text",
		EventsPerNode:     1000,
		EventsTotal:       200000,
		EventsMaxAge:      30 * 24 * time.Hour,
		CommandExpiry:     24 * time.Hour,
	}
}

// field is one Config field with its names.
type field struct {
	key  string // yaml key
	flag string
	env  string
	help string
	idx  int
}

func fields() []field {
	t := reflect.TypeFor[Config]()
	out := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("flag") == "-" {
			continue // a list: the file only
		}
		key := f.Tag.Get("yaml")
		out = append(out, field{
			key: key, flag: strings.ReplaceAll(key, "_", "-"), env: "RAZOR_" + strings.ToUpper(key),
			help: f.Tag.Get("help"), idx: i,
		})
	}
	return out
}

// set parses s into field f of c.
func set(c *Config, f field, s string) error {
	v := reflect.ValueOf(c).Elem().Field(f.idx)
	switch v.Interface().(type) {
	case string:
		v.SetString(s)
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a whole number: %q", s)
		}
		v.SetInt(int64(n))
	case float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		v.SetFloat(n)
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a duration (120s, 2m): %q", s)
		}
		v.SetInt(int64(d))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func get(c *Config, f field) string {
	v := reflect.ValueOf(c).Elem().Field(f.idx)
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// flagValue holds a flag's text until Load applies it.
type flagValue struct {
	val, typ string
}

func (f *flagValue) String() string     { return f.val }
func (f *flagValue) Set(s string) error { f.val = s; return nil }
func (f *flagValue) Type() string       { return f.typ }

// Flags is the flag set Load reads; create it with AddFlags.
type Flags struct {
	fs     *pflag.FlagSet
	config *string
}

// AddFlags defines --config and one flag per field on fs, showing the
// defaults in the help.
func AddFlags(fs *pflag.FlagSet) *Flags {
	d := DefaultConfig()
	for _, f := range fields() {
		typ := reflect.TypeFor[Config]().Field(f.idx).Type.String()
		switch typ {
		case "time.Duration":
			typ = "duration"
		case "float64":
			typ = "float"
		}
		fs.Var(&flagValue{val: get(&d, f), typ: typ}, f.flag, f.help+" (env "+f.env+")")
	}
	return &Flags{fs: fs, config: fs.String("config", "", "YAML configuration file (env RAZOR_CONFIG); flags and RAZOR_* variables override it")}
}

// LoadConfig builds the configuration: defaults, then the YAML file (--config
// or RAZOR_CONFIG), then RAZOR_* variables (getenv; nil: os.Getenv), then
// the flags that were set; and validates it.
func LoadConfig(fl *Flags, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := DefaultConfig()
	path := *fl.config
	if path == "" {
		path = getenv("RAZOR_CONFIG")
	}
	var doc *yaml.Node
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(data, &c); err != nil {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
		// Kept to name the line of a bad setting found later.
		doc = new(yaml.Node)
		if err := yaml.Unmarshal(data, doc); err != nil {
			doc = nil
		}
	}
	from := map[string]string{}
	for _, f := range fields() {
		if s, ok := lookup(getenv, f.env); ok {
			if err := set(&c, f, s); err != nil {
				return c, fmt.Errorf("%w: %s (from %s): %v", ErrInvalid, f.key, f.env, err)
			}
			from[f.key] = f.env
		}
	}
	for _, f := range fields() {
		fv := fl.fs.Lookup(f.flag)
		if fv == nil || !fv.Changed {
			continue
		}
		if err := set(&c, f, fv.Value.String()); err != nil {
			return c, fmt.Errorf("%w: --%s: %v", ErrInvalid, f.flag, err)
		}
		from[f.key] = "--" + f.flag
	}
	c.fill()
	err := c.Validate()
	var fe *FieldError
	if errors.As(err, &fe) && fe.From == "" {
		fe.From = from[fe.Key]
	}
	return c, withLine(err, path, doc)
}

func lookup(getenv func(string) string, k string) (string, bool) {
	s := getenv(k)
	return s, s != ""
}

// decodeYAML decodes strictly: unknown keys are errors.
func decodeYAML(data []byte, c *Config) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// A file of comments only (the package's conffile as shipped) holds
	// no document: all defaults.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", ErrInvalid, strings.ReplaceAll(err.Error(), "in type config.Config", ""))
	}
	return nil
}

// fill derives the defaults that depend on other fields.
func (c *Config) fill() {
	if c.Store == "" {
		c.Store = "sqlite:" + filepath.Join(c.DataDir, "razor.db")
	}
	if c.ImagesDir == "" {
		c.ImagesDir = filepath.Join(c.DataDir, "images")
	}
}

// FieldError is a validation error naming the field's key and, when
// Load knows it, where the bad value came from (RAZOR_DHCP, --dhcp).
type FieldError struct {
	Key, From, Msg string
}

func (e *FieldError) Error() string {
	if e.From != "" {
		return fmt.Sprintf("%v: %s (from %s): %s", ErrInvalid, e.Key, e.From, e.Msg)
	}
	return fmt.Sprintf("%v: %s: %s", ErrInvalid, e.Key, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func bad(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks every field and names the first bad one by its key.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return bad("data_dir", "required")
	}
	if _, _, err := c.StoreKind(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return bad("http_addr", "%v", err)
	}
	if c.AdvertiseIP != "" {
		if a, err := netip.ParseAddr(c.AdvertiseIP); err != nil || a.IsUnspecified() {
			return bad("advertise_ip", "not a usable IP address: %q", c.AdvertiseIP)
		}
	}
	if c.TFTP != "off" {
		if _, _, err := net.SplitHostPort(c.TFTP); err != nil {
			return bad("tftp", "off or a listen address: %v", err)
		}
	}
	if err := c.validateDHCP(); err != nil {
		return err
	}
	if c.ImagesDir == "" {
		return bad("images_dir", "required")
	}
	switch {
	case c.TLS != "off" && c.TLS != "auto":
		return bad("tls", "off or auto, got %q", c.TLS)
	case c.TLS == "auto" && (c.TLSCert != "" || c.TLSKey != ""):
		return bad("tls", "auto makes its own certificate: leave tls_cert and tls_key empty")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return bad("tls_key", "tls_cert and tls_key go together")
	}
	if c.TLSEnabled() {
		if _, _, err := net.SplitHostPort(c.HTTPSAddr); err != nil {
			return bad("https_addr", "%v", err)
		}
	}
	if _, err := core.ParseTokenMode(c.NodeToken); err != nil {
		return bad("node_token", "off, issued or always, got %q", c.NodeToken)
	}
	if c.RegisterTimeout < time.Second {
		return bad("register_timeout", "at least 1s, got %s", c.RegisterTimeout)
	}
	if c.CheckinInterval < 1 || c.CheckinInterval > 86400 {
		return bad("checkin_interval", "1 to 86400 seconds, got %d", c.CheckinInterval)
	}
	if c.CheckinSkew < 0 || c.CheckinSkew > 3600 {
		return bad("checkin_skew", "0 to 3600 seconds, got %d", c.CheckinSkew)
	}
	if c.CheckinWait < 0 || c.CheckinWait > 300 {
		return bad("checkin_wait", "0 to 300 seconds, got %d", c.CheckinWait)
	}
	switch c.MKLogLevel {
	case "Logger::DEBUG", "Logger::INFO", "Logger::WARN", "Logger::ERROR", "Logger::FATAL":
	default:
		return bad("mk_log_level", "Logger::DEBUG, Logger::INFO, Logger::WARN, Logger::ERROR or Logger::FATAL, got %q", c.MKLogLevel)
	}
	if _, err := regexp.Compile(c.FactExclPattern); err != nil {
		return bad("fact_excl_pattern", "%v", err)
	}
	if strings.ContainsAny(c.KernelArgs, "\r\n") {
		return bad("kernel_args", "must be one line")
	}
	if c.BootRetry < time.Second || c.BootRetry > time.Hour {
		return bad("boot_retry", "1s to 1h, got %s", c.BootRetry)
	}
	if c.MaxWaiters < 0 {
		return bad("max_waiters", "must be >= 0, got %d", c.MaxWaiters)
	}
	if c.RateLimit < 0 {
		return bad("rate_limit", "must be >= 0, got %g", c.RateLimit)
	}
	if c.RateBurst < 0 {
		return bad("rate_burst", "must be >= 0, got %d", c.RateBurst)
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"http_max_conns", c.HTTPMaxConns}, {"http_max_conns_per_ip", c.HTTPMaxConnsPerIP}, {"tftp_max_transfers", c.TFTPMaxTransfers}, {"tftp_max_per_ip", c.TFTPMaxPerIP}} {
		if n.v < 0 {
			return bad(n.key, "must be >= 0, got %d", n.v)
		}
	}
	if c.FlushInterval < 10*time.Millisecond || c.FlushInterval > time.Minute {
		return bad("flush_interval", "10ms to 1m, got %s", c.FlushInterval)
	}
	if c.EventsPerNode < 0 {
		return bad("events_per_node", "must be >= 0, got %d", c.EventsPerNode)
	}
	if c.EventsTotal < 0 {
		return bad("events_total", "must be >= 0, got %d", c.EventsTotal)
	}
	if c.EventsMaxAge < 0 {
		return bad("events_max_age", "must be >= 0, got %s", c.EventsMaxAge)
	}
	if c.CommandExpiry < 0 {
		return bad("command_expiry", "must be >= 0, got %s", c.CommandExpiry)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return bad("log_format", "text or json, got %q", c.LogFormat)
	}
	if strings.ContainsAny(c.AdminToken, " \t\r\n") {
		return bad("admin_token", "must not contain spaces")
	}
	return nil
}

// StoreKind splits Store into its kind ("sqlite", "postgres") and the
// path or URL.
func (c Config) StoreKind() (kind, target string, err error) {
	kind, target, err = ParseStore(c.Store)
	if err != nil {
		return "", "", bad("store", "%v", err)
	}
	return kind, target, nil
}

// Advertise returns the IP nodes reach the server at: advertise_ip, else
// the http_addr's IP if specific, else the host's first non-loopback
// IPv4 address, else 127.0.0.1.
func (c Config) Advertise() netip.Addr {
	if a, err := netip.ParseAddr(c.AdvertiseIP); err == nil {
		return a
	}
	if host, _, err := net.SplitHostPort(c.HTTPAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			return a
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					ip = ip.Unmap()
					if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
						return ip
					}
				}
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// TLSEnabled reports whether the APIs are also served over HTTPS.
func (c Config) TLSEnabled() bool { return c.TLS == "auto" || c.TLSCert != "" }

// HTTPPort returns http_addr's port.
func (c Config) HTTPPort() int {
	_, p, _ := net.SplitHostPort(c.HTTPAddr)
	n, _ := strconv.Atoi(p)
	return n
}

// ServerURL is http://<advertise>:<port>.
func (c Config) ServerURL() string {
	return "http://" + netip.AddrPortFrom(c.Advertise(), uint16(c.HTTPPort())).String()
}
