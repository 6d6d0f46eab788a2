package wire

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultFactExclPattern is the original server's default for
// mk_fact_excl_pattern: facts that change on every boot or say nothing
// about the hardware.
const DefaultFactExclPattern = `(^facter.*$)|(^id$)|(^kernel.*$)|(^memoryfree$)|(^operating.*$)|(^osfamily$)|(^path$)|(^ps$)|(^ruby.*$)|(^selinux$)|(^ssh.*$)|(^swap.*$)|(^timezone$)|(^uniqueid$)|(^uptime.*$)|(.*json_str$)`

// HanlonFactExclPattern is Hanlon's server's mk_fact_excl_pattern (fixed
// in its code): the Razor default plus memoryfree_mb and every fact with
// uptime in its name.
const HanlonFactExclPattern = `(^facter.*$)|(^id$)|(^kernel.*$)|(^memoryfree$)|(^memoryfree_mb$)|(^operating.*$)|(^osfamily$)|(^path$)|(^ps$)|(^ruby.*$)|(^selinux$)|(^ssh.*$)|(^swap.*$)|(^timezone$)|(^uniqueid$)|(^.*uptime.*$)|(.*json_str$)`

// Defaults of the local services inside the microkernel.
const (
	DefaultWebPort       = 2156
	DefaultTCEMirrorPort = 2157
	DefaultGemMirrorPort = 2158
)

// ClientConfig is the client_config block of a checkin reply: the
// configuration the server wants the agent to run with. Field names are
// the original mk_* keys.
type ClientConfig struct {
	CheckinInterval    int    `json:"mk_checkin_interval" yaml:"mk_checkin_interval"`
	CheckinSkew        int    `json:"mk_checkin_skew" yaml:"mk_checkin_skew"`
	URI                string `json:"mk_uri,omitempty" yaml:"mk_uri,omitempty"`
	CheckinPath        string `json:"mk_checkin_path,omitempty" yaml:"mk_checkin_path,omitempty"`
	RegisterPath       string `json:"mk_register_path,omitempty" yaml:"mk_register_path,omitempty"`
	FactExclPattern    string `json:"mk_fact_excl_pattern" yaml:"mk_fact_excl_pattern"`
	LogLevel           string `json:"mk_log_level" yaml:"mk_log_level"`
	TCEMirrorURI       string `json:"mk_tce_mirror_uri,omitempty" yaml:"mk_tce_mirror_uri,omitempty"`
	TCEInstallListURI  string `json:"mk_tce_install_list_uri,omitempty" yaml:"mk_tce_install_list_uri,omitempty"`
	KmodInstallListURI string `json:"mk_kmod_install_list_uri,omitempty" yaml:"mk_kmod_install_list_uri,omitempty"`
	// The original Razor server also sent these; its microkernel read its
	// gem list from mk_gemlist_uri. Our agent ignores them.
	TCEMirrorPort int    `json:"mk_tce_mirror_port,omitempty" yaml:"mk_tce_mirror_port,omitempty"`
	GemMirrorURI  string `json:"mk_gem_mirror_uri,omitempty" yaml:"mk_gem_mirror_uri,omitempty"`
	GemlistURI    string `json:"mk_gemlist_uri,omitempty" yaml:"mk_gemlist_uri,omitempty"`
	// CheckinWait is the long-poll, in seconds, the agent asks for on each
	// checkin (0: none). Our addition.
	CheckinWait int `json:"mk_checkin_wait,omitempty" yaml:"mk_checkin_wait,omitempty"`
}

// DefaultClientConfig returns the original server's defaults. The derived
// keys (mk_uri and the paths) are left for the caller to fill.
func DefaultClientConfig() ClientConfig {
	mirror := fmt.Sprintf("http://localhost:%d/tinycorelinux", DefaultTCEMirrorPort)
	gemMirror := fmt.Sprintf("http://localhost:%d/gem-mirror", DefaultGemMirrorPort)
	return ClientConfig{
		CheckinInterval:    60,
		CheckinSkew:        5,
		CheckinPath:        DefaultCheckinPath,
		RegisterPath:       DefaultRegisterPath,
		FactExclPattern:    DefaultFactExclPattern,
		LogLevel:           "Logger::ERROR",
		TCEMirrorURI:       mirror,
		TCEInstallListURI:  mirror + "/tce-install-list",
		KmodInstallListURI: mirror + "/kmod-install-list",
		TCEMirrorPort:      DefaultTCEMirrorPort,
		GemMirrorURI:       gemMirror,
		GemlistURI:         gemMirror + "/gems/gem.list",
	}
}

// HanlonClientConfig is the client_config Hanlon's server sent: exactly
// these nine keys (every mk_* setting of its configuration plus the fixed
// fact exclusion pattern). It has no mk_uri and no paths: Hanlon's
// microkernel derives them itself and drops them from its saved copy
// before comparing, so any extra key makes every reply look new and
// restarts its controller.
type HanlonClientConfig struct {
	CheckinInterval    int    `json:"mk_checkin_interval"`
	CheckinSkew        int    `json:"mk_checkin_skew"`
	LogLevel           string `json:"mk_log_level"`
	GemMirror          string `json:"mk_gem_mirror"`
	GemlistURI         string `json:"mk_gemlist_uri"`
	TCEMirror          string `json:"mk_tce_mirror"`
	TCEInstallListURI  string `json:"mk_tce_install_list_uri"`
	KmodInstallListURI string `json:"mk_kmod_install_list_uri"`
	FactExclPattern    string `json:"mk_fact_excl_pattern"`
}

