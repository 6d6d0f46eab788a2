package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/razor-mk/razor-mk/wire"
)

func TestEventsCLI(t *testing.T) {
	url, dir := startDaemon(t)
	t.Setenv("RAZOR_DATA_DIR", dir)
	t.Setenv("RAZOR_SERVER", url)
	t.Setenv("RAZOR_TOKEN", "")
	body, _ := wire.RegisterRequest{HWID: "525400000001", Facts: map[string]string{"processorcount": "4", "serialnumber": "SER123"}}.Encode()
	resp, err := http.Post(url+wire.DefaultRegisterPath, wire.ContentTypeJSON, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The recorder writes in batches: wait for the registration.
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out, _, err = runCLI(t, "nodes", "events", "node1"); err == nil && strings.Contains(out, "node.registered") {
			break
		}
	}
	if !strings.Contains(out, "+REL") || !strings.Contains(out, "node.registered") || !strings.Contains(out, "facts=2") {
		t.Fatalf("nodes events node1 =\n%s (err %v)", out, err)
	}
	// A node is found by id, MAC in any spelling, or serial number.
	for _, key := range []string{"node1", "52-54-00-00-00-01", "525400000001", "SER123"} {
		out, _, err := runCLI(t, "nodes", "show", key, "-o", "json")
		if err != nil || !strings.Contains(out, `"id": "node1"`) {
			t.Errorf("nodes show %s = %v\n%s", key, err, out)
		}
	}
	if _, _, err := runCLI(t, "nodes", "show", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("nodes show nope = %v, want a 404", err)
	}
	if _, _, err := runCLI(t, "commands", "send", "node1", "reboot"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCLI(t, "commands", "cancel", "node1", "1"); err != nil || !strings.Contains(out, "cancelled reboot for node1") {
		t.Errorf("commands cancel = %v %q", err, out)
	}
	// -o json: one event per line, in order; -o yaml parses.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out, _, err = runCLI(t, "events", "--type", "command", "-o", "json"); err == nil && strings.Contains(out, "command.cancelled") {
			break
		}
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var got []string
	for dec.More() {
		var ev struct{ Type string }
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("events -o json: %v\n%s", err, out)
		}
		got = append(got, ev.Type)
	}
	if strings.Join(got, " ") != "command.queued command.cancelled" {
		t.Errorf("events --type command = %v", got)
	}
	out, _, err = runCLI(t, "events", "--absolute", "--since", "1h", "--node", "node1")
	if err != nil || strings.Contains(out, "+REL") || !strings.Contains(out, "command.cancelled") {
		t.Errorf("events --absolute --since 1h =\n%s (err %v)", out, err)
	}
	if out, _, err := runCLI(t, "nodes", "list", "--fact", "serialnumber=SER123", "--tag", "cpus_4", "-o", "wide"); err != nil || !strings.Contains(out, "node1") || !strings.Contains(out, "SER123") || !strings.Contains(out, "PENDING") {
		t.Errorf("nodes list --fact --tag -o wide = %v\n%s", err, out)
	}
	if out, _, err := runCLI(t, "nodes", "list", "--fact", "serialnumber=OTHER"); err != nil || strings.Contains(out, "node1") {
		t.Errorf("nodes list --fact serialnumber=OTHER = %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "tags", "create", "four", `["=",["fact","processorcount"],"4"]`); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCLI(t, "tags", "show", "four"); err != nil || !strings.Contains(out, "node1") || !strings.Contains(out, "LAST CHECKIN") {
		t.Errorf("tags show four = %v\n%s", err, out)
	}
	if out, _, err := runCLI(t, "tags", "show", "four", "-o", "json"); err != nil || !strings.Contains(out, `"matching_nodes"`) {
		t.Errorf("tags show four -o json = %v\n%s", err, out)
	}
	// Dynamic completion asks the server.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "nodes", "show", ""}, "node1\n"},
		{[]string{"__complete", "tags", "show", ""}, "four\n"},
		{[]string{"__complete", "commands", "send", "node1", ""}, "reboot\npoweroff\nregister\n"},
		{[]string{"__complete", "nodes", "list", "--state", ""}, "active\ninactive\nbound\nbooted\nfailed\n"},
		{[]string{"__complete", "nodes", "list", "--tag", ""}, "four\n"},
	} {
		out, _, err := runCLI(t, tc.args...)
		if err != nil || !strings.HasPrefix(out, tc.want) {
			t.Errorf("%v = %v\n%q, want it to begin %q", tc.args, err, out, tc.want)
		}
	}
	if out, _, err := runCLI(t, "version"); err != nil || !strings.Contains(out, "client: razor-netboot") || !strings.Contains(out, "server: "+url+" dev (commit unknown") {
		t.Errorf("version = %v\n%s", err, out)
	}
	mresp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, m := range []string{`razor_build_info{commit="unknown"`, "razor_events_dropped_total 0"} {
		if !strings.Contains(string(mb), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	out, _, err = runCLI(t, "nodes", "list", "-o", "yaml")
	var nodes []map[string]any
	if err != nil || yaml.Unmarshal([]byte(out), &nodes) != nil || len(nodes) != 1 || nodes[0]["id"] != "node1" {
		t.Errorf("nodes list -o yaml = %v\n%s", err, out)
	}
}

func TestUnknownSubcommand(t *testing.T) {
	for _, args := range [][]string{{"nodes", "lst"}, {"tags", "shwo"}, {"commands", "bogus"}} {
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("%v = %v, want an unknown command error", args, err)
		}
	}
	if _, _, err := runCLI(t, "nodes", "lst"); err == nil || !strings.Contains(err.Error(), "Did you mean this?\n\tlist") {
		t.Errorf("nodes lst = %v, want a suggestion of list", err)
	}
	if _, _, err := runCLI(t, "nodes", "list", "-o", "xml", "--server", "http://127.0.0.1:1", "--token", "x"); err == nil || !strings.Contains(err.Error(), "-o") {
		t.Errorf("-o xml = %v, want an error naming -o", err)
	}
}
