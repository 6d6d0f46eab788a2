package initsys

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/agent/discover"
	"golang.org/x/sys/unix"
)

func TestActionFor(t *testing.T) {
	tests := []struct {
		sig  os.Signal
		want Action
		cmd  int
	}{
		{syscall.SIGTERM, Reboot, unix.LINUX_REBOOT_CMD_RESTART},
		{syscall.SIGINT, Reboot, unix.LINUX_REBOOT_CMD_RESTART},
		{syscall.SIGUSR2, Poweroff, unix.LINUX_REBOOT_CMD_POWER_OFF},
		{syscall.SIGUSR1, Halt, unix.LINUX_REBOOT_CMD_HALT},
		{syscall.SIGHUP, None, 0},
		{syscall.SIGCHLD, None, 0},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String(), func(t *testing.T) {
			got := ActionFor(tt.sig)
			if got != tt.want {
				t.Errorf("ActionFor(%v) = %v, want %v", tt.sig, got, tt.want)
			}
			if got.RebootCmd() != tt.cmd {
				t.Errorf("%v.RebootCmd() = %#x, want %#x", got, got.RebootCmd(), tt.cmd)
			}
		})
	}
	for _, s := range Signals {
		if ActionFor(s) == None {
			t.Errorf("Signals lists %v, which maps to no action", s)
		}
	}
}

func TestMountAll(t *testing.T) {
	root := t.TempDir()
	var calls []string
	mount := func(src, target, fstype string, flags uintptr, data string) error {
		rel, _ := filepath.Rel(root, target)
		calls = append(calls, fstype+" /"+rel+" "+data)
		if fstype == "devtmpfs" {
			return unix.EBUSY // the kernel mounted it already
		}
		return nil
	}
	if err := MountAll(root, BaseMounts(), mount); err != nil {
		t.Fatalf("MountAll = %v", err)
	}
	want := []string{
		"proc /proc ", "sysfs /sys ", "devtmpfs /dev mode=0755", "devpts /dev/pts gid=5,mode=0620,ptmxmode=0666",
		"tmpfs /dev/shm mode=1777", "tmpfs /run mode=0755", "tmpfs /tmp mode=1777",
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("mounts mismatch (-want +got):\n%s", diff)
	}
	if l, err := os.Readlink(filepath.Join(root, "dev/fd")); err != nil || l != "/proc/self/fd" {
		t.Errorf("/dev/fd = %q, %v; want a link to /proc/self/fd", l, err)
	}
	failing := func(string, string, string, uintptr, string) error { return unix.EPERM }
	if err := MountAll(root, BaseMounts()[:2], failing); err == nil || !strings.Contains(err.Error(), "/proc") || !strings.Contains(err.Error(), "/sys") {
		t.Errorf("MountAll(failing) = %v, want errors naming /proc and /sys", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	up := 1234567 * time.Microsecond
	log := newLogger(&buf, nil, func() time.Duration { return up })
	log.Info("network up", "link", "eth0")
	up = 12 * time.Second
	log.Warn("two\nlines")
	want := "[    1.234567] init: level=INFO msg=\"network up\" link=eth0\n[   12.000000] init: level=WARN msg=\"two\\nlines\"\n"
	if got := buf.String(); got != want {
		t.Errorf("log output = %q, want %q", got, want)
	}
	var raw bytes.Buffer
	w := &stampWriter{w: &raw, uptime: func() time.Duration { return time.Second }}
	w.Write([]byte("a\nb\n"))
	if got := raw.String(); got != "[    1.000000] init: a\n[    1.000000] init: b\n" {
		t.Errorf("stampWriter = %q, want each line stamped", got)
	}
}

func TestParseBootOptions(t *testing.T) {
	c := discover.ParseCmdline(`console=ttyS0 razor.modules=loop,virtio-rng,../bad modprobe.blacklist=mei_me,mei razor.debug razor.ifaces=eth1,eth0 razor.netwait=90 virtio_net.napi_tx=1 e1000.debug=16 e1000.copybreak=0 razor.server=10.0.0.1 rd.break`)
	got, bad := ParseBootOptions(c)
	want := BootOptions{
		Modules:    []string{"loop", "virtio_rng"},
		Blacklist:  []string{"mei_me", "mei"},
		Params:     map[string]string{"virtio_net": "napi_tx=1", "e1000": "copybreak=0 debug=16", "rd": "break"},
		Debug:      true,
		Interfaces: []string{"eth1", "eth0"},
		NetWait:    90 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseBootOptions mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"razor.modules: ../bad"}, bad); diff != "" {
		t.Errorf("ParseBootOptions bad mismatch (-want +got):\n%s", diff)
	}
	_, bad = ParseBootOptions(discover.ParseCmdline("razor.netwait=forever"))
	if len(bad) != 1 {
		t.Errorf("ParseBootOptions(razor.netwait=forever) bad = %q, want it reported", bad)
	}
}

func FuzzParseBootOptions(f *testing.F) {
	f.Add("razor.modules=a,b modprobe.blacklist=c razor.debug x.y=z razor.netwait=5")
	f.Fuzz(func(t *testing.T, s string) {
		o, _ := ParseBootOptions(discover.ParseCmdline(s))
		for _, m := range append(o.Modules, o.Blacklist...) {
			if m == "" || strings.ContainsAny(m, "/ .") {
				t.Errorf("ParseBootOptions(%q) gave module %q", s, m)
			}
		}
		if o.NetWait < 0 || o.NetWait > time.Hour {
			t.Errorf("ParseBootOptions(%q) NetWait = %v", s, o.NetWait)
		}
	})
}

func TestHostname(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:AB:cd:EF")
	if got := Hostname(mac); got != "mk525400abcdef" {
		t.Errorf("Hostname(%v) = %q, want mk525400abcdef", mac, got)
	}
	root := t.TempDir()
	if err := WriteHostname(root, "mk525400abcdef"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "etc/hostname"))
	if string(b) != "mk525400abcdef\n" {
		t.Errorf("/etc/hostname = %q", b)
	}
	b, _ = os.ReadFile(filepath.Join(root, "etc/hosts"))
	if !strings.Contains(string(b), "127.0.0.1\tlocalhost\n") || !strings.Contains(string(b), "127.0.1.1\tmk525400abcdef\n") {
		t.Errorf("/etc/hosts = %q, want localhost and the host name", b)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want procStat
		ok   bool
	}{
		{"88 (mk-agent) S 1 88 88 0 -1", procStat{88, 1, 'S'}, true},
		{"97 (a (weird) name) Z 1 97", procStat{97, 1, 'Z'}, true},
		{"5 (x) R", procStat{}, false},
		{"garbage", procStat{}, false},
		{"(x) S 1", procStat{}, false},
	}
	for _, tt := range tests {
		got, ok := parseStat([]byte(tt.in))
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("88 (mk-agent) S 1 88 88 0 -1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, ok := parseStat(b); ok && st.pid < 0 {
			t.Errorf("parseStat(%q) gave pid %d", b, st.pid)
		}
	})
}

