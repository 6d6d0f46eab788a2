package httpapi

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/wire"
)

// mkController replays the loop of an original microkernel controller
// against the handler: the checkin request it builds, its registration,
// its first-checkin flag, and its config-change test with the
// save-and-restart that follows a change. hanlon selects Hanlon's
// controller (hnl_mk_control_server.rb, hnl_mk_configuration_manager.rb:
// uuid and mac_id, a text/json body, derived keys dropped from the saved
// copy before comparing, a merging save) over Razor's
// (rz_mk_control_server.rb: hw_id, a json_hash form, whole-file equality,
// an overwriting save).
type mkController struct {
	e        *env
	hanlon   bool
	uuid     string
	macs     string // hw_id / mac_id as the controller builds it
	facts    map[string]any
	first    bool           // /tmp/first_checkin.yaml
	conf     map[string]any // /tmp/mk_conf.yaml
	restarts int
	commands []string
}

// The shipped /tmp/mk_conf.yaml of each microkernel (mk_uri as rewritten
// by its init script).
func shippedConf(hanlon bool) map[string]any {
	if hanlon {
		return map[string]any{
			"mk_checkin_interval": 60.0, "mk_checkin_skew": 5.0, "mk_log_level": "Logger::INFO",
			"mk_fact_excl_pattern": "(^uptime.*$)|(^memory.*$)", "mk_uri": "http://10.0.0.1:8026",
			"mk_checkin_path": "/hanlon/api/v1/node/checkin", "mk_register_path": "/hanlon/api/v1/node/register",
		}
	}
	return map[string]any{
		"mk_checkin_interval": 60.0, "mk_checkin_skew": 5.0, "mk_log_level": "Logger::INFO",
		"mk_uri": "http://10.0.0.1:8026", "mk_checkin_path": "/razor/api/node/checkin",
		"mk_register_path": "/razor/api/node/register", "mk_fact_excl_pattern": wire.DefaultFactExclPattern,
		"mk_tce_mirror_port": 2157.0, "mk_tce_mirror_uri": "http://localhost:2157/tinycorelinux",
		"mk_tce_install_list_uri":  "http://localhost:2157/tinycorelinux/tce-install-list",
		"mk_kmod_install_list_uri": "http://localhost:2157/tinycorelinux/kmod-install-list",
		"mk_gem_mirror_uri":        "http://localhost:2158/gem-mirror",
		"mk_gemlist_uri":           "http://localhost:2158/gem-mirror/gems/gem.list",
	}
}