// Hanlon returns c in Hanlon's shape. Hanlon's list URIs are relative to
// its mirrors: a list URI under the mirror keeps its suffix, any other
// takes Hanlon's default. Razor's default fact exclusion pattern becomes
// Hanlon's; an operator's own pattern is kept.
func (c ClientConfig) Hanlon() HanlonClientConfig {
	d := DefaultClientConfig()
	h := HanlonClientConfig{
		CheckinInterval: c.CheckinInterval, CheckinSkew: c.CheckinSkew, LogLevel: c.LogLevel,
		GemMirror: or(c.GemMirrorURI, d.GemMirrorURI), TCEMirror: or(c.TCEMirrorURI, d.TCEMirrorURI),
		FactExclPattern: c.FactExclPattern,
	}
	if h.FactExclPattern == DefaultFactExclPattern || h.FactExclPattern == "" {
		h.FactExclPattern = HanlonFactExclPattern
	}
	rel := func(base, uri, def string) string {
		if rest, ok := strings.CutPrefix(uri, strings.TrimSuffix(base, "/")); ok && strings.HasPrefix(rest, "/") {
			return rest
		}
		return def
	}
	h.GemlistURI = rel(h.GemMirror, c.GemlistURI, "/gems/gem.list")
	h.TCEInstallListURI = rel(h.TCEMirror, c.TCEInstallListURI, "/tce-install-list")
	h.KmodInstallListURI = rel(h.TCEMirror, c.KmodInstallListURI, "/kmod-install-list")
	return h
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Validate checks the values an agent relies on and names the first bad key.
func (c ClientConfig) Validate() error {
	if c.CheckinInterval <= 0 {
		return bad("mk_checkin_interval", "must be > 0, got %d", c.CheckinInterval)
	}
	if c.CheckinInterval > 86400 {
		return bad("mk_checkin_interval", "must be at most 86400, got %d", c.CheckinInterval)
	}
	if c.CheckinSkew < 0 {
		return bad("mk_checkin_skew", "must be >= 0, got %d", c.CheckinSkew)
	}
	if c.CheckinWait < 0 || c.CheckinWait > int(MaxWait.Seconds()) {
		return bad("mk_checkin_wait", "must be within 0..%d, got %d", int(MaxWait.Seconds()), c.CheckinWait)
	}
	if c.TCEMirrorPort < 0 || c.TCEMirrorPort > 65535 {
		return bad("mk_tce_mirror_port", "not a port: %d", c.TCEMirrorPort)
	}
	if _, err := regexp.Compile(c.FactExclPattern); err != nil {
		return bad("mk_fact_excl_pattern", "%v", err)
	}
	for _, u := range []struct{ key, val string }{
		{"mk_uri", c.URI},
		{"mk_tce_mirror_uri", c.TCEMirrorURI},
		{"mk_tce_install_list_uri", c.TCEInstallListURI},
		{"mk_kmod_install_list_uri", c.KmodInstallListURI},
		{"mk_gem_mirror_uri", c.GemMirrorURI},
		{"mk_gemlist_uri", c.GemlistURI},
	} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return bad(u.key, "not an http(s) URL: %q", u.val)
		}
	}
	for _, p := range []struct{ key, val string }{
		{"mk_checkin_path", c.CheckinPath},
		{"mk_register_path", c.RegisterPath},
	} {
		if p.val != "" && !strings.HasPrefix(p.val, "/") {
			return bad(p.key, "must start with /: %q", p.val)
		}
	}
	return nil
}

// WithoutDerived returns c with the keys an agent derives itself (mk_uri,
// mk_checkin_path, mk_register_path) cleared. Hanlon compared configs this
// way to avoid a restart loop when the server and node see different
// addresses for the same server.
func (c ClientConfig) WithoutDerived() ClientConfig {
	c.URI, c.CheckinPath, c.RegisterPath = "", "", ""
	return c
}

// SameAs reports whether c and o are equal, ignoring derived keys.
func (c ClientConfig) SameAs(o ClientConfig) bool {
	return c.WithoutDerived() == o.WithoutDerived()
}

// MergeDerived returns c with the derived keys taken from base where c
// leaves them empty.
func (c ClientConfig) MergeDerived(base ClientConfig) ClientConfig {
	if c.URI == "" {
		c.URI = base.URI
	}
	if c.CheckinPath == "" {
		c.CheckinPath = base.CheckinPath
	}
	if c.RegisterPath == "" {
		c.RegisterPath = base.RegisterPath
	}
	return c
}

// ParseClientConfig decodes a client_config JSON object and validates it.
// Unknown keys are ignored, as the original agent did.
func ParseClientConfig(data []byte) (ClientConfig, error) {
	var c ClientConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("wire: client_config: %w", err)
	}
	return c, c.Validate()
}
