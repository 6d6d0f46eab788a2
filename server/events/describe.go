package events

import (
	"fmt"
	"sort"
	"strings"

	"github.com/razor-mk/razor-mk/server/store"
)

// Describe tells an event in a few words for a timeline ("DHCP request →
// ack 10.77.0.100", "HTTP sent mk/initrd (8.1 MiB in 2.1s)") and whether
// it is a failure or a refusal. The dashboard and `make demo` use it.
func Describe(e store.Event) (text string, bad bool) {
	a := e.Attrs
	var b strings.Builder
	opt := func(format, k string) {
		if a[k] != "" {
			fmt.Fprintf(&b, format, a[k])
		}
	}
	switch {
	case strings.HasPrefix(e.Type, DHCP+"."):
		fmt.Fprintf(&b, "DHCP %s", strings.TrimPrefix(e.Type, DHCP+"."))
		opt(" → %s", "reply")
		opt(" %s", "ip")
		opt(", boot file %s", "file")
		opt(", arch %s", "arch")
		opt(", via relay %s", "relay")
		if a["proxy"] == "true" {
			b.WriteString(" (proxy)")
		}
		opt(": %s", "reason")
		bad = a["reply"] == "nak"
	case e.Type == TFTPSend || e.Type == HTTPSend:
		proto := strings.ToUpper(strings.TrimSuffix(e.Type, ".send"))
		switch a["outcome"] {
		case "complete", "":
			fmt.Fprintf(&b, "%s sent %s (%s", proto, a["file"], Size(a["bytes"]))
			opt(" in %sms", "ms")
			b.WriteString(")")
		default:
			fmt.Fprintf(&b, "%s %s %s after %s", proto, a["outcome"], a["file"], Size(a["bytes"]))
			opt(": %s", "reason")
			// PXE firmware asks for a file's size first and ends that
			// transfer itself: not a failure.
			bad = !strings.Contains(a["reason"], "code=8")
		}
	case e.Type == BootScript:
		fmt.Fprintf(&b, "boot script: %s", a["kind"])
		opt(" (policy %s)", "policy")
		opt(" for %s", "loader")
		opt(": %s", "error")
		bad = a["kind"] == "error" || a["error"] != ""
	case e.Type == FirstCheckin:
		fmt.Fprintf(&b, "checkin → %s", a["command"])
		opt(" (%s)", "reason")
	case e.Type == Registered:
		fmt.Fprintf(&b, "registered: %s facts", a["facts"])
		if a["created"] != "true" && a["changed"] != "" {
			fmt.Fprintf(&b, ", %s changed", a["changed"])
			opt(" (%s)", "changed_facts")
		}
	case e.Type == TagsChanged:
		fmt.Fprintf(&b, "tags: %s", a["tags"])
	case e.Type == Bound:
		fmt.Fprintf(&b, "bound to policy %s", a["policy"])
	case e.Type == Unbound:
		b.WriteString("unbound")
	case e.Type == BootFailed:
		fmt.Fprintf(&b, "came back to the microkernel after policy %s's target", a["policy"])
		bad = true
	case e.Type == Deleted:
		b.WriteString("deleted")
	case strings.HasPrefix(e.Type, "command."):
		fmt.Fprintf(&b, "command %s %s", a["command"], strings.TrimPrefix(e.Type, "command."))
		bad = e.Type == CommandExpired
	case e.Type == PowerDone:
		fmt.Fprintf(&b, "power %s → %s", a["action"], a["state"])
		opt(" via %s", "bmc")
		opt(" (%s)", "reason")
	case e.Type == PowerFailed:
		fmt.Fprintf(&b, "power %s failed", a["action"])
		opt(": %s", "error")
		opt(" (%s)", "reason")
		bad = true
	case e.Type == BMCCredential:
		fmt.Fprintf(&b, "BMC credential %s", a["change"])
		opt(" (%s)", "bmc")
	case e.Type == Refused:
		fmt.Fprintf(&b, "refused %s", a["request"])
		opt(": %s", "reason")
		opt(" (%s)", "field")
		bad = true
	default:
		b.WriteString(e.Type)
		keys := make([]string, 0, len(a))
		for k := range a {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, a[k])
		}
	}
	return b.String(), bad
}

// Size renders a byte count given as a decimal string.
func Size(s string) string {
	var n float64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return s + " bytes"
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f bytes", n)
}
