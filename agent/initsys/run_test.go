package initsys

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/razor-mk/razor-mk/agent/leasefile"
	"github.com/razor-mk/razor-mk/agent/netup"
	"golang.org/x/sys/unix"
)

type nopNetlink struct{ mac net.HardwareAddr }

func (n nopNetlink) Links() ([]netup.Link, error) {
	return []netup.Link{{Name: "eth0", Index: 2, MAC: n.mac, Kind: "device", Encap: "ether"}}, nil
}
func (nopNetlink) SetUp(string) error                                                   { return nil }
func (nopNetlink) Carrier(string) (bool, error)                                         { return true, nil }
func (nopNetlink) ReplaceAddr(string, netip.Prefix, time.Duration, time.Duration) error { return nil }
func (nopNetlink) ReplaceRoute(string, netip.Prefix, netip.Addr) error                  { return nil }

type fixedDHCP struct{ ack *dhcpv4.DHCPv4 }

func (f fixedDHCP) Request(context.Context) (*nclient4.Lease, error) {
	return &nclient4.Lease{ACK: f.ack}, nil
}
func (f fixedDHCP) Renew(context.Context, *nclient4.Lease) (*nclient4.Lease, error) {
	return &nclient4.Lease{ACK: f.ack}, nil
}
func (fixedDHCP) Close() error { return nil }

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRun boots "the system" with every part that touches the machine
// replaced: modules are requested and coldplugged, the network comes up,
// the hostname is set, the agent starts, and SIGUSR2 powers off.
func TestRun(t *testing.T) {
	root := t.TempDir()
	proc, sys := filepath.Join(root, "proc"), filepath.Join(root, "sys")
	modDir := filepath.Join(root, "lib/modules/test")
	write(t, filepath.Join(proc, "cmdline"), "console=ttyS0 razor.modules=loop virtio_net.napi_tx=1 razor.netwait=10\n")
	write(t, filepath.Join(proc, "modules"), "")
	write(t, filepath.Join(sys, "bus/virtio/devices/virtio0/modalias"), "virtio:d00000001v00001AF4\n")
	write(t, filepath.Join(modDir, "modules.dep"), "kernel/net_failover.ko:\nkernel/virtio_net.ko: kernel/net_failover.ko\nkernel/loop.ko:\n")
	write(t, filepath.Join(modDir, "modules.alias"), "alias virtio:d00000001v* virtio_net\n")
	write(t, filepath.Join(root, "etc/modules"), "# none\n")
	mark := filepath.Join(root, "agent.pid")
	logf, err := os.Create(filepath.Join(root, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()

	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	ack, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP("10.0.2.15")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(net.ParseIP("10.0.2.2")), dhcpv4.WithDNS(net.ParseIP("10.0.2.3")))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var loads []string
	var hostname string
	var rebootCmd int
	ops := ShutdownOps{
		Kill:    func(int, syscall.Signal) error { return nil }, // never signal -1 for real
		Others:  func() int { return 0 },
		Mounts:  func() ([]string, error) { return []string{"/", "/proc"}, nil },
		Unmount: func(string, int) error { return nil },
		Sync:    func() {},
		Reboot:  func(cmd int) error { rebootCmd = cmd; return nil },
	}
	ready := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		h := <-ready
		// Power off once the agent runs, as `busybox poweroff` would ask.
		for ctx.Err() == nil {
			if _, err := os.Stat(mark); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("ready, hostname %q", h)
		syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	}()
	err = Run(ctx, Options{
		Root: root, Proc: proc, Sys: sys, ModulesDir: modDir, Output: logf,
		LoadModule: func(path, params string) error {
			mu.Lock()
			defer mu.Unlock()
			loads = append(loads, strings.TrimSpace(filepath.Base(path)+" "+params))
			return nil
		},
		Netlink:     nopNetlink{mac: mac},
		NewDHCP:     func(netup.Link, string) (netup.DHCPClient, error) { return fixedDHCP{ack}, nil },
		LeaseDir:    filepath.Join(root, "run/razor/dhcp"),
		Sethostname: func(n string) error { hostname = n; return nil },
		Shutdown:    &ops,
		Agent:       fakeChild(t, "agent", "INITSYS_MARK="+mark),
		Services: func(env Env) []Service {
			return []Service{{Name: "idle", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }}}
		},
		Ready: func(h string) { ready <- h },
	})
	log, _ := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatalf("Run = %v\nlog:\n%s", err, log)
	}
	if rebootCmd != unix.LINUX_REBOOT_CMD_POWER_OFF {
		t.Errorf("reboot(2) command = %#x, want POWER_OFF", rebootCmd)
	}
	if hostname != "mk525400123456" {
		t.Errorf("sethostname(%q), want mk525400123456", hostname)
	}
	if diff := cmp.Diff([]string{"loop.ko", "net_failover.ko", "virtio_net.ko napi_tx=1"}, loads); diff != "" {
		t.Errorf("modules loaded mismatch (-want +got):\n%s", diff)
	}
	for _, f := range []string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "run/razor/dhcp/eth0.json"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	leases, err := leasefile.ReadAll(filepath.Join(root, "run/razor/dhcp"))
	if err != nil || len(leases) != 1 || leases[0].Address != "10.0.2.15/24" {
		t.Errorf("leases = %+v, %v; want eth0 10.0.2.15/24", leases, err)
	}
	for _, want := range []string{`msg="modules loaded"`, `msg="network up"`, `msg="hostname set"`, `msg="program started" program="mk-agent run"`,
		`msg="starting service" service=idle`, `action=poweroff`, `msg="system poweroff"`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("console log lacks %s:\n%s", want, log)
		}
	}
}
