package bootscript

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// Loaders: what runs a node's boot configuration.
const (
	// LoaderIPXE: iPXE fetched /boot.ipxe; it loads over HTTP.
	LoaderIPXE = "ipxe"
	// LoaderGRUB: Debian's signed netboot GRUB (after shim) fetched
	// grub/node.cfg; it loads over TFTP only (the signed image has no
	// http module and loads no module under Secure Boot).
	LoaderGRUB = "grub"
)

// GRUBNodePath is the TFTP path, under the TFTP root, of the per-node
// GRUB configuration; GRUBChain sources it with the node's identity as
// a query.
const GRUBNodePath = "grub/node.cfg"

// GRUBChain returns the configuration served as grub/grub.cfg, the file
// Debian's netboot GRUB reads from its prefix ((tftp,SERVER)/grub): it
// reads the node's identity (MAC of the booting NIC, SMBIOS UUID and
// serial) and sources the per-node configuration at nodePath on the
// same server ("/"+GRUBNodePath over TFTP, "/boot.grub" over HTTP), the
// counterpart of iPXE's chain script.
func GRUBChain(nodePath string, retry time.Duration) string {
	var b strings.Builder
	b.WriteString("# Razor: per-node boot configuration\n")
	b.WriteString("set timeout=0\n")
	b.WriteString("smbios --type 1 --get-uuid 8 --set razor_uuid\n")
	b.WriteString("smbios --type 1 --get-string 7 --set razor_serial\n")
	b.WriteString(`echo "Razor: fetching the boot configuration for $net_default_mac"` + "\n")
	// Double quotes expand the variables and keep each value one word;
	// the serial goes last, so that a "&" in it spoils nothing else.
	fmt.Fprintf(&b, `source "%s?mac=$net_default_mac&uuid=$razor_uuid&arch=$grub_cpu&platform=$grub_platform&serial=$razor_serial"`+"\n", nodePath)
	b.WriteString(grubErrorTail("could not fetch the boot configuration", retry))
	return b.String()
}

// GRUBMicrokernel renders the microkernel boot under GRUB: the kernel
// and initrd by their TFTP paths (KernelURL and InitrdURL are paths
// under the TFTP root here), then boot; a failed step shows the reason,
// waits and reboots.
func GRUBMicrokernel(mk Microkernel, v Vars, retry time.Duration) (string, error) {
	cmdline, err := grubWords(strings.Fields(strings.Join(mk.Args, " ")))
	if err != nil {
		return "", err
	}
	kernel, err := grubWords([]string{mk.KernelURL})
	if err != nil {
		return "", err
	}
	initrd, err := grubWords([]string{mk.InitrdURL})
	if err != nil {
		return "", err
	}
	body := []string{
		grubEcho("Razor: booting microkernel " + mk.Name + " for " + v.MAC),
		"if linux " + kernel + " " + cmdline + "; then",
		"  if initrd " + initrd + "; then",
		"    boot",
		"  fi",
		"fi",
	}
	return grubAssemble(body, "microkernel boot failed", retry), nil
}

// GRUBTarget renders a policy's boot target under GRUB. Kernel and
// initrd must be loadable by GRUB over TFTP: tftp:// URLs, or http(s)
// URLs on this server's /images/ (served over TFTP too); an iPXE script
// cannot run under GRUB. Such a target is a TargetError naming why.
func GRUBTarget(t store.Target, v Vars, retry time.Duration) (string, error) {
	if err := CanRunUnder(t, LoaderGRUB, v.Server); err != nil {
		return "", err
	}
	switch t.Kind {
	case store.TargetKernel:
		kernel, err := render("kernel", t.Kernel, v)
		if err != nil {
			return "", err
		}
		initrd, err := render("initrd", t.Initrd, v)
		if err != nil {
			return "", err
		}
		cmdline, err := render("cmdline", t.Cmdline, v)
		if err != nil {
			return "", err
		}
		kp, err := GRUBPath(kernel, v.Server)
		if err != nil {
			return "", &TargetError{"kernel", err.Error()}
		}
		kw, err := grubWords([]string{kp})
		if err != nil {
			return "", &TargetError{"kernel", err.Error()}
		}
		args, err := grubWords(strings.Fields(cmdline))
		if err != nil {
			return "", &TargetError{"cmdline", err.Error()}
		}
		body := []string{grubEcho("Razor: node " + v.Node + " boots policy " + v.Policy)}
		if initrd == "" {
			body = append(body, "if linux "+kw+" "+args+"; then", "  boot", "fi")
		} else {
			ip, err := GRUBPath(initrd, v.Server)
			if err != nil {
				return "", &TargetError{"initrd", err.Error()}
			}
			iw, err := grubWords([]string{ip})
			if err != nil {
				return "", &TargetError{"initrd", err.Error()}
			}
			body = append(body, "if linux "+kw+" "+args+"; then", "  if initrd "+iw+"; then", "    boot", "  fi", "fi")
		}
		return grubAssemble(body, "boot of policy "+v.Policy+" failed", retry), nil
	case store.TargetLocal:
		return GRUBLocal(), nil
	case store.TargetPoweroff:
		return GRUBPoweroff(), nil
	}
	return "", &TargetError{"kind", fmt.Sprintf("kind %q cannot run under grub", t.Kind)}
}

