package testlab

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Event is one line of razor-netboot's JSON log (--log-format json).
type Event struct {
	Time  time.Time
	Level string
	Msg   string
	// Attrs holds the other keys, values as text.
	Attrs map[string]string
}

// ParseEvent parses one JSON log line; ok is false for anything else.
func ParseEvent(line string) (e Event, ok bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") {
		return Event{}, false
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return Event{}, false
	}
	e.Attrs = make(map[string]string, len(m))
	for k, v := range m {
		switch k {
		case "time":
			s, _ := v.(string)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return Event{}, false
			}
			e.Time = t
		case "level":
			e.Level, _ = v.(string)
		case "msg":
			e.Msg, _ = v.(string)
		default:
			e.Attrs[k] = text(v)
		}
	}
	return e, !e.Time.IsZero() && e.Msg != ""
}

// text renders a JSON value the way a log reader wants it.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = text(p)
		}
		return strings.Join(parts, " ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// NormalizeMAC returns a MAC in the server's hw_id form: 12 upper-case
// hex digits, no separators.
func NormalizeMAC(mac string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", "-", "", ".", "").Replace(mac))
}

// NodeFilter picks one node's events out of the server's log: those that
// carry its MAC in any form (DHCP, boot script, checkin, registration),
// and, once DHCP has acknowledged an address for it, those from that
// address (TFTP and image transfers, which know only the peer). Its
// methods may be called from several goroutines.
type NodeFilter struct {
	mac string

	mu sync.Mutex
	ip string
}

// NewNodeFilter follows the node with the given MAC.
func NewNodeFilter(mac string) *NodeFilter { return &NodeFilter{mac: NormalizeMAC(mac)} }

// IP returns the address DHCP gave the node, "" before.
func (f *NodeFilter) IP() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ip
}

// Match reports whether e concerns the node, learning its address from
// DHCP offers and acknowledgements.
func (f *NodeFilter) Match(e Event) bool {
	if m, ok := e.Attrs["mac"]; ok && f.mac != "" {
		for _, one := range strings.Split(m, "_") {
			if NormalizeMAC(one) == f.mac {
				if ip := e.Attrs["ip"]; ip != "" && strings.HasPrefix(e.Msg, "dhcp:") {
					f.mu.Lock()
					f.ip = ip
					f.mu.Unlock()
				}
				return true
			}
		}
		return false
	}
	ip := f.IP()
	if ip == "" {
		return false
	}
	for _, k := range []string{"ip", "remote", "peer"} {
		if v, ok := e.Attrs[k]; ok && host(v) == ip {
			return true
		}
	}
	return false
}

// host strips a port from addr.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
