package events

import (
	"testing"

	"github.com/razor-mk/razor-mk/server/store"
)

func TestDescribe(t *testing.T) {
	ev := func(typ string, kv ...string) store.Event {
		e := store.Event{Type: typ, Attrs: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Attrs[kv[i]] = kv[i+1]
		}
		return e
	}
	for _, tc := range []struct {
		e    store.Event
		text string
		bad  bool
	}{
		{ev("dhcp.discover", "reply", "offer", "ip", "10.77.0.100", "file", "undionly.kpxe", "arch", "bios"), "DHCP discover → offer 10.77.0.100, boot file undionly.kpxe, arch bios", false},
		{ev("dhcp.request", "reply", "nak", "reason", "wrong network"), "DHCP request → nak: wrong network", true},
		{ev("tftp.send", "file", "snponly.efi", "bytes", "212992", "ms", "29", "outcome", "complete"), "TFTP sent snponly.efi (208 KiB in 29ms)", false},
		{ev("tftp.send", "file", "snponly.efi", "bytes", "0", "outcome", "aborted", "reason", "code=8 user aborted"), "TFTP aborted snponly.efi after 0 bytes: code=8 user aborted", false},
		{ev("http.send", "file", "mk/initrd", "bytes", "8500000", "ms", "2100", "outcome", "complete"), "HTTP sent mk/initrd (8.1 MiB in 2100ms)", false},
		{ev("boot.script", "kind", "kernel", "policy", "install"), "boot script: kernel (policy install)", false},
		{ev("node.checkin", "command", "register", "reason", "unknown node"), "checkin → register (unknown node)", false},
		{ev("node.registered", "facts", "106", "created", "true"), "registered: 106 facts", false},
		{ev("node.registered", "facts", "107", "created", "false", "changed", "2", "changed_facts", "lldp_switch_eth0,uptime"), "registered: 107 facts, 2 changed (lldp_switch_eth0,uptime)", false},
		{ev("refused", "request", "checkin", "reason", "not the current boot token", "field", "token"), "refused checkin: not the current boot token (token)", true},
		{ev("command.expired", "command", "reboot"), "command reboot expired", true},
		{ev("power.done", "action", "cycle", "state", "on", "bmc", "admin@10.0.0.7:623", "reason", "bound to install"), "power cycle → on via admin@10.0.0.7:623 (bound to install)", false},
		{ev("power.failed", "action", "off", "error", "no session"), "power off failed: no session", true},
		{ev("node.bmc", "change", "set", "bmc", "admin@10.0.0.7:623"), "BMC credential set (admin@10.0.0.7:623)", false},
		{ev("something.new", "b", "2", "a", "1"), "something.new a=1 b=2", false},
	} {
		text, bad := Describe(tc.e)
		if text != tc.text || bad != tc.bad {
			t.Errorf("Describe(%s %v) = %q, %v; want %q, %v", tc.e.Type, tc.e.Attrs, text, bad, tc.text, tc.bad)
		}
	}
}
