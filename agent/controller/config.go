package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/razor-mk/razor-mk/wire"
	"gopkg.in/yaml.v3"
)

// MaxConfigFile bounds the config file the agent reads.
const MaxConfigFile = 1 << 20

// LoadConfig reads the agent's config file (see ParseConfig). A missing
// file yields wire.DefaultClientConfig and no error.
func LoadConfig(path string) (wire.ClientConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return wire.DefaultClientConfig(), nil
	}
	if err != nil {
		return wire.DefaultClientConfig(), fmt.Errorf("controller: config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return cfg, fmt.Errorf("controller: config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes a config file, the original's mk_conf.yaml: YAML,
// or JSON, with the client_config mk_* keys. Keys it leaves out keep
// wire.DefaultClientConfig's values; unknown keys are ignored as the
// original ignored them. A file that does not parse or validate yields an
// error naming the key, and the defaults.
func ParseConfig(data []byte) (wire.ClientConfig, error) {
	if len(data) > MaxConfigFile {
		return wire.DefaultClientConfig(), fmt.Errorf("larger than %d bytes", MaxConfigFile)
	}
	// Through a generic map and JSON, so that a wrongly typed value's
	// error names its key (yaml.v3's names only the line).
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return wire.DefaultClientConfig(), err
	}
	j, err := json.Marshal(raw)
	if err != nil {
		return wire.DefaultClientConfig(), err
	}
	cfg := wire.DefaultClientConfig()
	if err := json.Unmarshal(j, &cfg); err != nil {
		return wire.DefaultClientConfig(), err
	}
	if err := cfg.Validate(); err != nil {
		return wire.DefaultClientConfig(), err
	}
	return cfg, nil
}

// configHeader starts every config file the agent writes.
const configHeader = `# mk_conf.yaml: the configuration mk-agent runs with, as the Razor
# server sent it (client_config) or as POST /setMkConfig set it. mk_uri and
# the paths are derived by the agent from server discovery. Written by
# mk-agent, atomically; edits are overwritten when the server's config
# changes.
`

// SaveConfig writes cfg to path atomically (temporary file, fsync,
// rename, fsync of the directory), as YAML.
func SaveConfig(path string, cfg wire.ClientConfig) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("controller: config: %w", err)
	}
	if err := writeFileAtomic(path, append([]byte(configHeader), data...), 0o644); err != nil {
		return fmt.Errorf("controller: config: %w", err)
	}
	return nil
}

// ParseLogLevel maps an mk_log_level (the original's Ruby names
// "Logger::DEBUG" … "Logger::FATAL", or plain "debug", "info", "warn",
// "error") to a slog level. Unknown values give Info, as in the original.
func ParseLogLevel(s string) slog.Level {
	s = strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "Logger::")))
	switch s {
	case "DEBUG":
		return slog.LevelDebug
	case "WARN", "WARNING":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	case "FATAL", "UNKNOWN":
		return slog.LevelError + 4
	}
	return slog.LevelInfo
}