func TestMountPoints(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mounts")
	os.WriteFile(p, []byte("rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\ntmpfs /run/with\\040space tmpfs rw 0 0\n"), 0o644)
	got, err := MountPoints(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/", "/proc", "/run/with space"}, got); diff != "" {
		t.Errorf("MountPoints mismatch (-want +got):\n%s", diff)
	}
}

func TestShutdown(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		t.Run(map[bool]string{false: "processes exit", true: "processes need SIGKILL"}[stubborn], func(t *testing.T) {
			var calls []string
			alive := 2
			ops := ShutdownOps{
				Kill: func(pid int, sig syscall.Signal) error {
					calls = append(calls, "kill "+sig.String())
					if sig == syscall.SIGKILL || !stubborn {
						alive = 0
					}
					return nil
				},
				Others:  func() int { return alive },
				Mounts:  func() ([]string, error) { return []string{"/", "/proc", "/sys", "/run"}, nil },
				Unmount: func(target string, flags int) error { calls = append(calls, "umount "+target); return nil },
				Sync:    func() { calls = append(calls, "sync") },
				Reboot: func(cmd int) error {
					calls = append(calls, "reboot "+map[int]string{unix.LINUX_REBOOT_CMD_POWER_OFF: "poweroff"}[cmd])
					return errors.New("not really")
				},
			}
			err := Shutdown(Poweroff, ops, 50*time.Millisecond, nil)
			if err == nil {
				t.Errorf("Shutdown with a failing reboot = nil, want the error")
			}
			want := []string{"kill terminated"}
			if stubborn {
				want = append(want, "kill killed")
			}
			want = append(want, "sync", "umount /run", "umount /sys", "umount /proc", "sync", "reboot poweroff")
			if diff := cmp.Diff(want, calls); diff != "" {
				t.Errorf("Shutdown calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
