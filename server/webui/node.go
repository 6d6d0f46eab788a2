package webui

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

type factGroup struct {
	Name  string
	Facts []kv
}

type kv struct{ K, V string }

type step struct {
	At        time.Time
	Type      string // the event type, "" for a step derived from the node
	What      string
	Err       bool
	Node, MAC string // on the fleet page's error list
}

type nodeData struct {
	Node       core.NodeInfo
	IP         string
	Groups     []factGroup
	Commands   []store.Command
	Pending    []store.Command
	Timeline   []step
	FromEvents bool // the timeline is the node's recorded events
	Tags       []string
}

// families orders the fact groups; a fact goes to the first whose test
// matches its name.
var families = []struct {
	name string
	test func(string) bool
}{
	{"System", hasAny("manufacturer", "productname", "serialnumber", "uuid", "is_virtual", "virtual", "architecture", "hardwaremodel", "hostname", "kernel", "operatingsystem", "os", "mk_hw_bus_", "mk_ext_")},
	{"Firmware", hasAny("bios", "mk_hw_fw_", "boot_mode", "secure_boot", "lockdown", "bmc", "ipmi")},
	{"CPU", hasAny("processor", "physicalprocessorcount", "mk_hw_cpu", "mk_hw_lscpu_", "cpu")},
	{"Memory", hasAny("memorysize", "memoryfree", "swap", "mk_hw_mem")},
	{"Disks", hasAny("blockdevice", "mk_hw_disk", "disk")},
	{"NICs", hasAny("macaddress", "ipaddress", "netmask", "network_", "mtu_", "interfaces", "mk_hw_nic", "lldp")},
}

func hasAny(prefixes ...string) func(string) bool {
	return func(k string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
}

// groupFacts sorts facts into families, each sorted by name; what fits no
// family is "Other".
func groupFacts(facts map[string]string) []factGroup {
	groups := make([]factGroup, len(families)+1)
	for i, f := range families {
		groups[i].Name = f.name
	}
	groups[len(families)].Name = "Other"
	keys := make([]string, 0, len(facts))
	for k := range facts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i := len(families)
		for j, f := range families {
			if f.test(k) {
				i = j
				break
			}
		}
		groups[i].Facts = append(groups[i].Facts, kv{k, facts[k]})
	}
	return slices.DeleteFunc(groups, func(g factGroup) bool { return len(g.Facts) == 0 })
}

// timeline tells the node's story from what the store records: first and
// last registration, checkins, binding, the target's boot and every
// command, oldest first.
func timeline(n core.NodeInfo, cmds []store.Command) []step {
	var out []step
	add := func(t time.Time, what string, bad bool) {
		if !t.IsZero() {
			out = append(out, step{At: t, What: what, Err: bad})
		}
	}
	add(n.Created, "first registration", false)
	if n.Registered.After(n.Created) {
		add(n.Registered, "registered again (facts updated)", false)
	}
	if n.Policy != "" {
		add(n.BoundAt, "bound to policy "+n.Policy, false)
	}
	switch n.BootState {
	case store.BootBooted:
		add(n.BootStateAt, "booted its target", false)
	case store.BootFailed:
		add(n.BootStateAt, "came back to the microkernel after its target", true)
	}
	for _, c := range cmds {
		add(c.Queued, "command "+c.Name+" queued", false)
		add(c.Delivered, "command "+c.Name+" delivered", false)
	}
	add(n.LastCheckin, "last checkin", false)
	slices.SortStableFunc(out, func(a, b step) int { return a.At.Compare(b.At) })
	return out
}

func (u *UI) nodePage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	n, err := u.o.Fleet.Node(ctx, r.PathValue("id"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	cmds, err := u.o.Fleet.Commands(ctx, n.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := nodeData{Node: n, IP: primaryIP(n.Facts), Groups: groupFacts(n.Facts), Commands: cmds, Timeline: timeline(n, cmds)}
	if es, ok := u.eventSource(); ok {
		if steps, _, err := u.nodeEvents(ctx, es, n.ID); err == nil && len(steps) > 0 {
			d.Timeline, d.FromEvents = steps, true
		} else if err != nil {
			u.log.Warn("ui: node events", "node", n.ID, "err", err)
		}
	}
	for _, c := range cmds {
		if c.Delivered.IsZero() {
			d.Pending = append(d.Pending, c)
		}
	}
	u.render(w, r, "node", s, d)
}

func (u *UI) nodeCommand(w http.ResponseWriter, r *http.Request, _ *session) {
	id, name := r.PathValue("id"), r.PostFormValue("name")
	if name != string(wire.Reboot) && name != string(wire.Poweroff) {
		http.Error(w, "command: want reboot or poweroff", http.StatusBadRequest)
		return
	}
	if _, err := u.o.Fleet.QueueCommand(r.Context(), id, name); err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/nodes/"+url.PathEscape(id), name+" queued: the node gets it at its next checkin")
}

func (u *UI) nodeUnbind(w http.ResponseWriter, r *http.Request, _ *session) {
	id := r.PathValue("id")
	if _, err := u.o.Fleet.Unbind(r.Context(), id); err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/nodes/"+url.PathEscape(id), "unbound")
}

func (u *UI) nodeDelete(w http.ResponseWriter, r *http.Request, _ *session) {
	id := r.PathValue("id")
	if err := u.o.Fleet.DeleteNode(r.Context(), id); err != nil {
		u.fail(w, r, err)
		return
	}
	back(w, r, "/ui/nodes", "node "+id+" deleted")
}