// GRUBLocal hands back to the firmware, which boots its next device
// (GRUB cannot sanboot: both local modes end the same way).
func GRUBLocal() string {
	return "# Razor\n" + grubEcho("Razor: booting from the next boot device") + "\nexit\n"
}

// GRUBPoweroff switches the node off.
func GRUBPoweroff() string {
	return "# Razor\n" + grubEcho("Razor: powering off") + "\nhalt\n"
}

// GRUBError shows reason, waits and reboots.
func GRUBError(reason string, retry time.Duration) string {
	return "# Razor\n" + grubErrorTail(reason, retry)
}

// CanRunUnder says whether a target can run under a loader: an iPXE
// script runs under iPXE only, a kernel target under GRUB only when its
// kernel and initrd are loadable over TFTP (GRUBPath), and the target's
// Loaders, when set, must name the loader. server is this server's
// http://host:port, for recognising its own URLs. The error says why
// not.
func CanRunUnder(t store.Target, loader, server string) error {
	if len(t.Loaders) > 0 {
		ok := false
		for _, l := range t.Loaders {
			ok = ok || l == loader
		}
		if !ok {
			return &TargetError{"loaders", fmt.Sprintf("target runs under %s only, the node booted %s", strings.Join(t.Loaders, ", "), loader)}
		}
	}
	if loader != LoaderGRUB {
		return nil
	}
	switch t.Kind {
	case store.TargetIPXE:
		return &TargetError{"kind", "an iPXE script cannot run under grub (the node booted through shim and GRUB; give the target loaders: [ipxe] hosts the iPXE loader, or use kind kernel)"}
	case store.TargetKernel:
		for _, f := range []struct{ name, text string }{{"kernel", t.Kernel}, {"initrd", t.Initrd}} {
			if f.text == "" {
				continue
			}
			sv := sampleVars
			sv.Server = server
			out, err := render(f.name, f.text, sv)
			if err != nil {
				return err
			}
			if _, err := GRUBPath(out, server); err != nil {
				return &TargetError{f.name, err.Error()}
			}
		}
	}
	return nil
}

// GRUBPath turns a target URL into a path GRUB loads over TFTP:
// tftp://host/p → (tftp,host)/p; http(s)://<this server>/images/p →
// /images/p (this server's TFTP serves its images directory as it does
// over HTTP). Other URLs are an error: Debian's signed GRUB has no HTTP.
func GRUBPath(u, server string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "", fmt.Errorf("not a URL GRUB can load: %q", u)
	}
	switch p.Scheme {
	case "tftp":
		return "(tftp," + p.Hostname() + ")" + path.Clean("/"+p.Path), nil
	case "http", "https":
		s, err := url.Parse(server)
		if err == nil && s.Host != "" && strings.EqualFold(p.Hostname(), s.Hostname()) && strings.HasPrefix(path.Clean(p.Path), "/images/") && p.RawQuery == "" {
			return path.Clean(p.Path), nil
		}
		return "", fmt.Errorf("GRUB loads over TFTP only: %q is neither tftp:// nor this server's /images/", u)
	}
	return "", fmt.Errorf("not a URL GRUB can load: %q", u)
}

// grubWords quotes words for a GRUB command line: each in single quotes
// (nothing expands inside them). A word with a quote, a backslash or a
// control character is refused, so no value can end the command.
func grubWords(words []string) (string, error) {
	q := make([]string, 0, len(words))
	for _, w := range words {
		if strings.ContainsAny(w, `'\`) || strings.IndexFunc(w, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return "", &TargetError{"cmdline", fmt.Sprintf("%q: quotes, backslashes and control characters cannot go on a GRUB command line", trunc(w))}
		}
		q = append(q, "'"+w+"'")
	}
	return strings.Join(q, " "), nil
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// grubEcho is an echo of a message made safe: single-quoted, without
// the characters that could end the quote or the line.
func grubEcho(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if r == '\'' || r == '\\' {
			return -1
		}
		return r
	}, sanitize(msg))
	return "echo '" + msg + "'"
}

func grubErrorTail(reason string, retry time.Duration) string {
	secs := max(int(retry.Seconds()), 1)
	return fmt.Sprintf("%s\n%s\nsleep %d\nreboot\n", grubEcho("Razor: "+reason), grubEcho(fmt.Sprintf("Razor: rebooting in %d s", secs)), secs)
}

func grubAssemble(body []string, reason string, retry time.Duration) string {
	var b strings.Builder
	b.WriteString("# Razor\nset timeout=0\n")
	for _, l := range body {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(grubErrorTail(reason, retry))
	return b.String()
}
