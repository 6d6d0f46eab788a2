package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/server/bootscript"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// BootRequest is what iPXE tells about itself when it fetches
// /boot.ipxe?mac=…&uuid=…&serial=…&arch=…&platform=….
type BootRequest struct {
	MAC, UUID, Serial, Arch, Platform string
	// Loader is what asked: bootscript.LoaderIPXE (/boot.ipxe, also
	// when empty) or bootscript.LoaderGRUB (grub/node.cfg over TFTP or
	// /boot.grub): the result is in that loader's language.
	Loader string
	// IP is the address the request came from (may be zero): file sends
	// to it are then attributed to the node.
	IP netip.Addr
}

// BootResult is a rendered per-node script.
type BootResult struct {
	Script string
	// Kind: microkernel, kernel, ipxe, local, poweroff or error.
	Kind   string
	NodeID string
	Policy string
	Reason string // for error scripts
	// Loader is the loader the script is for (bootscript.LoaderIPXE or
	// LoaderGRUB).
	Loader string
}

// Boot renders the node's iPXE script: its policy's target when it is
// bound (and the target has not failed), else the microkernel with a new
// boot token. It never fails: a problem gives an error script that shows
// the reason, waits and reboots.
func (c *Core) Boot(ctx context.Context, req BootRequest) BootResult {
	r, err := c.boot(ctx, req)
	// The timeline of a MAC: the same form as in checkin logs.
	mac, merr := wire.NormalizeMAC(req.MAC)
	if merr != nil {
		mac = clean(req.MAC, 40)
	}
	a := map[string]string{}
	if req.IP.IsValid() {
		a["ip"] = req.IP.String()
	}
	grub := req.Loader == bootscript.LoaderGRUB
	if err != nil {
		script := bootscript.Error(err.Error(), c.opts.BootRetry)
		if grub {
			script = bootscript.GRUBError(err.Error(), c.opts.BootRetry)
		}
		r = BootResult{Script: script, Kind: "error", NodeID: r.NodeID, Reason: err.Error()}
		c.log.Warn("boot script: error", "node", r.NodeID, "mac", wire.ColonMAC(mac), "err", err)
		a["reason"] = err.Error()
	} else {
		c.log.Info("boot script served", "node", r.NodeID, "mac", wire.ColonMAC(mac), "kind", r.Kind, "policy", r.Policy, "loader", loaderName(req.Loader))
	}
	r.Loader = loaderName(req.Loader)
	if grub {
		a["loader"] = bootscript.LoaderGRUB
	}
	if r.Reason != "" && r.Kind != "error" {
		// Served, but not what the node's binding asked for.
		a["error"] = r.Reason
	}
	a["kind"] = r.Kind
	if r.Policy != "" {
		a["policy"] = r.Policy
	}
	var ms []string
	if merr == nil {
		ms = []string{mac}
		c.learnIP(req.IP, mac, r.NodeID)
	}
	c.record(events.BootScript, r.NodeID, ms, a)
	c.m.BootScript(r.Kind)
	return r
}

// clean keeps only characters that are safe in a log line and a kernel
// command line.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '$' || r == '"' || r == '\'' || r == '\\' {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
	}
	return s
}

func (c *Core) boot(ctx context.Context, req BootRequest) (BootResult, error) {
	mac, err := wire.NormalizeMAC(req.MAC)
	if err != nil {
		return BootResult{}, fmt.Errorf("bad mac parameter: %v", err)
	}
	uuid, _ := wire.NormalizeUUID(req.UUID)
	v := bootscript.Vars{
		Server: c.opts.ServerURL, MAC: wire.ColonMAC(mac), UUID: uuid,
		Serial: clean(req.Serial, 64), Arch: clean(req.Arch, 16), Platform: clean(req.Platform, 16),
		Loader: loaderName(req.Loader),
	}
	e := c.cache.find(uuid, []string{mac})
	if e != nil {
		v.Node = e.node.ID
		if n := e.node; n.Policy != "" && n.BootState != store.BootFailed {
			if p, ok := c.policies.Load().byName[n.Policy]; ok {
				if err := bootscript.CanRunUnder(p.Target, v.Loader, c.opts.ServerURL); err != nil {
					// Not a hang: the microkernel, and the reason in the
					// event and the log.
					r, merr := c.bootMicrokernel(ctx, mac, uuid, v)
					r.Policy, r.Reason = p.Name, fmt.Sprintf("policy %s cannot boot under %s: %v", p.Name, v.Loader, err)
					c.log.Warn("boot: target cannot run under the node's loader; serving the microkernel", "node", n.ID, "policy", p.Name, "loader", v.Loader, "err", err)
					return r, merr
				}
				return c.bootTarget(ctx, n, p, v)
			}
		}
	}
	return c.bootMicrokernel(ctx, mac, uuid, v)
}