// iterate runs one pass of the controller's main loop.
func (m *mkController) iterate() {
	t := m.e.t
	t.Helper()
	var target string
	if m.hanlon {
		target = m.conf["mk_checkin_path"].(string) + "?uuid=" + m.uuid + "&mac_id=" + m.macs + "&last_state=idle"
	} else {
		target = m.conf["mk_checkin_path"].(string) + "?hw_id=" + m.macs + "&last_state=idle"
	}
	if m.first {
		target += "&first_checkin=true"
	}
	code, body := m.e.do("GET", target, "", "")
	var r struct {
		ErrCode  int `json:"errcode"`
		Response struct {
			CommandName string `json:"command_name"`
		} `json:"response"`
		ClientConfig map[string]any `json:"client_config"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
		t.Fatalf("checkin %s = %d %s", target, code, body)
	}
	if r.ErrCode != 0 {
		return
	}
	m.commands = append(m.commands, r.Response.CommandName)
	if r.Response.CommandName == "register" && m.register() && m.first {
		m.first = false
	}
	if r.ClientConfig == nil || !m.changed(r.ClientConfig) {
		return
	}
	// POST to the local web server, which saves and restarts the
	// controller.
	if m.hanlon {
		maps.Copy(m.conf, r.ClientConfig)
	} else {
		m.conf = maps.Clone(r.ClientConfig)
	}
	m.restarts++
}

func (m *mkController) changed(cfg map[string]any) bool {
	old := maps.Clone(m.conf)
	if m.hanlon {
		for _, k := range []string{"mk_uri", "mk_register_path", "mk_checkin_path"} {
			delete(old, k)
		}
	}
	return !cmp.Equal(old, cfg)
}

// register posts the facts as the controller's registration manager does
// and reports an HTTP success.
func (m *mkController) register() bool {
	t := m.e.t
	t.Helper()
	path := m.conf["mk_register_path"].(string)
	var code int
	var body string
	if m.hanlon {
		b, _ := json.Marshal(map[string]any{"uuid": m.uuid, "mac_id": m.macs, "attributes_hash": m.facts, "last_state": "idle"})
		code, body = m.e.do("POST", path, "text/json", string(b))
	} else {
		b, _ := json.Marshal(map[string]any{"@hw_id": m.macs, "@attributes_hash": m.facts, "@last_state": "idle"})
		code, body = m.e.do("POST", path, "application/x-www-form-urlencoded", form("json_hash", string(b)))
	}
	if code != 200 {
		t.Errorf("register = %d %s", code, body)
	}
	return code >= 200 && code < 300
}

// Facter 2.4's structured facts, as Hanlon's microkernel reports them
// (after its mk_fact_excl_pattern).
func facter24Facts() map[string]any {
	return map[string]any{
		"architecture": "x86_64", "processorcount": "2", "is_virtual": "true", "virtual": "kvm",
		"macaddress": "52:54:00:12:34:56", "memorysize_mb": "2000.00",
		"os": map[string]any{"name": "Debian", "family": "Debian",
			"release": map[string]any{"major": "12", "minor": "5", "full": "12.5"}},
		"processors": map[string]any{"count": 2, "physicalcount": 1,
			"models": []any{"QEMU Virtual CPU version 2.5+", "QEMU Virtual CPU version 2.5+"}},
		"partitions":    map[string]any{"vda1": map[string]any{"size": "20969472", "mount": "/"}},
		"system_uptime": map[string]any{"seconds": 42}, // excluded by Razor's pattern, not Hanlon's MK default
	}
}

// Hanlon's microkernel against /hanlon/api/v1: its structured facts are
// stored (the node registers once, not on every checkin), and the reply's
// client_config holds exactly Hanlon's keys, so the controller restarts
// once (its shipped config differs from the server's), not after every
// checkin.
func TestHanlonControllerLoop(t *testing.T) {
	e := newEnv(t, envOpts{})
	m := &mkController{e: e, hanlon: true, uuid: "564D8F2B-2FAE-4BD6-9BE1-C6E0FB0B2F3E", macs: "525400123456",
		facts: facter24Facts(), first: true, conf: shippedConf(true)}
	for range 11 {
		m.iterate()
		e.clock.Advance(60 * time.Second)
	}
	if m.restarts != 1 {
		t.Errorf("controller restarts over 11 checkins = %d, want 1", m.restarts)
	}
	wantCmds := append([]string{"register"}, slices.Repeat([]string{"acknowledge"}, 10)...)
	if diff := cmp.Diff(wantCmds, m.commands); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if m.first {
		t.Error("first_checkin flag still set: the registration did not succeed")
	}
	keys := slices.Sorted(maps.Keys(m.conf))
	wantKeys := []string{"mk_checkin_interval", "mk_checkin_path", "mk_checkin_skew", "mk_fact_excl_pattern", "mk_gem_mirror",
		"mk_gemlist_uri", "mk_kmod_install_list_uri", "mk_log_level", "mk_register_path", "mk_tce_install_list_uri",
		"mk_tce_mirror", "mk_uri"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("saved mk_conf.yaml keys (-want +got):\n%s", diff)
	}
	if m.conf["mk_fact_excl_pattern"] != wire.HanlonFactExclPattern {
		t.Errorf("mk_fact_excl_pattern = %v, want Hanlon's", m.conf["mk_fact_excl_pattern"])
	}

	// The structured facts are stored, flattened, and tags can match them.
	n, err := e.st.GetNode(t.Context(), "node1")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"os.release.major": "12", "os.name": "Debian", "processors.count": "2",
		"processors.models.1": "QEMU Virtual CPU version 2.5+", "partitions.vda1.mount": "/",
		"os": `{"family":"Debian","name":"Debian","release":{"full":"12.5","major":"12","minor":"5"}}`,
	} {
		if n.Facts[k] != want {
			t.Errorf("fact %s = %q, want %q", k, n.Facts[k], want)
		}
	}
	code, body := e.admin("POST", "/tags", `{"name":"debian12","rule":["and",["=",["fact","os.release.major"],"12"],["like",["fact","os"],"\"family\":\"Debian\""]]}`)
	if code != 201 {
		t.Fatalf("POST /tags = %d %s", code, body)
	}
	if ns := e.nodes(); len(ns) != 1 || !slices.Contains(toStrings(ns[0]["tags"]), "debian12") {
		t.Errorf("node tags = %v, want debian12", ns)
	}
}

// Razor's microkernel: its controller compares the whole saved file, so
// the three keys its shipped mk_conf.yaml has beyond ours must be sent
// with the original values, or every reply looks new.
func TestRazorControllerLoop(t *testing.T) {
	e := newEnv(t, envOpts{})
	m := &mkController{e: e, macs: "000C29A936AF_000C29FE8355", first: true, conf: shippedConf(false),
		facts: map[string]any{"processorcount": "2", "macaddress_eth0": "00:0C:29:A9:36:AF"}}
	for range 5 {
		m.iterate()
		e.clock.Advance(60 * time.Second)
	}
	// One restart: the shipped file says Logger::INFO, the server
	// Logger::ERROR (the original behaved so too).
	if m.restarts != 1 {
		t.Errorf("controller restarts over 5 checkins = %d, want 1", m.restarts)
	}
	if m.conf["mk_gemlist_uri"] != "http://localhost:2158/gem-mirror/gems/gem.list" || m.conf["mk_tce_mirror_port"] != 2157.0 {
		t.Errorf("saved config = %v, want the original gem list URI and mirror port", m.conf)
	}
	if diff := cmp.Diff([]string{"register", "acknowledge", "acknowledge", "acknowledge", "acknowledge"}, m.commands); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

// The original server read json_hash from the query string when the body
// had none (Express's req.param), and any first_checkin value as true.
func TestOriginalQueryForms(t *testing.T) {
	e := newEnv(t, envOpts{})
	jh := `{"@hw_id":"000C29A936AF","@attributes_hash":{"processorcount":"4"},"@last_state":"idle"}`
	code, body := e.do("POST", "/razor/api/node/register?json_hash="+url.QueryEscape(jh), "application/x-www-form-urlencoded", "")
	if code != 200 || !strings.Contains(body, `"@hw_id":["000C29A936AF"]`) {
		t.Fatalf("register with json_hash in the query = %d %s", code, body)
	}
	for _, v := range []string{"true", "false", "1", "yes", ""} {
		if cmd, code := e.checkin("hw_id=000C29A936AF&last_state=idle&first_checkin=" + v); cmd != wire.Register || code != 200 {
			t.Errorf("first_checkin=%q: %s %d, want register", v, cmd, code)
		}
	}
	if cmd, _ := e.checkin("hw_id=000C29A936AF&last_state=idle"); cmd != wire.Acknowledge {
		t.Errorf("no first_checkin: %s, want acknowledge", cmd)
	}
}
