// Package bootscript renders the iPXE scripts the checkin server hands to
// network-booting nodes: the chain script that makes iPXE report the
// node's identity, the microkernel, a policy's boot target (kernel, iPXE
// template, local disk, poweroff), and the error script that sleeps and
// reboots instead of leaving a node hanging.
//
// Policy targets are Go text/template templates over Vars. Every line
// handed to iPXE is checked: a value that would break out of its line
// (a newline in a fact, say) is an error, not an injected command.
package bootscript

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
)

// ErrTarget: a policy's boot target is invalid or does not render.
var ErrTarget = errors.New("bootscript: bad boot target")

// TargetError names the target field that is wrong.
type TargetError struct {
	Field string // kind, kernel, initrd, cmdline, script, local
	Msg   string
}

func (e *TargetError) Error() string { return fmt.Sprintf("target.%s: %s", e.Field, e.Msg) }

// Unwrap makes errors.Is(err, ErrTarget) true.
func (e *TargetError) Unwrap() error { return ErrTarget }

// Vars is what target templates see.
type Vars struct {
	Server   string            // http://host:port of this server
	Node     string            // node id
	Policy   string            // bound policy name
	MAC      string            // booting NIC, AA:BB:CC:DD:EE:FF
	MACs     []string          // all the node's MACs, colon form
	UUID     string            // SMBIOS UUID or ""
	Serial   string            // as iPXE reported it, sanitised
	Arch     string            // iPXE ${buildarch}: i386, x86_64, arm64
	Platform string            // iPXE ${platform}: pcbios, efi
	Loader   string            // what runs the script: LoaderIPXE ("" too) or LoaderGRUB
	Facts    map[string]string // the node's facts
}

// EFI reports whether the node booted through UEFI.
func (v Vars) EFI() bool { return v.Platform == "efi" }

const header = "#!ipxe\n"

// Chain returns the script served at the bare script URL (what DHCP hands
// to iPXE): it fetches the per-node script with the identity iPXE knows.
func Chain(scriptURL string, retry time.Duration) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("echo Razor: fetching the boot script for ${mac}\n")
	// ${uuid} as it is: its text form is hex digits and dashes, safe in a
	// URL. ${uuid:uristring} would reinterpret the setting's 16 raw bytes
	// as a string, which ends at the first zero byte of the UUID and cuts
	// the rest of the URL (serial, arch, platform) off with it: a UEFI
	// node then gets a script without initrd= and cannot find its initrd.
	fmt.Fprintf(&b, "chain --autofree %s?mac=${mac:hexhyp}&uuid=${uuid}&serial=${serial:uristring}&arch=${buildarch}&platform=${platform} || goto error\n", scriptURL)
	b.WriteString(errorTail("could not fetch the boot script", retry))
	return b.String()
}

// Microkernel describes the microkernel boot.
type Microkernel struct {
	KernelURL string
	InitrdURL string
	// InitrdName is the initrd's image name in iPXE (the URL's last
	// element); UEFI's EFI stub needs initrd=<name> on the command line.
	InitrdName string
	// Args are the kernel arguments: the image's, then razor.server= and
	// razor.token=, then the operator's extra arguments.
	Args []string
	Name string // image name, for the echo line
}

// MicrokernelScript renders the microkernel boot for a node.
func MicrokernelScript(mk Microkernel, v Vars, retry time.Duration) (string, error) {
	args := append([]string(nil), mk.Args...)
	if v.EFI() {
		args = append(args, "initrd="+mk.InitrdName)
	}
	cmdline := strings.Join(strings.Fields(strings.Join(args, " ")), " ")
	lines := []string{
		"echo Razor: booting microkernel " + mk.Name + " for " + v.MAC,
		"kernel " + mk.KernelURL + " " + cmdline + " || goto error",
		"initrd " + mk.InitrdURL + " || goto error",
		"boot || goto error",
	}
	return assemble(lines, "microkernel boot failed", retry)
}

