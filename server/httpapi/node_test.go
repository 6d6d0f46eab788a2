package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/wire"
)

// clientConfig is the client_config of every reply under /razor/api.
const clientConfig = `"client_config":{"mk_checkin_interval":60,"mk_checkin_skew":5,"mk_uri":"http://10.0.0.1:8026",` +
	`"mk_checkin_path":"/razor/api/node/checkin","mk_register_path":"/razor/api/node/register",` +
	`"mk_fact_excl_pattern":"(^facter.*$)|(^id$)|(^kernel.*$)|(^memoryfree$)|(^operating.*$)|(^osfamily$)|(^path$)|(^ps$)|(^ruby.*$)|(^selinux$)|(^ssh.*$)|(^swap.*$)|(^timezone$)|(^uniqueid$)|(^uptime.*$)|(.*json_str$)",` +
	`"mk_log_level":"Logger::ERROR","mk_tce_mirror_uri":"http://localhost:2157/tinycorelinux",` +
	`"mk_tce_install_list_uri":"http://localhost:2157/tinycorelinux/tce-install-list",` +
	`"mk_kmod_install_list_uri":"http://localhost:2157/tinycorelinux/kmod-install-list",` +
	`"mk_tce_mirror_port":2157,"mk_gem_mirror_uri":"http://localhost:2158/gem-mirror",` +
	`"mk_gemlist_uri":"http://localhost:2158/gem-mirror/gems/gem.list"}`

func reply(cmd string) string {
	return `{"errcode":0,"result":"Ok","http_err_code":200,"response":{"command_name":"` + cmd + `","command_param":{}},` + clientConfig + `}`
}

// The requests the original Razor microkernel (rz_mk_control_server.rb,
// rz_mk_registration_manager.rb) sends, byte for byte: a GET with hw_id,
// last_state=idle and first_checkin=true, a form POST of json_hash with
// "@"-prefixed keys, then plain checkins.
func TestOriginalMicrokernelReplay(t *testing.T) {
	e := newEnv(t, envOpts{})
	code, body := e.do("GET", "/razor/api/node/checkin?hw_id=000C29A936AF_000C29FE8355&last_state=idle&first_checkin=true", "", "")
	if code != 200 || body != reply("register") {
		t.Fatalf("first checkin = %d\n%s\nwant 200\n%s", code, body, reply("register"))
	}
	jsonHash := `{"@hw_id":"000C29A936AF_000C29FE8355","@attributes_hash":{"architecture":"i386","processorcount":"2",` +
		`"memorysize":"1.96 GB","mk_hw_cpu_count":"2","mk_hw_mem_size":"2GiB","mk_hw_nic_count":"2","is_virtual":"true",` +
		`"virtual":"vmware","macaddress":"00:0C:29:A9:36:AF","macaddress_eth0":"00:0C:29:A9:36:AF","macaddress_eth1":"00:0C:29:FE:83:55"},` +
		`"@last_state":"idle"}`
	code, body = e.do("POST", "/razor/api/node/register", "application/x-www-form-urlencoded", form("json_hash", jsonHash))
	want := `{"errcode":0,"result":"Ok","http_err_code":200,"response":{"@uuid":"node1","@hw_id":["000C29A936AF","000C29FE8355"],` +
		`"@tags":["cpus_2","memsize_2GiB","nics_2","vmware_vm"],"@status":"active","@last_state":"idle","@timestamp":1748779200},` + clientConfig + `}`
	if code != 200 || body != want {
		t.Fatalf("register = %d\n%s\nwant 200\n%s", code, body, want)
	}
	e.clock.Advance(60 * time.Second)
	code, body = e.do("GET", "/razor/api/node/checkin?hw_id=000C29A936AF_000C29FE8355&last_state=idle", "", "")
	if code != 200 || body != reply("acknowledge") {
		t.Fatalf("checkin = %d\n%s\nwant 200\n%s", code, body, reply("acknowledge"))
	}
	// The checkin was stored (batched) against the registered node.
	if err := e.core.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, err := e.st.GetNode(t.Context(), "node1")
	if err != nil || !n.LastCheckin.Equal(e.clock.Now()) || n.Facts["virtual"] != "vmware" {
		t.Errorf("stored node = %+v, %v; want last checkin %v and the facts", n, err, e.clock.Now())
	}
}

