package controller

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/wire"
)

func TestLoadConfig(t *testing.T) {
	def := wire.DefaultClientConfig()
	withInterval := def
	withInterval.CheckinInterval = 30
	withInterval.LogLevel = "Logger::INFO"
	json := def
	json.CheckinSkew = 9
	tests := []struct {
		name    string
		content string // "" : no file
		want    wire.ClientConfig
		wantErr string
	}{
		{name: "missing", want: def},
		{
			name: "original mk_conf.yaml, partial, unknown keys",
			content: "---\nmk_checkin_interval: 30\nmk_log_level: Logger::INFO\n" +
				"mk_gem_mirror_uri: http://localhost:2158/gem-mirror\n",
			want: withInterval,
		},
		{name: "JSON", content: `{"mk_checkin_skew": 9}`, want: json},
		{name: "bad interval", content: "mk_checkin_interval: 0\n", wantErr: "mk_checkin_interval"},
		{name: "bad regex", content: "mk_fact_excl_pattern: \"(\"\n", wantErr: "mk_fact_excl_pattern"},
		{name: "not YAML", content: "mk_checkin_interval: [\n", wantErr: "yaml"},
		{name: "wrong type", content: "mk_checkin_interval: soon\n", wantErr: "mk_checkin_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mk_conf.yaml")
			if tt.content != "" {
				if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := LoadConfig(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadConfig(%q) = %v, want an error naming %s", tt.content, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig(%q) = %v", tt.content, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoadConfig(%q) mismatch (-want +got):\n%s", tt.content, diff)
			}
		})
	}
}

func TestSaveConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mk_conf.yaml")
	cfg := wire.DefaultClientConfig()
	cfg.URI = "http://10.0.0.1:8026"
	cfg.CheckinWait = 25
	for range 2 { // the second write replaces the first
		if err := SaveConfig(p, cfg); err != nil {
			t.Fatalf("SaveConfig = %v", err)
		}
	}
	got, err := LoadConfig(p)
	if err != nil {
		t.Fatalf("LoadConfig = %v", err)
	}
	if diff := cmp.Diff(cfg, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Errorf("directory after SaveConfig holds %d entries (%v), want only the config (no temp files)", len(ents), err)
	}
	if err := SaveConfig(filepath.Join(dir, "missing", "x.yaml"), cfg); err == nil {
		t.Error("SaveConfig into a missing directory = nil error")
	}
}

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"Logger::DEBUG": slog.LevelDebug,
		"Logger::INFO":  slog.LevelInfo,
		"Logger::WARN":  slog.LevelWarn,
		"Logger::ERROR": slog.LevelError,
		"Logger::FATAL": slog.LevelError + 4,
		"debug":         slog.LevelDebug,
		" warn ":        slog.LevelWarn,
		"":              slog.LevelInfo,
		"chatty":        slog.LevelInfo,
	} {
		if got := ParseLogLevel(in); got != want {
			t.Errorf("ParseLogLevel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLoadState(t *testing.T) {
	dir := t.TempDir()
	st, err := loadState(dir)
	if err != nil || !st.firstCheckin || st.factsHash != "" {
		t.Fatalf("loadState(empty) = %+v, %v; want first checkin, no facts", st, err)
	}
	facts := map[string]string{"a": "1", "b": "2"}
	if err := st.registered(facts); err != nil {
		t.Fatalf("registered = %v", err)
	}
	again, err := loadState(dir)
	if err != nil || again.firstCheckin || again.factsHash != factsHash(map[string]string{"b": "2", "a": "1"}) {
		t.Errorf("loadState(after registration) = %+v, %v", again, err)
	}
	// The original's YAML form of the flag.
	if err := os.WriteFile(filepath.Join(dir, FirstCheckinFile), []byte("--- true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := loadState(dir); err != nil || !st.firstCheckin {
		t.Errorf("loadState(--- true) = %+v, %v; want first checkin", st, err)
	}
	if err := os.WriteFile(filepath.Join(dir, FirstCheckinFile), []byte("maybe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, RegisteredFactsFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = loadState(dir)
	if err == nil || !st.firstCheckin || st.factsHash != "" {
		t.Errorf("loadState(corrupt) = %+v, %v; want an error and a fresh state", st, err)
	}
}

func TestChangedFacts(t *testing.T) {
	old := map[string]string{"a": "1", "b": "2", "gone": "x"}
	new := map[string]string{"a": "1", "b": "3", "new": "y"}
	if diff := cmp.Diff([]string{"b", "gone", "new"}, changedFacts(old, new, 10)); diff != "" {
		t.Errorf("changedFacts mismatch (-want +got):\n%s", diff)
	}
	if got := changedFacts(old, new, 1); len(got) != 2 || got[1] != "…" {
		t.Errorf("changedFacts(limit 1) = %v", got)
	}
}

func TestWriteFileAtomicFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory where the file should go: the rename fails.
	p := filepath.Join(dir, "f")
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("new"), 0o644); err == nil {
		t.Error("writeFileAtomic over a non-empty directory = nil error")
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Errorf("directory after a failed write holds %d entries (%v), want 1 (no temp file)", len(ents), err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("---\nmk_checkin_interval: 30\nmk_log_level: Logger::INFO\n"))
	f.Add([]byte(`{"mk_checkin_skew": 9, "mk_uri": "http://10.0.0.1:8026"}`))
	f.Add([]byte("mk_fact_excl_pattern: \"(\"\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("mk_checkin_interval: {a: [1, 2]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if cfg != wire.DefaultClientConfig() {
				t.Fatalf("ParseConfig(%q) failed but returned a non-default config", data)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig(%q) accepted an invalid config: %v", data, err)
		}
		// What the agent saves, it reads back the same.
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := SaveConfig(p, cfg); err != nil {
			t.Fatal(err)
		}
		back, err := LoadConfig(p)
		if err != nil || back != cfg {
			t.Fatalf("round trip of %+v = %+v, %v", cfg, back, err)
		}
	})
}