// Target renders a policy's boot target for a node.
func Target(t store.Target, v Vars, retry time.Duration) (string, error) {
	switch t.Kind {
	case store.TargetKernel:
		kernel, err := render("kernel", t.Kernel, v)
		if err != nil {
			return "", err
		}
		cmdline, err := render("cmdline", t.Cmdline, v)
		if err != nil {
			return "", err
		}
		initrd, err := render("initrd", t.Initrd, v)
		if err != nil {
			return "", err
		}
		if initrd != "" && v.EFI() {
			cmdline = strings.TrimSpace(cmdline + " initrd=" + imageName(initrd))
		}
		lines := []string{"echo Razor: node " + v.Node + " boots policy " + v.Policy}
		lines = append(lines, strings.TrimSpace("kernel "+kernel+" "+cmdline)+" || goto error")
		if initrd != "" {
			lines = append(lines, "initrd "+initrd+" || goto error")
		}
		lines = append(lines, "boot || goto error")
		return assemble(lines, "boot of policy "+v.Policy+" failed", retry)
	case store.TargetIPXE:
		body, err := renderScript(t.Script, v)
		if err != nil {
			return "", err
		}
		return body, nil
	case store.TargetLocal:
		return Local(t.Local), nil
	case store.TargetPoweroff:
		return Poweroff(), nil
	}
	return "", &TargetError{"kind", fmt.Sprintf("unknown kind %q", t.Kind)}
}

// Local returns the local-disk boot: "exit" hands back to the firmware,
// which tries its next boot device; "sanboot" boots the first disk.
func Local(how string) string {
	if how == "sanboot" {
		return header + "echo Razor: booting from the local disk\nsanboot --no-describe --drive 0x80 || exit\n"
	}
	return header + "echo Razor: booting from the next boot device\nexit\n"
}

// Poweroff returns the script that switches the node off.
func Poweroff() string {
	return header + "echo Razor: powering off\npoweroff || shell\n"
}

// Error returns a script that shows reason, waits and reboots.
func Error(reason string, retry time.Duration) string {
	return header + errorTail(reason, retry)
}

func errorTail(reason string, retry time.Duration) string {
	secs := max(int(retry.Seconds()), 1)
	return fmt.Sprintf(":error\necho Razor: %s\necho Razor: rebooting in %d s\nsleep %d\nreboot\n", sanitize(reason), secs, secs)
}

// assemble joins checked lines into a script with the error tail.
func assemble(lines []string, reason string, retry time.Duration) (string, error) {
	var b strings.Builder
	b.WriteString(header)
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return "", &TargetError{"cmdline", "renders to more than one line"}
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(errorTail(reason, retry))
	return b.String(), nil
}

// sanitize keeps a message on one line and free of iPXE expansions.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return ' '
		case r == '$':
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}

// imageName is the name iPXE gives an image fetched from u: its last
// path element.
func imageName(u string) string {
	if p, err := url.Parse(u); err == nil && p.Path != "" {
		return path.Base(p.Path)
	}
	return path.Base(u)
}

// funcs are the template helpers: fact NAME returns a fact or "".
func funcs(v Vars) template.FuncMap {
	return template.FuncMap{
		"fact": func(name string) string { return v.Facts[name] },
	}
}

// parse parses a template with the helpers and strict keys.
func parse(field, text string) (*template.Template, error) {
	t, err := template.New(field).Funcs(funcs(Vars{})).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, &TargetError{field, err.Error()}
	}
	return t, nil
}

