package initsys

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/agent/modprobe"
	"github.com/razor-mk/razor-mk/kmod"
)

// Kernel command-line parameters init reads.
const (
	// ParamModules lists extra modules to load: razor.modules=a,b.
	ParamModules = "razor.modules"
	// ParamBlacklist lists modules never loaded for a device (modprobe's
	// own kernel parameter): modprobe.blacklist=a,b.
	ParamBlacklist = "modprobe.blacklist"
	// ParamDebug turns on debug logging and, in the dev variant, a shell
	// on the console: razor.debug.
	ParamDebug = "razor.debug"
	// ParamInterfaces limits DHCP to these interfaces: razor.ifaces=eth0.
	ParamInterfaces = "razor.ifaces"
	// ParamNetWait is how many seconds init waits for the first lease
	// before starting the agent anyway: razor.netwait=60.
	ParamNetWait = "razor.netwait"
)

// BootOptions are the settings init takes from the kernel command line.
type BootOptions struct {
	Modules    []string          // razor.modules
	Blacklist  []string          // modprobe.blacklist
	Params     map[string]string // module parameters: <module>.<param>=<value>
	Debug      bool              // razor.debug
	Interfaces []string          // razor.ifaces
	NetWait    time.Duration     // razor.netwait (0: the default)
}

// ParseBootOptions extracts init's settings from a parsed command line.
// Invalid module names and values are dropped (and listed in the second
// result), so that a typo cannot stop a node from booting.
func ParseBootOptions(c discover.Cmdline) (BootOptions, []string) {
	var o BootOptions
	var bad []string
	o.Modules, bad = moduleList(c[ParamModules], ParamModules, bad)
	o.Blacklist, bad = moduleList(c[ParamBlacklist], ParamBlacklist, bad)
	_, o.Debug = c[ParamDebug]
	for _, i := range strings.Split(c[ParamInterfaces], ",") {
		if i = strings.TrimSpace(i); i != "" {
			o.Interfaces = append(o.Interfaces, i)
		}
	}
	if v, ok := c[ParamNetWait]; ok {
		if s, err := strconv.Atoi(v); err == nil && s > 0 && s <= 3600 {
			o.NetWait = time.Duration(s) * time.Second
		} else {
			bad = append(bad, ParamNetWait+"="+v)
		}
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		mod, param, ok := strings.Cut(k, ".")
		if !ok || param == "" || !modprobe.ValidName(mod) || mod == "razor" || mod == "hanlon" || mod == "modprobe" {
			continue
		}
		if o.Params == nil {
			o.Params = map[string]string{}
		}
		kv := param + "=" + c[k]
		if c[k] == "" {
			kv = param
		}
		mod = kmod.Name(mod)
		o.Params[mod] = strings.TrimSpace(o.Params[mod] + " " + kv)
	}
	return o, bad
}

func moduleList(v, param string, bad []string) ([]string, []string) {
	var out []string
	for _, m := range strings.Split(v, ",") {
		m = strings.TrimSpace(m)
		switch {
		case m == "":
		case modprobe.ValidName(m):
			out = append(out, kmod.Name(m))
		default:
			bad = append(bad, param+": "+m)
		}
	}
	return out, bad
}
