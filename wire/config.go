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

// Defaults of the local services inside the microkernel.
const (
	DefaultWebPort       = 2156
	DefaultTCEMirrorPort = 2157
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
	// CheckinWait is the long-poll, in seconds, the agent asks for on each
	// checkin (0: none). Our addition.
	CheckinWait int `json:"mk_checkin_wait,omitempty" yaml:"mk_checkin_wait,omitempty"`
}

// DefaultClientConfig returns the original server's defaults. The derived
// keys (mk_uri and the paths) are left for the caller to fill.
func DefaultClientConfig() ClientConfig {
	mirror := fmt.Sprintf("http://localhost:%d/tinycorelinux", DefaultTCEMirrorPort)
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
	}
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
	if _, err := regexp.Compile(c.FactExclPattern); err != nil {
		return bad("mk_fact_excl_pattern", "%v", err)
	}
	for _, u := range []struct{ key, val string }{
		{"mk_uri", c.URI},
		{"mk_tce_mirror_uri", c.TCEMirrorURI},
		{"mk_tce_install_list_uri", c.TCEInstallListURI},
		{"mk_kmod_install_list_uri", c.KmodInstallListURI},
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
// Unknown keys (mk_gem_mirror_uri and friends from older servers) are
// ignored, as the original agent did.
func ParseClientConfig(data []byte) (ClientConfig, error) {
	var c ClientConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("wire: client_config: %w", err)
	}
	return c, c.Validate()
}
