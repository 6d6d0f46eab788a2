package wire

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCheckinQuery(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    CheckinRequest
		wantErr string // field named in the error, "" for success
	}{
		{
			name:  "original first checkin",
			query: "hw_id=000c29a936af_000C29FE8355&last_state=idle&first_checkin=true",
			want:  CheckinRequest{HWID: "000C29A936AF_000C29FE8355", LastState: "idle", FirstCheckin: true},
		},
		{
			name:  "hanlon mac_id and uuid",
			query: "mac_id=52:54:00:12:34:56&uuid=4c4c4544-0000-1000-8000-000000000001&last_state=idle",
			want:  CheckinRequest{HWID: "525400123456", UUID: "4C4C4544-0000-1000-8000-000000000001", LastState: "idle"},
		},
		{
			name:  "at-prefixed keys, sorted output",
			query: "@hw_id=BB0000000000_AA0000000000&@last_state=idle",
			want:  CheckinRequest{HWID: "AA0000000000_BB0000000000", LastState: "idle"},
		},
		{
			name:  "uuid as hw_id alias",
			query: "uuid=525400123456",
			want:  CheckinRequest{HWID: "525400123456", LastState: "idle"},
		},
		{
			name:  "our additions",
			query: "hw_id=525400123456&token=abc&wait=30",
			want:  CheckinRequest{HWID: "525400123456", LastState: "idle", Token: "abc", Wait: 30 * time.Second},
		},
		{
			name:  "wait capped",
			query: "hw_id=525400123456&wait=100000",
			want:  CheckinRequest{HWID: "525400123456", LastState: "idle", Wait: MaxWait},
		},
		{name: "nothing", query: "last_state=idle", wantErr: "hw_id"},
		{name: "bad mac", query: "hw_id=zz", wantErr: "hw_id"},
		{
			// The original server took any value as true.
			name:  "first_checkin any value",
			query: "hw_id=525400123456&first_checkin=maybe",
			want:  CheckinRequest{HWID: "525400123456", LastState: "idle", FirstCheckin: true},
		},
		{
			name:  "first_checkin false is still present",
			query: "hw_id=525400123456&first_checkin=false",
			want:  CheckinRequest{HWID: "525400123456", LastState: "idle", FirstCheckin: true},
		},
		{
			name:  "json_hash in the query",
			query: "json_hash=" + url.QueryEscape(`{"@hw_id":"000C29A936AF","@last_state":"idle","@first_checkin":true}`),
			want:  CheckinRequest{HWID: "000C29A936AF", LastState: "idle", FirstCheckin: true},
		},
		{
			name:  "json_hash first_checkin false",
			query: "json_hash=" + url.QueryEscape(`{"hw_id":"000C29A936AF","first_checkin":false}`),
			want:  CheckinRequest{HWID: "000C29A936AF", LastState: "idle"},
		},
		{name: "bad json_hash", query: "json_hash=%7B", wantErr: "json_hash"},
		{name: "bad wait", query: "hw_id=525400123456&wait=-1", wantErr: "wait"},
		{name: "disagree", query: "hw_id=525400123456&mac_id=525400123457", wantErr: "hw_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseCheckinQuery(q)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.wantErr {
					t.Fatalf("ParseCheckinQuery(%q) error = %v, want field %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCheckinQuery(%q) = %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCheckinQuery(%q) mismatch (-want +got):\n%s", tt.query, diff)
			}
			// Round trip through our encoder.
			back, err := ParseCheckinQuery(got.Query())
			if err != nil || !cmp.Equal(back, got) {
				t.Errorf("round trip of %+v = %+v, %v", got, back, err)
			}
		})
	}
}

