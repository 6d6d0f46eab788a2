package wire

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The original server read json_hash from the body, else from the query
// string (Express's req.param).
func TestParseRegisterRequestQuery(t *testing.T) {
	jh := `{"@hw_id":"000C29A936AF","@attributes_hash":{"processorcount":"2"},"@last_state":"idle"}`
	want := RegisterRequest{HWID: "000C29A936AF", Facts: map[string]string{"processorcount": "2"}, LastState: "idle"}
	for _, tc := range []struct {
		name, ctype, body string
	}{
		{"empty body", "", ""},
		{"empty form body", "application/x-www-form-urlencoded", ""},
		{"form without json_hash", "application/x-www-form-urlencoded", "other=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRegisterRequest(tc.ctype, url.Values{"json_hash": {jh}}, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	// The body wins over the query.
	body := url.Values{"json_hash": {`{"@hw_id":"000C29000001","@attributes_hash":{"a":"b"}}`}}.Encode()
	got, err := ParseRegisterRequest("application/x-www-form-urlencoded", url.Values{"json_hash": {jh}}, []byte(body))
	if err != nil || got.HWID != "000C29000001" {
		t.Errorf("body and query: %+v, %v; want the body's hw_id", got, err)
	}
}

// Exactly the keys Hanlon's server sent (core/config/server.rb defaults
// and its fixed mk_fact_excl_pattern), and nothing else.
func TestHanlonClientConfig(t *testing.T) {
	b, err := json.Marshal(DefaultClientConfig().Hanlon())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"mk_checkin_interval":      60.0,
		"mk_checkin_skew":          5.0,
		"mk_log_level":             "Logger::ERROR",
		"mk_gem_mirror":            "http://localhost:2158/gem-mirror",
		"mk_gemlist_uri":           "/gems/gem.list",
		"mk_tce_mirror":            "http://localhost:2157/tinycorelinux",
		"mk_tce_install_list_uri":  "/tce-install-list",
		"mk_kmod_install_list_uri": "/kmod-install-list",
		"mk_fact_excl_pattern":     HanlonFactExclPattern,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Hanlon client_config mismatch (-want +got):\n%s", diff)
	}

	// An operator's settings carry over; list URIs under the mirror stay
	// relative to it, others fall back to Hanlon's defaults.
	c := DefaultClientConfig()
	c.CheckinInterval, c.LogLevel, c.FactExclPattern = 30, "Logger::DEBUG", "^x$"
	c.TCEMirrorURI = "http://10.0.0.1:8080/tc/"
	c.TCEInstallListURI = "http://10.0.0.1:8080/tc/lists/tce"
	c.KmodInstallListURI = "http://elsewhere/kmods"
	h := c.Hanlon()
	wantH := HanlonClientConfig{
		CheckinInterval: 30, CheckinSkew: 5, LogLevel: "Logger::DEBUG", GemMirror: "http://localhost:2158/gem-mirror",
		GemlistURI: "/gems/gem.list", TCEMirror: "http://10.0.0.1:8080/tc/", TCEInstallListURI: "/lists/tce",
		KmodInstallListURI: "/kmod-install-list", FactExclPattern: "^x$",
	}
	if diff := cmp.Diff(wantH, h); diff != "" {
		t.Errorf("operator config in Hanlon shape mismatch (-want +got):\n%s", diff)
	}
}

// The original Razor server's defaults for the keys its microkernel's
// shipped mk_conf.yaml carries besides ours.
func TestRazorClientConfigDefaults(t *testing.T) {
	c := DefaultClientConfig()
	got := []any{c.TCEMirrorPort, c.GemMirrorURI, c.GemlistURI}
	want := []any{2157, "http://localhost:2158/gem-mirror", "http://localhost:2158/gem-mirror/gems/gem.list"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c.TCEMirrorPort = 70000
	if err := c.Validate(); err == nil {
		t.Error("port 70000 validated")
	}
}
