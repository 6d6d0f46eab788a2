package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/netboot/dhcp"
	"github.com/razor-mk/razor-mk/netboot/ipxe"
	"gopkg.in/yaml.v3"
)

const twoSubnets = `dhcp: full
dhcp_interface: eth1
dhcp_subnets:
  - subnet: 10.20.0.0/24
    ranges: [10.20.0.100-10.20.0.149, 10.20.0.150-10.20.0.199]
    routers: [10.20.0.1]
    dns: [10.20.0.1, 10.20.0.2]
    ntp: [10.20.0.3]
    domain: prov.example.com
    search: [prov.example.com, example.com]
    lease_time: 12h
    reservations:
      - mac: 52-54-00-12-34-56
        ip: 10.20.0.10
        hostname: node10
      - mac: 52:54:00:ab:cd:ef
        boot_file: ipxe.efi
      - mac: 52:54:00:ab:cd:01
        uefi_loader: ipxe
  - subnet: 10.30.0.0/24
    ranges:
      - 10.30.0.50-10.30.0.99
    routers: [10.30.0.1]
    uefi_loader: shim
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "razor-netboot.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDHCPSubnetsToConfig(t *testing.T) {
	c, err := load(t, []string{"--config", writeConfig(t, twoSubnets)}, nil)
	if err != nil {
		t.Fatalf("LoadConfig() = %v", err)
	}
	got, err := c.DHCPConfig()
	if err != nil {
		t.Fatalf("DHCPConfig() = %v", err)
	}
	a := netip.MustParseAddr
	want := dhcp.Options{Mode: dhcp.Full, Interface: "eth1", Subnets: []dhcp.Subnet{{
		Prefix:  netip.MustParsePrefix("10.20.0.0/24"),
		Ranges:  []dhcp.Range{{From: a("10.20.0.100"), To: a("10.20.0.149")}, {From: a("10.20.0.150"), To: a("10.20.0.199")}},
		Routers: []netip.Addr{a("10.20.0.1")}, DNS: []netip.Addr{a("10.20.0.1"), a("10.20.0.2")}, NTP: []netip.Addr{a("10.20.0.3")},
		DomainName: "prov.example.com", DomainSearch: []string{"prov.example.com", "example.com"}, LeaseTime: 12 * time.Hour,
		Reservations: []dhcp.Reservation{{MAC: "52-54-00-12-34-56", IP: a("10.20.0.10"), Hostname: "node10"}, {MAC: "52:54:00:ab:cd:ef", BootFile: "ipxe.efi"},
			{MAC: "52:54:00:ab:cd:01", UEFILoader: ipxe.LoaderIPXE}},
	}, {
		Prefix:  netip.MustParsePrefix("10.30.0.0/24"),
		Ranges:  []dhcp.Range{{From: a("10.30.0.50"), To: a("10.30.0.99")}},
		Routers: []netip.Addr{a("10.30.0.1")}, UEFILoader: ipxe.LoaderShim,
	}}, UEFILoader: ipxe.LoaderAuto}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("DHCPConfig() (-want +got):\n%s", diff)
	}
}

func TestUEFILoaderKey(t *testing.T) {
	c, err := load(t, []string{"--uefi-loader", "shim"}, nil)
	if err != nil {
		t.Fatalf("LoadConfig(--uefi-loader shim) = %v", err)
	}
	if dc, err := c.DHCPConfig(); err != nil || dc.UEFILoader != ipxe.LoaderShim {
		t.Errorf("DHCPConfig().UEFILoader = %q, %v, want shim", dc.UEFILoader, err)
	}
	if _, err := load(t, []string{"--uefi-loader", "grub"}, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "uefi_loader") {
		t.Errorf("LoadConfig(--uefi-loader grub) = %v, want ErrInvalid naming uefi_loader", err)
	}
}

func TestDHCPShorthandFlags(t *testing.T) {
	c, err := load(t, []string{"--dhcp", "full", "--dhcp-interface", "eth1", "--dhcp-range", "10.20.0.100-10.20.0.199",
		"--dhcp-routers", "10.20.0.1", "--dhcp-dns", "10.20.0.1, 10.20.0.2", "--dhcp-domain", "prov.example.com",
		"--dhcp-search", "prov.example.com,example.com", "--dhcp-lease-time", "30m"}, nil)
	if err != nil {
		t.Fatalf("LoadConfig() = %v", err)
	}
	dc, err := c.DHCPConfig()
	if err != nil {
		t.Fatalf("DHCPConfig() = %v", err)
	}
	got := strings.TrimSpace(fmt.Sprintln(dc.RangeFrom, dc.RangeTo, dc.Routers, dc.DNS, dc.DomainName, dc.DomainSearch, dc.LeaseTime))
	want := "10.20.0.100 10.20.0.199 [10.20.0.1] [10.20.0.1 10.20.0.2] prov.example.com [prov.example.com example.com] 30m0s"
	if got != want {
		t.Errorf("DHCPConfig() = %s, want %s", got, want)
	}
}

// TestDHCPSubnetErrorsNameTheLine: every bad subnet setting is refused
// with the file, the line and the key path.
func TestDHCPSubnetErrorsNameTheLine(t *testing.T) {
	head := "dhcp: full\ndhcp_interface: eth1\ndhcp_subnets:\n"
	tests := []struct {
		name, body string
		want       string // after "FILE:"
	}{
		{"overlapping ranges", "  - subnet: 10.20.0.0/24\n    ranges:\n      - 10.20.0.10-10.20.0.50\n      - 10.20.0.40-10.20.0.60\n",
			"7: dhcp_subnets[0].ranges[1]: 10.20.0.40-10.20.0.60 overlaps subnets[0].ranges[0]"},
		{"range outside its subnet", "  - subnet: 10.20.0.0/24\n    ranges: [10.21.0.10-10.21.0.20]\n",
			"5: dhcp_subnets[0].ranges[0]: 10.21.0.10-10.21.0.20 is not inside subnet 10.20.0.0/24"},
		{"router outside the subnet", "  - subnet: 10.20.0.0/24\n    ranges: [10.20.0.10-10.20.0.20]\n    routers:\n      - 10.20.0.1\n      - 10.99.0.1\n",
			"8: dhcp_subnets[0].routers[1]: 10.99.0.1 is not inside subnet 10.20.0.0/24"},
		{"reservation outside every subnet", "  - subnet: 10.20.0.0/24\n    reservations:\n      - mac: 52:54:00:00:00:01\n        ip: 192.168.1.5\n",
			"7: dhcp_subnets[0].reservations[0].ip: 192.168.1.5 is outside every configured subnet"},
		{"reservation in another subnet", "  - subnet: 10.20.0.0/24\n    reservations:\n      - mac: 52:54:00:00:00:01\n        ip: 10.30.0.5\n  - subnet: 10.30.0.0/24\n",
			"7: dhcp_subnets[0].reservations[0].ip: 10.30.0.5 is not inside subnet 10.20.0.0/24; it belongs to subnets[1]"},
		{"duplicate MAC", "  - subnet: 10.20.0.0/24\n    reservations:\n      - {mac: 52:54:00:00:00:01, ip: 10.20.0.5}\n  - subnet: 10.30.0.0/24\n    reservations:\n      - {mac: 52-54-00-00-00-01, ip: 10.30.0.5}\n",
			"9: dhcp_subnets[1].reservations[0].mac: 52:54:00:00:00:01 is already reserved at subnets[0].reservations[0].mac"},
		{"duplicate address", "  - subnet: 10.20.0.0/24\n    reservations:\n      - {mac: 52:54:00:00:00:01, ip: 10.20.0.5}\n      - {mac: 52:54:00:00:00:02, ip: 10.20.0.5}\n",
			"7: dhcp_subnets[0].reservations[1].ip: 10.20.0.5 is already reserved at subnets[0].reservations[0].ip"},
		{"overlapping subnets", "  - subnet: 10.20.0.0/16\n  - subnet: 10.20.5.0/24\n",
			"5: dhcp_subnets[1].subnet: 10.20.5.0/24 overlaps subnets[0] 10.20.0.0/16"},
		{"host bits", "  - subnet: 10.20.0.1/24\n", "4: dhcp_subnets[0].subnet: 10.20.0.1/24 has host bits set"},
		{"bad address", "  - subnet: 10.20.0.0/24\n    dns: [10.20.0.1, ten]\n", "5: dhcp_subnets[0].dns[1]: \"ten\" is not an IPv4 address"},
		{"bad range", "  - subnet: 10.20.0.0/24\n    ranges: [10.20.0.9]\n", "5: dhcp_subnets[0].ranges[0]: \"10.20.0.9\": want FROM-TO"},
		{"missing subnet", "  - ranges: [10.20.0.1-10.20.0.9]\n", "4: dhcp_subnets[0].subnet: required"},
		{"bad search domain", "  - subnet: 10.20.0.0/24\n    search: [ok.example, -bad-]\n", "5: dhcp_subnets[0].search[1]: \"-bad-\" is not a domain name"},
		{"bad mac", "  - subnet: 10.20.0.0/24\n    reservations:\n      - mac: zz\n        ip: 10.20.0.4\n", "6: dhcp_subnets[0].reservations[0].mac: MAC \"zz\""},
		{"short lease", "  - subnet: 10.20.0.0/24\n    lease_time: 1s\n", "5: dhcp_subnets[0].lease_time: 1s: want 10s to 8760h"},
		{"bad subnet loader", "  - subnet: 10.20.0.0/24\n    uefi_loader: grub\n", "5: dhcp_subnets[0].uefi_loader: ipxe: loader \"grub\": want auto, ipxe or shim"},
		{"bad host loader", "  - subnet: 10.20.0.0/24\n    reservations:\n      - mac: 52:54:00:00:00:01\n        uefi_loader: pxelinux\n", "7: dhcp_subnets[0].reservations[0].uefi_loader: ipxe: loader \"pxelinux\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, head+tt.body)
			_, err := load(t, []string{"--config", p}, nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), p+":"+tt.want) {
				t.Errorf("LoadConfig() = %v\nwant ErrInvalid containing %q", err, p+":"+tt.want)
			}
		})
	}
}

func TestDHCPKeyConflicts(t *testing.T) {
	p := writeConfig(t, twoSubnets)
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"--config", p, "--dhcp-range", "10.20.0.1-10.20.0.9"}, "dhcp_subnets"},
		{[]string{"--dhcp", "full", "--dhcp-interface", "eth1"}, "dhcp_range"},
		{[]string{"--dhcp-routers", "10.0.0.1,nope"}, "dhcp_routers"},
		{[]string{"--dhcp-subnet", "10.0.0.0"}, "dhcp_subnet"},
		{[]string{"--dhcp-lease-time", "2s"}, "dhcp_lease_time"},
	} {
		_, err := load(t, tc.args, nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.key+" ") && !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("LoadConfig(%v) = %v, want ErrInvalid naming %s", tc.args, err, tc.key)
		}
	}
}

// TestDHCPKeyErrorShorthand: a problem dhcp.New finds in the one-subnet
// shorthand names the flag's key.
func TestDHCPKeyErrorShorthand(t *testing.T) {
	c := DefaultConfig()
	err := c.dhcpKeyError(&dhcp.ConfigError{Path: []any{"subnets", 0, "routers", 0}, Msg: "10.9.0.1 is not inside subnet 10.20.0.0/24"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "dhcp_routers: 10.9.0.1") {
		t.Errorf("dhcpKeyError() = %v, want it to name dhcp_routers", err)
	}
}

// FuzzDecodeYAML: any configuration file is decoded and validated or
// refused with ErrInvalid, never a panic; a line named is a line of the
// file, and a valid DHCP configuration builds.
func FuzzDecodeYAML(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("..", "..", "examples", "razor-netboot.yaml"))
	f.Add(string(data))
	f.Add("data_dir: /x\nhttp_addr: \":1\"\n")
	f.Add("register_timeout: 5\ncheckin_interval: -1\n")
	f.Add("dhcp: full\ndhcp_range: 10.0.0.1-10.0.0.0\n")
	f.Add("[1, 2]\n")
	f.Add("unknown: key\n")
	f.Add(twoSubnets)
	f.Add("dhcp_subnets:\n  - subnet: 10.0.0.0/8\n    ranges: [10.0.0.1-10.0.0.0]\n")
	f.Add("dhcp_subnets:\n  - {subnet: 10.0.0.0/30, reservations: [{mac: 00:00:00:00:00:00, ip: 10.0.0.3}]}\n")
	f.Add("dhcp_subnets: [{}, {subnet: ::/0}]\n")
	f.Add("dhcp_subnets:\n  - subnet: 10.0.0.0/24\n    search: [a.b, '']\n    lease_time: 100000h\n")
	f.Fuzz(func(t *testing.T, s string) {
		c := DefaultConfig()
		if err := decodeYAML([]byte(s), &c); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeYAML(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		c.fill()
		_, _, _ = c.StoreKind()
		_ = c.ServerURL()
		var doc yaml.Node
		_ = yaml.Unmarshal([]byte(s), &doc)
		err := withLine(c.Validate(), "f.yaml", &doc)
		if err == nil {
			if _, err := c.DHCPConfig(); err != nil {
				t.Fatalf("Validate() = nil but DHCPConfig() = %v", err)
			}
			return
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate() = %v, want ErrInvalid", err)
		}
		var ke *KeyError
		if errors.As(err, &ke) && ke.Line > strings.Count(s, "\n")+1 {
			t.Fatalf("error names line %d of a %d-line file: %v", ke.Line, strings.Count(s, "\n")+1, err)
		}
	})
}
