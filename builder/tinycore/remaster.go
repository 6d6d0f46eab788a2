package tinycore

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/initramfs"
)

// Paths the remaster writes or edits.
const (
	// agentPath is where the builder puts mk-agent (as on every base).
	agentPath = "bin/mk-agent"
	// startScriptPath is the init script that starts the agent once per boot.
	startScriptPath = "etc/init.d/razor-mk"
	// bootsyncPath is Tiny Core's boot hook, which tc-config waits for.
	bootsyncPath = "opt/bootsync.sh"
	// inittabPath is busybox init's configuration.
	inittabPath = "etc/inittab"
	// shadowPath holds the password hashes.
	shadowPath = "etc/shadow"
	// startLine is what bootsync.sh and inittab run.
	startLine = "/etc/init.d/razor-mk start"
)

// overlay is what a remaster adds to a Tiny Core root file system.
type overlay struct {
	// Variant is "dev" or "prod".
	Variant string
	// Hostname replaces the "sethostname box" of bootsync.sh and
	// /etc/hostname; "" keeps them.
	Hostname string
	// BusyboxExclude are applets whose busybox links are removed.
	BusyboxExclude []string
	// AuthorizedKeys are the dev variant's keys for user tc.
	AuthorizedKeys []string
	// SSHServer is the init script the dev variant starts
	// ("/usr/local/etc/init.d/openssh"); "" starts none.
	SSHServer string
	// AgentSSH starts mk-agent's own SSH server ("mk-agent devssh", the
	// dev build) instead, with the keys at /etc/razor/authorized_keys.
	AgentSSH bool
	// Extensions are added with set.AddTo, owned by tc:staff.
	Extensions *set
	// Unpacked is set by Apply when it unpacked the built-in extensions.
	Unpacked *unpackReport
}

