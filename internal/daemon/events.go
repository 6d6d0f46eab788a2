package daemon

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/netboot/dhcp"
	"github.com/razor-mk/razor-mk/netboot/httpimg"
	"github.com/razor-mk/razor-mk/netboot/tftp"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
)

// This file joins the netboot services' reports (dhcp.Exchange,
// tftp.Transfer, httpimg.Send) to the event recorder: the netboot
// packages know nothing of the store.

// retention maps the configuration (0: no bound) to the recorder's
// options (0: default, negative: no bound).
func retention(cfg Config) store.Retention {
	unbounded := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	age := cfg.EventsMaxAge
	if age == 0 {
		age = -1
	}
	return store.Retention{PerNode: unbounded(cfg.EventsPerNode), Total: unbounded(cfg.EventsTotal), MaxAge: age}
}

// Events is the daemon's event recorder.
func (d *Daemon) Events() *events.Recorder { return d.ev }

// OnDHCP records a DHCP exchange and learns the address the MAC uses.
func (d *Daemon) OnDHCP(x dhcp.Exchange) {
	node := d.core.NodeByMAC(x.MAC)
	a := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set("reply", x.Reply)
	if x.Reply == "" {
		a["reply"] = "none"
	}
	if x.IP.IsValid() {
		a["ip"] = x.IP.String()
	}
	if x.Relay.IsValid() {
		a["relay"] = x.Relay.String()
	}
	set("arch", x.Arch)
	set("vendor_class", x.VendorClass)
	set("user_class", x.UserClass)
	set("file", x.File)
	set("reason", x.Reason)
	if x.Proxy {
		a["proxy"] = "true"
	}
	d.ev.Record(store.Event{Type: events.DHCP + "." + x.Type, Node: node, MAC: x.MAC, Attrs: a})
	if x.IP.IsValid() && (x.Reply == "ack" || x.Reply == "offer") {
		d.ev.LearnIP(x.IP, x.MAC, node)
	}
	d.m.DHCP(x.Type, a["reply"])
}

// who names the node and MAC behind a client address, from what DHCP and
// the boot scripts taught the recorder, for the TFTP and HTTP log lines.
func (d *Daemon) who(ip netip.Addr) (node, mac string) {
	mac, node = d.ev.ByIP(ip)
	if mac != "" && node == "" {
		node = d.core.NodeByMAC(mac)
	}
	return node, mac
}

// OnTFTP records a TFTP read request.
func (d *Daemon) OnTFTP(t tftp.Transfer) {
	d.recordSend(events.TFTPSend, t.Peer, t.File, t.Bytes, t.Size, t.Duration.Milliseconds(), t.Err == nil, t.Err)
	d.m.FileSend("tftp", sendOutcome(t.Err == nil, t.Bytes))
}

// OnHTTP records an image file sent over HTTP.
func (d *Daemon) OnHTTP(s httpimg.Send) {
	var err error
	if !s.Complete {
		err = errors.New("incomplete: HTTP " + strconv.Itoa(s.Status))
	}
	d.recordSend(events.HTTPSend, s.Remote, s.Path, s.Bytes, s.Size, s.Duration.Milliseconds(), s.Complete, err)
	d.m.FileSend("http", sendOutcome(s.Complete, s.Bytes))
}

func (d *Daemon) recordSend(typ string, ip netip.Addr, file string, bytes, size, ms int64, complete bool, err error) {
	mac, node := d.ev.ByIP(ip)
	if mac != "" && node == "" {
		node = d.core.NodeByMAC(mac)
	}
	a := map[string]string{
		"file": file, "bytes": strconv.FormatInt(bytes, 10), "size": strconv.FormatInt(size, 10),
		"ms": strconv.FormatInt(ms, 10), "outcome": sendOutcome(complete, bytes),
	}
	if ip.IsValid() {
		a["ip"] = ip.String()
	}
	if err != nil {
		a["reason"] = strings.TrimPrefix(err.Error(), "tftp: ")
	}
	d.ev.Record(store.Event{Type: typ, Node: node, MAC: mac, Attrs: a})
}

// sendOutcome: complete, aborted (started, not finished) or refused.
func sendOutcome(complete bool, bytes int64) string {
	switch {
	case complete:
		return "complete"
	case bytes > 0:
		return "aborted"
	}
	return "refused"
}