// Hanlon's microkernel: uuid and mac_id, a JSON body with text/json.
func TestHanlonMicrokernel(t *testing.T) {
	e := newEnv(t, envOpts{})
	const q = "/hanlon/api/v1/node/checkin?uuid=564d8f2b-2fae-4bd6-9be1-c6e0fb0b2f3e&mac_id=000c29a936af&last_state=idle&first_checkin=true"
	code, body := e.do("GET", q, "", "")
	var r map[string]any
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
		t.Fatalf("hanlon checkin = %d %s", code, body)
	}
	if r["response"].(map[string]any)["command_name"] != "register" {
		t.Errorf("hanlon checkin reply = %s; want register", body)
	}
	code, body = e.do("POST", "/hanlon/api/v1/node/register", "text/json",
		`{"mac_id":"000C29A936AF","uuid":"564D8F2B-2FAE-4BD6-9BE1-C6E0FB0B2F3E","attributes_hash":{"processorcount":"4"},"last_state":"idle"}`)
	if code != 200 || !strings.Contains(body, `"@smbios_uuid":"564D8F2B-2FAE-4BD6-9BE1-C6E0FB0B2F3E"`) {
		t.Fatalf("hanlon register = %d %s", code, body)
	}
	// Same machine, NIC replaced: found by its SMBIOS UUID.
	if cmd, _ := e.checkin("uuid=564D8F2B-2FAE-4BD6-9BE1-C6E0FB0B2F3E&hw_id=000C29000001&last_state=idle"); cmd != wire.Acknowledge {
		t.Errorf("checkin by uuid with new MAC = %s, want acknowledge", cmd)
	}
}

func TestIdentityMerge(t *testing.T) {
	e := newEnv(t, envOpts{})
	facts := map[string]string{"processorcount": "1"}
	e.register("525400000001", "", "", facts)
	e.register("525400000002", "", "", facts)
	// One machine seen through two NICs: merged into the oldest node.
	e.register("525400000001_525400000002", "", "", facts)
	ns := e.nodes()
	if len(ns) != 1 || ns[0]["id"] != "node1" || fmt.Sprint(ns[0]["macs"]) != "[52:54:00:00:00:01 52:54:00:00:00:02]" {
		t.Fatalf("nodes after merge = %v, want node1 with both MACs", ns)
	}
	// node1 reports its SMBIOS UUID from now on: it adopts it.
	e.register("525400000001", "11111111-2222-3333-4444-555555555555", "", facts)
	// A different SMBIOS UUID with node1's MAC: another machine; the MAC
	// moves to it, never on two nodes.
	e.register("525400000002", "99999999-2222-3333-4444-555555555555", "", facts)
	ns = e.nodes()
	if len(ns) != 2 || fmt.Sprint(ns[0]["macs"]) != "[52:54:00:00:00:01]" || fmt.Sprint(ns[1]["macs"]) != "[52:54:00:00:00:02]" {
		t.Fatalf("nodes after MAC moved = %v", ns)
	}
	if cmd, _ := e.checkin("hw_id=525400000002&last_state=idle"); cmd != wire.Acknowledge {
		t.Errorf("checkin of moved MAC = %s, want acknowledge (known)", cmd)
	}
	if cmd, _ := e.checkin("hw_id=52:54:00:00:00:01&last_state=idle"); cmd != wire.Acknowledge {
		t.Errorf("checkin with colon MAC = %s, want acknowledge", cmd)
	}
}

