package httpapi

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/wire"
)

// The tokens newEnv's counter source issues: one per microkernel boot.
const (
	token1 = "000102030405060708090a0b0c0d0e0f"
	token2 = "101112131415161718191a1b1c1d1e1f"
)

// Each --node-token mode against each kind of request: a node that booted
// through /boot.ipxe (token issued) and one that never did (an original
// microkernel booted elsewhere), with the current, a stale, or no token.
func TestNodeTokenModes(t *testing.T) {
	type req struct {
		name  string
		query string // checkin query
		want  int    // HTTP status
	}
	issued := "hw_id=525400000001&last_state=idle"
	never := "hw_id=525400000099&last_state=idle"
	for _, tc := range []struct {
		mode core.TokenMode
		reqs []req
	}{
		{core.TokenIssued, []req{
			{"current token", issued + "&token=" + token2, 200},
			{"stale token (previous boot)", issued + "&token=" + token1, 403},
			{"missing token once issued", issued, 403},
			{"missing token by the SMBIOS UUID", "uuid=4C4C4544-0031-3510-8036-B7C04F335331&hw_id=525400000077", 403},
			{"original microkernel, never issued", never, 200},
			{"hanlon path, missing token once issued", "", 403},
		}},
		{core.TokenAlways, []req{
			{"current token", issued + "&token=" + token2, 200},
			{"stale token", issued + "&token=" + token1, 403},
			{"missing token once issued", issued, 403},
			{"original microkernel, never issued", never, 403},
			{"a token never issued", never + "&token=" + token2, 403},
		}},
		{core.TokenOff, []req{
			{"current token", issued + "&token=" + token2, 200},
			{"stale token", issued + "&token=" + token1, 403},
			{"missing token once issued", issued, 200},
			{"original microkernel, never issued", never, 200},
		}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			var logs lockedBuffer
			e := newEnv(t, envOpts{nodeToken: tc.mode, logger: slogTo(&logs)})
			// Two boots: token1, then token2 (rotated on every boot).
			for range 2 {
				if code, body := e.do("GET", "/boot.ipxe?mac=52:54:00:00:00:01&uuid=4c4c4544-0031-3510-8036-b7c04f335331", "", ""); code != 200 || !strings.Contains(body, "razor.token=") {
					t.Fatalf("boot.ipxe = %d %s", code, body)
				}
			}
			refused := 0
			for _, r := range tc.reqs {
				path := "/razor/api/node/checkin?" + r.query
				if r.query == "" {
					path = "/hanlon/api/v1/node/checkin?uuid=&mac_id=525400000001&last_state=idle&first_checkin=true"
				}
				code, body := e.do("GET", path, "", "")
				if code != r.want {
					t.Errorf("%s: GET %s = %d %s, want %d", r.name, path, code, body, r.want)
				}
				if code == 403 {
					refused++
					if !strings.Contains(body, `"field":"token"`) || !strings.Contains(body, `"errcode":1`) {
						t.Errorf("%s: refusal %s does not name the token field", r.name, body)
					}
				}
			}
			// Registration is guarded alike.
			b, _ := wire.RegisterRequest{HWID: "525400000001", Facts: map[string]string{"a": "b"}, Token: token1}.Encode()
			if code, _ := e.do("POST", "/razor/api/node/register", "application/json", string(b)); code != 403 {
				t.Errorf("register with a stale token = %d, want 403", code)
			}
			refused++
			b, _ = wire.RegisterRequest{HWID: "525400000001", Facts: map[string]string{"a": "b"}}.Encode()
			code, _ := e.do("POST", "/razor/api/node/register", "application/json", string(b))
			if want := map[core.TokenMode]int{core.TokenOff: 200}[tc.mode]; want == 0 && code != 403 || want == 200 && code != 200 {
				t.Errorf("register without token = %d", code)
			}
			if code == 403 {
				refused++
			}
			if got := e.counter("razor_node_auth_refused_total"); int(got) != refused {
				t.Errorf("razor_node_auth_refused_total = %v, want %d", got, refused)
			}
			out := logs.String()
			if strings.Count(out, "refused:") != refused {
				t.Errorf("%d refusal log lines, want %d:\n%s", strings.Count(out, "refused:"), refused, out)
			}
			// Tokens never reach the log.
			for _, tok := range []string{token1, token2} {
				if strings.Contains(out, tok) {
					t.Errorf("log shows a token:\n%s", out)
				}
			}
		})
	}
}

// lockedBuffer collects log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func slogTo(w *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// counter sums a counter family's samples in the env's registry.
func (e *env) counter(name string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
