package httpapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzNodeAPI feeds arbitrary queries and bodies to the node endpoints:
// the server answers every one with a JSON reply (or an iPXE script) and
// never a 5xx.
func FuzzNodeAPI(f *testing.F) {
	e := newEnv(f, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})
	for _, s := range []struct{ q, ctype, body string }{
		{"hw_id=525400000001&last_state=idle", "", ""},
		{"hw_id=000C29A936AF_000C29FE8355&last_state=idle&first_checkin=true", "application/x-www-form-urlencoded",
			"json_hash=" + url.QueryEscape(`{"@hw_id":"000C29A936AF","@attributes_hash":{"a":"b"},"@last_state":"idle"}`)},
		{"uuid=564d8f2b-2fae-4bd6-9be1-c6e0fb0b2f3e&mac_id=000c29a936af&wait=0", "text/json",
			`{"mac_id":"000C29A936AF","uuid":"564D8F2B-2FAE-4BD6-9BE1-C6E0FB0B2F3E","attributes_hash":{"n":1,"b":true,"z":null}}`},
		{"@hw_id=52:54:00:00:00:01&token=abc", "application/json", `{"hw_id":"x"}`},
		{"mac=52-54-00-00-00-01&uuid=${uuid}&serial=%0Areboot&platform=efi", "", `[`},
		{"hw_id=&uuid=00000000-0000-0000-0000-000000000000", "application/json", `{"hw_id":"525400000001","attributes_hash":{"a":{"b":1}}}`},
	} {
		f.Add(s.q, s.ctype, s.body)
	}
	f.Fuzz(func(t *testing.T, q, ctype, body string) {
		if _, err := url.ParseRequestURI("/x?" + q); err != nil || strings.ContainsAny(q, "# \t") {
			return // not a request line a client can send
		}
		for _, tc := range []struct{ method, path string }{
			{"GET", "/razor/api/node/checkin"},
			{"POST", "/razor/api/node/register"},
			{"GET", "/boot.ipxe"},
		} {
			e.t = t
			code, out := e.do(tc.method, tc.path+"?"+q, ctype, body)
			if code >= 500 {
				t.Fatalf("%s %s?%q = %d %s", tc.method, tc.path, q, code, out)
			}
			if tc.path == "/boot.ipxe" {
				if !strings.HasPrefix(out, "#!ipxe\n") {
					t.Fatalf("boot.ipxe?%q = %q, not an iPXE script", q, out)
				}
				continue
			}
			if !json.Valid([]byte(out)) {
				t.Fatalf("%s %s?%q = %d %q, not JSON", tc.method, tc.path, q, code, out)
			}
		}
	})
}

// FuzzAdminAPI feeds arbitrary bodies to the admin API's writes: 4xx or
// success, never a 5xx, and a JSON answer.
func FuzzAdminAPI(f *testing.F) {
	e := newEnv(f, envOpts{})
	e.register("525400000001", "", "", map[string]string{"processorcount": "2"})
	for _, s := range []string{
		`{"name":"big","rule":[">=",["num",["fact","processorcount"]],8]}`,
		`{"name":"p","order":1,"tags":["big"],"max_count":2,"target":{"kind":"kernel","kernel":"{{.Server}}/k","cmdline":"{{fact \"x\"}}"}}`,
		`{"name":"q","target":{"kind":"ipxe","script":"#!ipxe\n{{range .MACs}}{{.}}{{end}}"}}`,
		`{"command":"reboot"}`,
		`{"name":"t","rule":["tag","t"]}`,
		`{"rule":null}`, `[]`, `nul`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		for _, path := range []string{"/tags", "/policies", "/nodes/node1/commands"} {
			code, out := e.admin("POST", path, body)
			if code >= 500 || !json.Valid([]byte(out)) {
				t.Fatalf("POST %s %q = %d %q", path, body, code, out)
			}
		}
		for _, path := range []string{"/tags/big", "/policies/p"} {
			if code, out := e.admin("PUT", path, body); code >= 500 {
				t.Fatalf("PUT %s %q = %d %q", path, body, code, out)
			}
		}
		// Anything that was created must not break checkins.
		if _, code := e.checkin("hw_id=525400000001&last_state=idle"); code >= 500 {
			t.Fatalf("checkin after %q = %d", body, code)
		}
	})
}