func TestParseRegister(t *testing.T) {
	orig := RegisterRequest{HWID: "525400123456", Facts: map[string]string{"processorcount": "2"}, LastState: "idle"}
	form, err := orig.EncodeForm()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ctype, body string
		want              RegisterRequest
		wantErr           string
	}{
		{
			name: "original form", ctype: "application/x-www-form-urlencoded", body: form,
			want: orig,
		},
		{
			name: "hanlon json", ctype: "text/json",
			body: `{"mac_id":"52:54:00:12:34:56","uuid":"00000000-0000-0000-0000-000000000000","attributes_hash":{"a":"b","n":2,"t":true},"last_state":"idle"}`,
			want: RegisterRequest{HWID: "525400123456", Facts: map[string]string{"a": "b", "n": "2", "t": "true"}, LastState: "idle"},
		},
		{
			name: "ours", ctype: "application/json",
			body: `{"hw_id":"525400123456","uuid":"8f3b9a52-1d7e-4c1f-9a55-3c1a2b4d5e6f","attributes_hash":{"a":"b"},"token":"t1"}`,
			want: RegisterRequest{HWID: "525400123456", UUID: "8F3B9A52-1D7E-4C1F-9A55-3C1A2B4D5E6F", Facts: map[string]string{"a": "b"}, LastState: "idle", Token: "t1"},
		},
		{name: "no facts", ctype: "application/json", body: `{"hw_id":"525400123456"}`, wantErr: "attributes_hash"},
		{name: "empty facts", ctype: "application/json", body: `{"hw_id":"525400123456","attributes_hash":{}}`, wantErr: "attributes_hash"},
		{
			// Facter 2.4 (Hanlon's microkernel) and Facter 4 report
			// structured facts: kept as JSON and flattened.
			name: "structured facts", ctype: "text/json",
			body: `{"mac_id":"525400123456","attributes_hash":{"os":{"name":"Debian","release":{"major":"12","full":"12.5"},"selinux":{"enabled":false}},` +
				`"processors":{"count":2,"models":["QEMU Virtual CPU","QEMU Virtual CPU"]},"os.name":"explicit","empty":{},"n":null},"last_state":"idle"}`,
			want: RegisterRequest{HWID: "525400123456", LastState: "idle", Facts: map[string]string{
				"os":                  `{"name":"Debian","release":{"full":"12.5","major":"12"},"selinux":{"enabled":false}}`,
				"os.name":             "explicit",
				"os.release.major":    "12",
				"os.release.full":     "12.5",
				"os.selinux.enabled":  "false",
				"processors":          `{"count":2,"models":["QEMU Virtual CPU","QEMU Virtual CPU"]}`,
				"processors.count":    "2",
				"processors.models.0": "QEMU Virtual CPU",
				"processors.models.1": "QEMU Virtual CPU",
				"empty":               "{}",
				"n":                   "",
			}},
		},
		{name: "too deep", ctype: "application/json", body: `{"hw_id":"525400123456","attributes_hash":{"x":` + strings.Repeat("[", MaxFactDepth+1) + strings.Repeat("]", MaxFactDepth+1) + `}}`, wantErr: "attributes_hash.x" + strings.Repeat(".0", MaxFactDepth)},
		{name: "deep leaf", ctype: "application/json", body: `{"hw_id":"525400123456","attributes_hash":{"x":` + strings.Repeat("[", MaxFactDepth+1) + `1` + strings.Repeat("]", MaxFactDepth+1) + `}}`, wantErr: "attributes_hash.x" + strings.Repeat(".0", MaxFactDepth)},
		{name: "empty key", ctype: "application/json", body: `{"hw_id":"525400123456","attributes_hash":{"x":{"":1}}}`, wantErr: "attributes_hash.x"},
		{name: "long flattened name", ctype: "application/json", body: `{"hw_id":"525400123456","attributes_hash":{"x":{"` + strings.Repeat("k", MaxFactNameLen) + `":1}}}`, wantErr: "attributes_hash.x." + strings.Repeat("k", 78) + "…"},
		{name: "no id", ctype: "application/json", body: `{"attributes_hash":{"a":"b"}}`, wantErr: "hw_id"},
		{name: "bad json", ctype: "application/json", body: `{`, wantErr: "body"},
		{name: "form without json_hash", ctype: "application/x-www-form-urlencoded", body: "x=1", wantErr: "json_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegister(tt.ctype, []byte(tt.body))
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.wantErr {
					t.Fatalf("ParseRegister(%q) error = %v, want field %q", tt.body, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRegister(%q) = %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRegister mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantCmd Command
		wantCfg bool
		cfgErr  bool
	}{
		{
			name:    "original acknowledge",
			body:    `{"resource":"ProjectRazor::Slice::Node","command":"checkin_node","result":"Ok","http_err_code":200,"errcode":0,"response":{"command_name":"acknowledge","command_param":{}},"client_config":{"mk_checkin_interval":60,"mk_checkin_skew":5,"mk_fact_excl_pattern":"(^facter.*$)","mk_log_level":"Logger::ERROR","mk_gem_mirror_uri":"http://localhost:2158/gem-mirror"}}`,
			wantCmd: Acknowledge, wantCfg: true,
		},
		{name: "error ignored", body: `{"errcode":1,"response":{"command_name":"reboot"}}`},
		{name: "missing errcode ignored", body: `{"response":{"command_name":"reboot"}}`},
		{name: "unknown command ignored", body: `{"errcode":0,"response":{"command_name":"format_disk"}}`},
		{name: "bad config dropped", body: `{"errcode":0,"response":{"command_name":"register"},"client_config":{"mk_checkin_interval":0}}`, wantCmd: Register, cfgErr: true},
		{name: "bad regex dropped", body: `{"errcode":0,"response":{"command_name":"poweroff"},"client_config":{"mk_checkin_interval":5,"mk_fact_excl_pattern":"("}}`, wantCmd: Poweroff, cfgErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cfgErr, err := ParseReply([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseReply(%s) = %v", tt.body, err)
			}
			if got := r.Command(); got != tt.wantCmd {
				t.Errorf("Command() = %q, want %q", got, tt.wantCmd)
			}
			if (r.ClientConfig != nil) != tt.wantCfg {
				t.Errorf("ClientConfig = %+v, want present %v", r.ClientConfig, tt.wantCfg)
			}
			if (cfgErr != nil) != tt.cfgErr {
				t.Errorf("cfgErr = %v, want error %v", cfgErr, tt.cfgErr)
			}
		})
	}
	if _, _, err := ParseReply([]byte("<html>")); err == nil {
		t.Error("ParseReply(html) = nil error, want error")
	}
}

func TestClientConfigSameAs(t *testing.T) {
	a := DefaultClientConfig()
	a.URI = "http://10.0.0.1:8026"
	b := DefaultClientConfig()
	b.URI = "http://razor:8026"
	if !a.SameAs(b) {
		t.Error("configs differing only in mk_uri should be the same")
	}
	b.CheckinInterval = 30
	if a.SameAs(b) {
		t.Error("configs differing in mk_checkin_interval should differ")
	}
	if err := DefaultClientConfig().Validate(); err != nil {
		t.Errorf("DefaultClientConfig().Validate() = %v", err)
	}
}

func TestNormalizeUUID(t *testing.T) {
	for in, want := range map[string]string{
		"4c4c4544-0000-1000-8000-000000000001": "4C4C4544-0000-1000-8000-000000000001",
		"{4c4c4544000010008000000000000001}":   "4C4C4544-0000-1000-8000-000000000001",
		"00000000-0000-0000-0000-000000000000": "",
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": "",
		"not-a-uuid":                           "",
		"4c4c4544-0000-1000-8000-00000000000g": "",
	} {
		got, _ := NormalizeUUID(in)
		if got != want {
			t.Errorf("NormalizeUUID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte(`{"errcode":0,"result":"Ok","http_err_code":200,"response":{"command_name":"acknowledge","command_param":{}},"client_config":{"mk_checkin_interval":60}}`))
	f.Add([]byte(`{"errcode":"0","response":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _, err := ParseReply(data)
		if err != nil {
			return
		}
		if c := r.Command(); c != "" && !c.Valid() {
			t.Fatalf("Command() = %q, not a valid command", c)
		}
		if r.ClientConfig != nil {
			if err := r.ClientConfig.Validate(); err != nil {
				t.Fatalf("accepted an invalid config: %v", err)
			}
		}
	})
}

func FuzzParseRegister(f *testing.F) {
	f.Add("application/json", []byte(`{"hw_id":"525400123456","attributes_hash":{"a":"b"}}`))
	f.Add("application/x-www-form-urlencoded", []byte(`json_hash=%7B%22%40hw_id%22%3A%22525400123456%22%2C%22%40attributes_hash%22%3A%7B%22a%22%3A%22b%22%7D%7D`))
	f.Add("text/json", []byte(`{"mac_id":"525400123456","attributes_hash":{"os":{"release":{"major":"12"}},"p":[1,true,null,{"a":[]}]}}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		r, err := ParseRegister(ctype, body)
		if err != nil {
			return
		}
		if r.HWID == "" && r.UUID == "" {
			t.Fatal("accepted a registration without identity")
		}
		if r.HWID != "" {
			if n, err := NormalizeHWID(r.HWID); err != nil || n != r.HWID {
				t.Fatalf("HWID %q not canonical", r.HWID)
			}
		}
		if len(r.Facts) == 0 || len(r.Facts) > MaxFacts {
			t.Fatalf("accepted a registration with %d facts", len(r.Facts))
		}
		for k, v := range r.Facts {
			if k == "" || len(k) > MaxFactNameLen || len(v) > MaxFactValLen {
				t.Fatalf("fact %q (%d bytes) outside the limits", truncate(k, 40), len(v))
			}
		}
	})
}

func FuzzParseCheckinQuery(f *testing.F) {
	f.Add("hw_id=525400123456&last_state=idle&first_checkin=true")
	f.Add("uuid=4c4c4544-0000-1000-8000-000000000001&wait=5")
	f.Add("json_hash=%7B%22%40hw_id%22%3A%22525400123456%22%2C%22first_checkin%22%3Atrue%7D")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		r, err := ParseCheckinQuery(q)
		if err != nil {
			return
		}
		back, err := ParseCheckinQuery(r.Query())
		if err != nil {
			t.Fatalf("re-parse of %+v: %v", r, err)
		}
		if !cmp.Equal(back, r) {
			t.Fatalf("round trip %+v != %+v", back, r)
		}
	})
}