// render executes a one-line field template.
func render(field, text string, v Vars) (string, error) {
	if text == "" {
		return "", nil
	}
	t, err := parse(field, text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Funcs(funcs(v)).Execute(&b, v); err != nil {
		return "", &TargetError{field, err.Error()}
	}
	out := strings.TrimSpace(b.String())
	if strings.ContainsAny(out, "\r\n") {
		return "", &TargetError{field, "renders to more than one line"}
	}
	return out, nil
}

// renderScript executes an iPXE script template. Fact values and the
// serial are passed with control characters removed, so that no value
// adds a line of its own.
func renderScript(text string, v Vars) (string, error) {
	t, err := parse("script", text)
	if err != nil {
		return "", err
	}
	clean := v
	clean.Facts = make(map[string]string, len(v.Facts))
	for k, val := range v.Facts {
		clean.Facts[k] = sanitize(val)
	}
	clean.Serial = sanitize(v.Serial)
	var b bytes.Buffer
	if err := t.Funcs(funcs(clean)).Execute(&b, clean); err != nil {
		return "", &TargetError{"script", err.Error()}
	}
	out := b.String()
	if !strings.HasPrefix(out, "#!ipxe") {
		return "", &TargetError{"script", `must start with "#!ipxe"`}
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out, nil
}

// sampleVars fill templates at validation time.
var sampleVars = Vars{
	Server: "http://192.0.2.1:8026", Node: "node1", Policy: "policy", MAC: "52:54:00:12:34:56",
	MACs: []string{"52:54:00:12:34:56"}, UUID: "4C4C4544-0031-3510-8036-B7C04F335331",
	Serial: "SERIAL", Arch: "x86_64", Platform: "pcbios",
	Facts: map[string]string{"hostname": "mk525400123456"},
}

// ValidateTarget checks a policy's target: the fields its kind needs, no
// fields it ignores, and that its templates parse and render.
func ValidateTarget(t store.Target) error {
	if err := validateLoaders(t); err != nil {
		return err
	}
	extra := func(field, val string) error {
		if val != "" {
			return &TargetError{field, fmt.Sprintf("not used by kind %q", t.Kind)}
		}
		return nil
	}
	var errs []error
	switch t.Kind {
	case store.TargetKernel:
		if t.Kernel == "" {
			return &TargetError{"kernel", "required for kind kernel"}
		}
		errs = append(errs, extra("script", t.Script), extra("local", t.Local))
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, f := range []struct{ name, text string }{{"kernel", t.Kernel}, {"initrd", t.Initrd}} {
			out, err := render(f.name, f.text, sampleVars)
			if err != nil {
				return err
			}
			if out == "" {
				continue
			}
			u, err := url.Parse(out)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tftp") || u.Host == "" {
				return &TargetError{f.name, fmt.Sprintf("not an http, https or tftp URL: %q", out)}
			}
			if strings.ContainsAny(out, " \t") {
				return &TargetError{f.name, fmt.Sprintf("URL contains spaces: %q", out)}
			}
		}
		_, err := Target(t, sampleVars, time.Second)
		return err
	case store.TargetIPXE:
		if t.Script == "" {
			return &TargetError{"script", "required for kind ipxe"}
		}
		errs = append(errs, extra("kernel", t.Kernel), extra("initrd", t.Initrd), extra("cmdline", t.Cmdline), extra("local", t.Local))
		if err := errors.Join(errs...); err != nil {
			return err
		}
		_, err := Target(t, sampleVars, time.Second)
		return err
	case store.TargetLocal:
		if t.Local != "" && t.Local != "exit" && t.Local != "sanboot" {
			return &TargetError{"local", fmt.Sprintf("must be exit or sanboot, got %q", t.Local)}
		}
		if t.Once {
			return &TargetError{"once", "only for kinds kernel and ipxe"}
		}
		return errors.Join(extra("kernel", t.Kernel), extra("initrd", t.Initrd), extra("cmdline", t.Cmdline), extra("script", t.Script))
	case store.TargetPoweroff:
		if t.Once {
			return &TargetError{"once", "only for kinds kernel and ipxe"}
		}
		return errors.Join(extra("kernel", t.Kernel), extra("initrd", t.Initrd), extra("cmdline", t.Cmdline), extra("script", t.Script), extra("local", t.Local))
	case "":
		return &TargetError{"kind", "required: kernel, ipxe, local or poweroff"}
	}
	return &TargetError{"kind", fmt.Sprintf("unknown kind %q: want kernel, ipxe, local or poweroff", t.Kind)}
}

// validateLoaders checks a target's loaders: known names, no repeats,
// and none its kind cannot run under.
func validateLoaders(t store.Target) error {
	seen := map[string]bool{}
	for _, l := range t.Loaders {
		switch {
		case l != LoaderIPXE && l != LoaderGRUB:
			return &TargetError{"loaders", fmt.Sprintf("unknown loader %q: want ipxe or grub", l)}
		case seen[l]:
			return &TargetError{"loaders", fmt.Sprintf("%q given twice", l)}
		case l == LoaderGRUB && t.Kind == store.TargetIPXE:
			return &TargetError{"loaders", "an iPXE script cannot run under grub"}
		}
		seen[l] = true
	}
	return nil
}