func TestDecisionTable(t *testing.T) {
	e := newEnv(t, envOpts{})
	facts := map[string]string{"processorcount": "2", "mk_hw_cpu_count": "2", "manufacturer": "Dell Inc."}
	const hw = "hw_id=525400000001&last_state=idle"

	if cmd, _ := e.checkin(hw); cmd != wire.Register {
		t.Fatalf("unknown node: %s, want register", cmd)
	}
	e.register("525400000001", "", "", facts)
	if cmd, _ := e.checkin(hw + "&first_checkin=true"); cmd != wire.Register {
		t.Errorf("first checkin of a known node: %s, want register", cmd)
	}
	if cmd, _ := e.checkin(hw); cmd != wire.Acknowledge {
		t.Errorf("known node, nothing to do: %s, want acknowledge", cmd)
	}
	e.clock.Advance(121 * time.Second)
	if cmd, _ := e.checkin(hw); cmd != wire.Register {
		t.Errorf("silent for 121 s: %s, want register", cmd)
	}
	if cmd, _ := e.checkin(hw); cmd != wire.Acknowledge {
		t.Errorf("after the register prompt: %s, want acknowledge", cmd)
	}

	// Queued admin commands: each delivered once, in order.
	for _, c := range []string{"reboot", "poweroff"} {
		if code, body := e.admin("POST", "/nodes/node1/commands", `{"command":"`+c+`"}`); code != 201 {
			t.Fatalf("queue %s = %d %s", c, code, body)
		}
	}
	for _, want := range []wire.Command{wire.Reboot, wire.Poweroff, wire.Acknowledge} {
		if cmd, _ := e.checkin(hw); cmd != want {
			t.Errorf("queued commands: %s, want %s", cmd, want)
		}
	}

	// A matching policy binds: reboot until the target is booted.
	if code, body := e.admin("POST", "/tags", `{"name":"dell","rule":["like",["fact","manufacturer"],"Dell.*"]}`); code != 201 {
		t.Fatalf("create tag = %d %s", code, body)
	}
	pol := `{"name":"install","order":1,"tags":["dell","cpus_2"],"max_count":1,"target":{"kind":"kernel","kernel":"{{.Server}}/os/linux","initrd":"{{.Server}}/os/initrd","cmdline":"node={{.Node}}"}}`
	if code, body := e.admin("POST", "/policies", pol); code != 201 {
		t.Fatalf("create policy = %d %s", code, body)
	}
	if cmd, _ := e.checkin(hw); cmd != wire.Reboot {
		t.Errorf("matching policy: %s, want reboot (bound)", cmd)
	}
	if cmd, _ := e.checkin(hw); cmd != wire.Reboot {
		t.Errorf("bound, target not booted: %s, want reboot", cmd)
	}
	// A second matching node: the policy is full.
	e.register("525400000002", "", "", facts)
	if cmd, _ := e.checkin("hw_id=525400000002&last_state=idle"); cmd != wire.Acknowledge {
		t.Errorf("policy at max_count: %s, want acknowledge", cmd)
	}
	// The node boots its target.
	code, script := e.do("GET", "/boot.ipxe?mac=52-54-00-00-00-01&platform=pcbios", "", "")
	wantScript := `#!ipxe
echo Razor: node node1 boots policy install
kernel http://10.0.0.1:8026/os/linux node=node1 || goto error
initrd http://10.0.0.1:8026/os/initrd || goto error
boot || goto error
:error
echo Razor: boot of policy install failed
echo Razor: rebooting in 15 s
sleep 15
reboot
`
	if code != 200 || script != wantScript {
		t.Fatalf("boot.ipxe of bound node = %d\n%s\nwant\n%s", code, script, wantScript)
	}
	if n := e.nodes()[0]; n["state"] != "booted" {
		t.Errorf("state after target served = %v, want booted", n["state"])
	}
	// Back in the microkernel after its target: the target failed.
	if cmd, _ := e.checkin(hw); cmd != wire.Acknowledge {
		t.Errorf("checkin after booting the target: %s, want acknowledge", cmd)
	}
	if n := e.nodes()[0]; n["state"] != "failed" {
		t.Errorf("state = %v, want failed", n["state"])
	}
	if _, script := e.do("GET", "/boot.ipxe?mac=525400000001", "", ""); !strings.Contains(script, "booting microkernel") {
		t.Errorf("boot.ipxe of failed node = %s, want the microkernel", script)
	}
	// Unbinding frees the slot: the other node binds.
	if code, body := e.admin("DELETE", "/nodes/node1/policy", ""); code != 200 {
		t.Fatalf("unbind = %d %s", code, body)
	}
	if cmd, _ := e.checkin("hw_id=525400000002&last_state=idle"); cmd != wire.Reboot {
		t.Errorf("after unbind of node1: node2 %s, want reboot", cmd)
	}

	// A poweroff policy answers poweroff.
	e.register("525400000003", "", "", map[string]string{"processorcount": "8"})
	if code, body := e.admin("POST", "/policies", `{"name":"discover","order":9,"tags":[],"target":{"kind":"poweroff"}}`); code != 201 {
		t.Fatalf("create poweroff policy = %d %s", code, body)
	}
	for range 2 {
		if cmd, _ := e.checkin("hw_id=525400000003&last_state=idle"); cmd != wire.Poweroff {
			t.Errorf("poweroff policy: %s, want poweroff", cmd)
		}
	}
}

func TestBootTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	code, script := e.do("GET", "/boot.ipxe?mac=52:54:00:00:00:01&uuid=4c4c4544-0031-3510-8036-b7c04f335331&platform=efi", "", "")
	want := `#!ipxe
echo Razor: booting microkernel mk-prod for 52:54:00:00:00:01
kernel http://10.0.0.1:8026/images/mk-prod/vmlinuz quiet razor.server=http://10.0.0.1:8026 razor.token=000102030405060708090a0b0c0d0e0f console=ttyS0 initrd=initrd || goto error
initrd http://10.0.0.1:8026/images/mk-prod/initrd || goto error
boot || goto error
:error
echo Razor: microkernel boot failed
echo Razor: rebooting in 15 s
sleep 15
reboot
`
	if code != 200 || script != want {
		t.Fatalf("boot.ipxe = %d\n%s\nwant\n%s", code, script, want)
	}
	const tok = "000102030405060708090a0b0c0d0e0f"
	if cmd, code := e.checkin("hw_id=525400000001&first_checkin=true&token=" + tok); cmd != wire.Register || code != 200 {
		t.Errorf("checkin with the token = %s %d, want register 200", cmd, code)
	}
	code, body := e.do("GET", "/razor/api/node/checkin?hw_id=525400000001&token=bogus", "", "")
	if code != 403 || !strings.Contains(body, `"errcode":1`) || !strings.Contains(body, `"field":"token"`) {
		t.Errorf("checkin with a wrong token = %d %s, want 403 naming token", code, body)
	}
	if code, body := e.register("525400000001", "", "bogus", map[string]string{"a": "b"}); code != 403 {
		t.Errorf("register with a wrong token = %d %s, want 403", code, body)
	}
	if len(e.nodes()) != 0 {
		t.Errorf("a refused register stored a node")
	}
	if code, body := e.register("525400000001", "", tok, map[string]string{"a": "b"}); code != 200 {
		t.Errorf("register with the token = %d %s", code, body)
	}
	// Without a token, once one was issued: refused (--node-token issued).
	if _, code := e.checkin("hw_id=525400000001"); code != 403 {
		t.Errorf("checkin without token = %d, want 403", code)
	}
	// The token is also recorded under the SMBIOS UUID.
	if _, code := e.checkin("uuid=4C4C4544-0031-3510-8036-B7C04F335331&hw_id=525400000009&token=bogus"); code != 403 {
		t.Errorf("wrong token by uuid = %d, want 403", code)
	}
	// A new boot issues a new token; the old one is refused.
	e.do("GET", "/boot.ipxe?mac=525400000001", "", "")
	if _, code := e.checkin("hw_id=525400000001&token=" + tok); code != 403 {
		t.Errorf("old token after reboot = %d, want 403", code)
	}
}

func TestBootScripts(t *testing.T) {
	e := newEnv(t, envOpts{noImage: true})
	code, body := e.do("GET", "/boot.ipxe", "", "")
	if code != 200 || !strings.Contains(body, "chain --autofree http://10.0.0.1:8026/boot.ipxe?mac=${mac:hexhyp}&uuid=${uuid}") {
		t.Errorf("bare boot.ipxe = %d %s, want the chain script", code, body)
	}
	code, body = e.do("GET", "/boot.ipxe?mac=525400000001", "", "")
	if code != 200 || !strings.HasPrefix(body, "#!ipxe\n:error\necho Razor: mkimage: no verified microkernel image") || !strings.HasSuffix(body, "sleep 15\nreboot\n") {
		t.Errorf("boot.ipxe without image = %d %s, want an error script that reboots", code, body)
	}
	code, body = e.do("GET", "/boot.ipxe?mac=nonsense", "", "")
	if code != 200 || !strings.Contains(body, "echo Razor: bad mac parameter") || !strings.Contains(body, "reboot") {
		t.Errorf("boot.ipxe with bad mac = %d %s", code, body)
	}
}

func TestBadNodeInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, tc := range []struct {
		name, method, target, ctype, body string
		code                              int
		field                             string
	}{
		{"no identity", "GET", "/razor/api/node/checkin?last_state=idle", "", "", 400, "hw_id"},
		{"bad hw_id", "GET", "/razor/api/node/checkin?hw_id=XYZ", "", "", 400, "hw_id"},
		{"bad wait", "GET", "/razor/api/node/checkin?hw_id=525400000001&wait=-1", "", "", 400, "wait"},
		{"bad JSON", "POST", "/razor/api/node/register", "application/json", `{"hw_id":`, 400, "body"},
		{"no facts", "POST", "/razor/api/node/register", "application/json", `{"hw_id":"525400000001"}`, 400, "attributes_hash"},
		{"too deep fact", "POST", "/razor/api/node/register", "application/json", `{"hw_id":"525400000001","attributes_hash":{"a":{"b":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}}`, 400, "attributes_hash.a.b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"},
		{"bad json_hash in query", "POST", "/razor/api/node/register?json_hash=%7B", "", "", 400, "body"},
		{"form without json_hash", "POST", "/razor/api/node/register", "application/x-www-form-urlencoded", "x=1", 400, "json_hash"},
		{"too large", "POST", "/razor/api/node/register", "application/json", `{"hw_id":"525400000001","attributes_hash":{"a":"` + strings.Repeat("x", wire.MaxFactsBody) + `"}}`, 413, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.target, tc.ctype, tc.body)
			var r wire.Reply
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("reply %q: %v", body, err)
			}
			if code != tc.code || r.ErrCode == 0 || r.HTTPErrCode != tc.code || r.Field != tc.field {
				t.Errorf("%s %s = %d %s; want %d naming %s", tc.method, tc.target, code, body, tc.code, tc.field)
			}
		})
	}
	if n := e.nodes(); len(n) != 0 {
		t.Errorf("bad input stored nodes: %v", n)
	}
	if code, _ := e.do("PUT", "/razor/api/node/checkin", "", ""); code != 405 {
		t.Errorf("PUT checkin = %d, want 405", code)
	}
}

func TestLongPoll(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.register("525400000001", "", "", map[string]string{"a": "b"})
	type res struct {
		cmd wire.Command
		d   time.Duration
	}
	done := make(chan res, 1)
	go func() {
		start := time.Now()
		cmd, _ := e.checkin("hw_id=525400000001&wait=20")
		done <- res{cmd, time.Since(start)}
	}()
	// Wait until the checkin is held, then queue a command.
	deadline := time.Now().Add(5 * time.Second)
	for e.core.Waiting() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the long-poll checkin was not held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, body := e.admin("POST", "/nodes/node1/commands", `{"command":"reboot"}`); code != 201 {
		t.Fatalf("queue = %d %s", code, body)
	}
	select {
	case r := <-done:
		if r.cmd != wire.Reboot || r.d > 5*time.Second {
			t.Errorf("long-poll = %s after %v, want reboot early", r.cmd, r.d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll not answered after the command was queued")
	}
	// Shutdown releases held checkins with acknowledge.
	go func() {
		cmd, _ := e.checkin("hw_id=525400000001&wait=20")
		done <- res{cmd: cmd}
	}()
	for e.core.Waiting() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	e.core.Shutdown()
	select {
	case r := <-done:
		if r.cmd != wire.Acknowledge {
			t.Errorf("long-poll at shutdown = %s, want acknowledge", r.cmd)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not release the long-poll")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{rateLimit: 1, rateBurst: 2})
	var codes []int
	for range 3 {
		code, _ := e.do("GET", "/razor/api/node/checkin?hw_id=525400000001", "", "")
		codes = append(codes, code)
	}
	if diff := cmp.Diff([]int{200, 200, 429}, codes); diff != "" {
		t.Errorf("rate-limited checkins (-want +got):\n%s", diff)
	}
	// The admin API is not rate-limited.
	if code, _ := e.admin("GET", "/nodes", ""); code != 200 {
		t.Errorf("admin after node limit = %d, want 200", code)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.checkin("hw_id=525400000001")
	e.register("525400000001", "", "", map[string]string{"a": "b"})
	code, body := e.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`razor_checkins_total{command="register"} 1`,
		`razor_registrations_total{result="created"} 1`,
		`razor_nodes{state="active"} 1`,
		`razor_http_request_duration_seconds_count{code="200",route="checkin"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := e.do("GET", "/healthz", "", ""); code != 200 || body != `{"protocol":"1","status":"ok"}`+"\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
}

// A client that sends headers and then trickles (here: never sends) its
// body is cut off after BodyTimeout, over a real connection.
func TestSlowBody(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.h.o.BodyTimeout = 200 * time.Millisecond
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /razor/api/node/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"hw_id\":")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || time.Since(start) > 5*time.Second {
		t.Errorf("stalled body = %d after %v, want 400 after about 200ms", resp.StatusCode, time.Since(start))
	}
}