// checkTinyCore reports whether a looks like a Tiny Core root file
// system: the files the remaster edits and the boot scripts that call
// them.
func checkTinyCore(a *initramfs.Archive) error {
	var missing []string
	for _, p := range []string{"etc/init.d/tc-config", bootsyncPath, inittabPath, "etc/passwd"} {
		if r, ok := a.Get(p); !ok || (r.Type != initramfs.TypeFile && r.Type != initramfs.TypeSymlink) {
			missing = append(missing, "/"+p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no %s", ErrNotTinyCore, strings.Join(missing, ", "))
	}
	return nil
}

// Apply remasters a, a Tiny Core root file system that already holds the
// agent at agentPath: it adds the agent's start, the extensions and the
// variant's changes, keeping everything else as the release has it.
func (o *overlay) Apply(a *initramfs.Archive) error {
	if err := checkTinyCore(a); err != nil {
		return err
	}
	if r, ok := a.Get(agentPath); !ok || r.Type != initramfs.TypeFile {
		return fmt.Errorf("tinycore: remaster: no agent at /%s", agentPath)
	}
	tc := lookupUser(a, "tc", owner{UID: 1001, GID: 50})
	dev := o.Variant == "dev"

	a.AddRecord(initramfs.Record{Name: startScriptPath, Type: initramfs.TypeFile, Perm: 0o755, Data: startScript(dev, o.SSHServer, dev && o.AgentSSH)})

	bootsync, err := fileContent(a, bootsyncPath)
	if err != nil {
		return err
	}
	r, _ := a.Get(bootsyncPath)
	r = regular(r, bootsyncPath)
	r.Data = editBootsync(bootsync, o.Hostname)
	a.AddRecord(r)

	inittab, err := fileContent(a, inittabPath)
	if err != nil {
		return err
	}
	r, _ = a.Get(inittabPath)
	r = regular(r, inittabPath)
	r.Data = editInittab(inittab, !dev)
	a.AddRecord(r)

	if o.Hostname != "" {
		a.AddFile("etc/hostname", []byte(o.Hostname+"\n"), 0o644)
	}
	if shadow, err := fileContent(a, shadowPath); err == nil && !dev {
		r, _ := a.Get(shadowPath)
		r = regular(r, shadowPath)
		r.Data = lockShadow(shadow)
		a.AddRecord(r)
	} else if !dev {
		// No shadow file: create one that locks every account of passwd.
		passwd, _ := fileContent(a, "etc/passwd")
		a.AddRecord(initramfs.Record{Name: shadowPath, Type: initramfs.TypeFile, Perm: 0o600, Data: lockShadow(shadowFromPasswd(passwd))})
	}
	removeApplets(a, o.BusyboxExclude)

	if dev && len(o.AuthorizedKeys) > 0 {
		home := userHome(a, "tc", "home/tc")
		a.AddRecord(initramfs.Record{Name: home + "/.ssh", Type: initramfs.TypeDir, Perm: 0o700, UID: tc.UID, GID: tc.GID})
		a.AddRecord(initramfs.Record{Name: home + "/.ssh/authorized_keys", Type: initramfs.TypeFile, Perm: 0o600, UID: tc.UID, GID: tc.GID,
			Data: []byte(strings.Join(o.AuthorizedKeys, "\n") + "\n")})
	}
	if o.Extensions != nil {
		o.Extensions.AddTo(a, tc)
		if o.Extensions.Unpack && len(o.Extensions.Builtin) > 0 {
			rep, err := o.Extensions.unpackBuiltin(a, tc)
			if err != nil {
				return err
			}
			o.Unpacked = &rep
		}
	}
	return a.Err()
}

// regular turns a symlinked boot file into the regular file that
// replaces it (a release may link etc/inittab elsewhere).
func regular(r initramfs.Record, name string) initramfs.Record {
	if r.Type != initramfs.TypeFile {
		return initramfs.Record{Name: name, Type: initramfs.TypeFile, Perm: 0o644}
	}
	r.Source = ""
	return r
}

// fileContent reads a regular file of a, following symlinks inside the
// archive (at most 8).
func fileContent(a *initramfs.Archive, name string) ([]byte, error) {
	for range 8 {
		r, ok := a.Get(name)
		if !ok {
			return nil, fmt.Errorf("%w: no /%s", ErrNotTinyCore, name)
		}
		switch r.Type {
		case initramfs.TypeFile:
			return r.Content()
		case initramfs.TypeSymlink:
			t := r.Target
			if !strings.HasPrefix(t, "/") {
				t = path.Join(path.Dir(name), t)
			}
			name = strings.TrimPrefix(path.Clean("/"+t), "/")
		default:
			return nil, fmt.Errorf("%w: /%s is a %s", ErrNotTinyCore, name, r.Type)
		}
	}
	return nil, fmt.Errorf("%w: /%s: too many symlinks", ErrNotTinyCore, name)
}

// startScript is /etc/init.d/razor-mk. It starts the agent at most once
// per boot (mkdir is atomic), in a loop that restarts it, with its output
// on the console.
func startScript(dev bool, sshServer string, agentSSH bool) []byte {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Razor microkernel: starts mk-agent, the Microkernel Controller, once per
# boot. Called from /opt/bootsync.sh and, should a mydata.tgz restore
# replace that file, from /etc/inittab after the boot scripts. Written by
# mkbuild; see the README (Tiny Core section).
LOCK=/var/run/razor-mk.started
`)
	if dev && sshServer != "" {
		fmt.Fprintf(&b, `
# dev variant: the SSH server of the built-in SSH extension, keys only.
start_sshd() {
	[ -x %[1]s ] || { echo "razor-mk: no %[1]s: the SSH extension did not load"; return; }
	cfg=/usr/local/etc/ssh/sshd_config
	if [ ! -e "$cfg" ]; then
		for o in "$cfg.orig" "$cfg.example"; do
			[ -f "$o" ] && cp "$o" "$cfg" && break
		done
	fi
	if [ -f "$cfg" ] && ! grep -q '^PasswordAuthentication no' "$cfg"; then
		printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' >>"$cfg"
	fi
	%[1]s start
}
`, sshServer)
	}
	b.WriteString(`
case "$1" in
start)
	mkdir -p /var/run
	mkdir "$LOCK" 2>/dev/null || exit 0
`)
	if dev && sshServer != "" {
		b.WriteString("\tstart_sshd </dev/null >/dev/console 2>&1\n")
	}
	if agentSSH {
		b.WriteString(`	# dev variant: mk-agent's own SSH server, keys only.
	(
		trap '' HUP
		while :; do
			/bin/mk-agent devssh
			echo "razor-mk: mk-agent devssh exited with status $?; restarting in 5 s"
			sleep 5
		done
	) </dev/null >/dev/console 2>&1 &
`)
	}
	b.WriteString(`	(
		trap '' HUP
		while :; do
			/bin/mk-agent run
			echo "razor-mk: mk-agent exited with status $?; restarting in 5 s"
			sleep 5
		done
	) </dev/null >/dev/console 2>&1 &
	;;
status)
	if [ -d "$LOCK" ]; then echo started; else echo "not started"; fi
	;;
*)
	echo "usage: $0 start|status" >&2
	exit 2
	;;