// bootTarget renders a bound node's target and marks it booted.
func (c *Core) bootTarget(ctx context.Context, n store.Node, p store.Policy, v bootscript.Vars) (BootResult, error) {
	r := BootResult{NodeID: n.ID, Policy: p.Name, Kind: string(p.Target.Kind)}
	full, err := c.st.GetNode(ctx, n.ID)
	if err != nil {
		return r, fmt.Errorf("node %s: %w", n.ID, err)
	}
	v.Policy, v.Facts = p.Name, full.Facts
	for _, m := range full.MACs {
		v.MACs = append(v.MACs, wire.ColonMAC(m))
	}
	if p.Target.Once && n.BootState == store.BootBooted {
		r.Kind, r.Script = "local", bootscript.Local("exit")
		if v.Loader == bootscript.LoaderGRUB {
			r.Script = bootscript.GRUBLocal()
		}
		return r, nil
	}
	render := bootscript.Target
	if v.Loader == bootscript.LoaderGRUB {
		render = bootscript.GRUBTarget
	}
	if r.Script, err = render(p.Target, v, c.opts.BootRetry); err != nil {
		return r, fmt.Errorf("policy %s: %w", p.Name, err)
	}
	if n.BootState == store.BootPending {
		fresh, err := c.st.SetBootState(ctx, n.ID, p.Name, store.BootBooted, c.now())
		switch {
		case err == nil:
			c.cache.put(fresh, nil, 0)
		case errors.Is(err, store.ErrStale):
			// Unbound meanwhile: serve the microkernel instead.
			return c.bootMicrokernel(ctx, strings.ReplaceAll(v.MAC, ":", ""), v.UUID, v)
		default:
			return r, fmt.Errorf("node %s: %w", n.ID, err)
		}
	}
	return r, nil
}

// bootMicrokernel renders the microkernel with a new boot token, recorded
// under the booting MAC and the UUID before the script is served.
func (c *Core) bootMicrokernel(ctx context.Context, mac, uuid string, v bootscript.Vars) (BootResult, error) {
	r := BootResult{NodeID: v.Node, Kind: "microkernel"}
	if c.opts.Images == nil {
		return r, errors.New("no images directory configured")
	}
	arch := v.Arch
	if arch == "" && v.Node != "" {
		// Nothing from the loader: the architecture the agent reported.
		if n, err := c.st.GetNode(ctx, v.Node); err == nil {
			arch = n.Facts["architecture"]
		}
	}
	img, err := c.opts.Images.CurrentFor(arch)
	if err != nil {
		return r, err
	}
	tok, err := c.newToken()
	if err != nil {
		return r, err
	}
	ks := keys(uuid, []string{mac})
	now := c.now()
	if err := c.st.PutToken(ctx, ks, tok, now); err != nil {
		return r, fmt.Errorf("record boot token: %w", err)
	}
	c.cache.putToken(ks, tok, now)
	mk := bootscript.Microkernel{
		KernelURL: img.KernelURL(c.opts.ServerURL), InitrdURL: img.InitrdURL(c.opts.ServerURL),
		InitrdName: path.Base(img.Initrd), Name: img.Name,
		Args: []string{img.Manifest.Cmdline, c.serverArgs(), "razor.token=" + tok, c.skewArg(), c.opts.KernelArgs},
	}
	if v.Loader == bootscript.LoaderGRUB {
		// GRUB loads over TFTP, where the images directory is served
		// under images/ as over HTTP; the EFI stub needs no initrd=.
		mk.KernelURL = path.Join("/images", img.Name, img.Kernel)
		mk.InitrdURL = path.Join("/images", img.Name, img.Initrd)
		r.Script, err = bootscript.GRUBMicrokernel(mk, v, c.opts.BootRetry)
		return r, err
	}
	if r.Script, err = bootscript.MicrokernelScript(mk, v, c.opts.BootRetry); err != nil {
		return r, err
	}
	return r, nil
}

// loaderName is the loader a request names, iPXE by default.
func loaderName(l string) string {
	if l == bootscript.LoaderGRUB {
		return l
	}
	return bootscript.LoaderIPXE
}

// skewArg is the razor.checkin_skew= argument, or "" when not configured.
func (c *Core) skewArg() string {
	if c.opts.CheckinSkew == nil {
		return ""
	}
	return "razor.checkin_skew=" + strconv.Itoa(*c.opts.CheckinSkew)
}

// serverArgs tells the agent where the server is: over HTTPS with the CA
// to pin when TLS is on, else over HTTP.
func (c *Core) serverArgs() string {
	if c.opts.SecureURL != "" && c.opts.CASHA256 != "" {
		return "razor.server=" + c.opts.SecureURL + " razor.ca_sha256=" + c.opts.CASHA256
	}
	return "razor.server=" + c.opts.ServerURL
}