esac
`)
	return []byte(b.String())
}

var sethostnameRE = regexp.MustCompile(`^(\s*(?:\S*/)?sethostname)(?:\s+\S+)?\s*$`)

// editBootsync adds the agent's start to bootsync.sh before the line that
// starts bootlocal.sh (or at the end), once; with a hostname, the
// "sethostname box" line names it instead.
func editBootsync(data []byte, hostname string) []byte {
	var out []string
	added := false
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if strings.Contains(l, startLine) {
			added = true
		}
		if !added && strings.Contains(l, "bootlocal.sh") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, startLine+" # Razor: start mk-agent")
			added = true
		}
		if hostname != "" {
			if m := sethostnameRE.FindStringSubmatch(l); m != nil {
				l = m[1] + " " + hostname
			}
		}
		out = append(out, l)
	}
	if !added {
		out = append(out, startLine+" # Razor: start mk-agent")
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// editInittab adds a once entry that starts the agent after the boot
// scripts (a no-op when bootsync.sh already did); noAutologin turns
// Tiny Core's tty auto-login into a plain login prompt.
func editInittab(data []byte, noAutologin bool) []byte {
	var out []string
	has := false
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if strings.Contains(l, startLine) {
			has = true
		}
		if noAutologin && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			l = strings.Replace(l, " -nl /sbin/autologin", "", 1)
		}
		out = append(out, l)
	}
	if !has {
		out = append(out, "# Razor: start mk-agent, also when a mydata.tgz restore replaced /opt/bootsync.sh", "::once:"+startLine)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// lockShadow sets every account's password field to "*" (no password
// matches it), keeping the other fields.
func lockShadow(data []byte) []byte {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 2 && f[0] != "" && !strings.HasPrefix(f[0], "#") {
			f[1] = "*"
			l = strings.Join(f, ":")
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

func shadowFromPasswd(passwd []byte) []byte {
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(passwd))
	for sc.Scan() {
		if name, _, ok := strings.Cut(sc.Text(), ":"); ok && name != "" {
			b.WriteString(name + ":*:0:0:99999:7:::\n")
		}
	}
	return []byte(b.String())
}

// lookupUser returns a user's uid and gid from the archive's etc/passwd.
func lookupUser(a *initramfs.Archive, name string, def owner) owner {
	f := passwdEntry(a, name)
	if len(f) < 4 {
		return def
	}
	uid, err1 := strconv.ParseUint(f[2], 10, 32)
	gid, err2 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil {
		return def
	}
	return owner{UID: uint32(uid), GID: uint32(gid)}
}

func userHome(a *initramfs.Archive, name, def string) string {
	f := passwdEntry(a, name)
	if len(f) < 6 || !strings.HasPrefix(f[5], "/") || path.Clean(f[5]) == "/" {
		return def
	}
	return strings.TrimPrefix(path.Clean(f[5]), "/")
}

func passwdEntry(a *initramfs.Archive, name string) []string {
	data, err := fileContent(a, "etc/passwd")
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Split(l, ":"); f[0] == name {
			return f
		}
	}
	return nil
}

// removeApplets removes the busybox links of the named applets from the
// usual directories.
func removeApplets(a *initramfs.Archive, applets []string) {
	if len(applets) == 0 {
		return
	}
	for _, r := range a.Records() {
		dir, base := path.Split(r.Name)
		if !slices.Contains(applets, base) || !slices.Contains([]string{"bin/", "sbin/", "usr/bin/", "usr/sbin/"}, dir) {
			continue
		}
		if r.Type == initramfs.TypeSymlink && path.Base(r.Target) == "busybox" {
			a.Remove(r.Name)
		}
		if r.Type == initramfs.TypeHardlink && path.Base(r.Target) == "busybox" {
			a.Remove(r.Name)
		}
	}
}
