package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/mkimage"
)

func TestMedian(t *testing.T) {
	s := time.Second
	reg := func(r result) time.Duration { return r.registered }
	for _, tc := range []struct {
		name  string
		in    []result
		want  time.Duration
		wantN int
	}{
		{"none", nil, 0, 0},
		{"odd", []result{{registered: 3 * s}, {registered: 1 * s}, {registered: 2 * s}}, 2 * s, 3},
		{"even", []result{{registered: 4 * s}, {registered: 1 * s}}, 2500 * time.Millisecond, 2},
		{"failed left out", []result{{registered: 9 * s, err: errors.New("x")}, {registered: 1 * s}, {registered: 3 * s}}, 2 * s, 2},
		{"all failed", []result{{err: errors.New("x")}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := median(tc.in, reg)
			if got != tc.want || n != tc.wantN {
				t.Errorf("median(%v) = %v, %d; want %v, %d", tc.in, got, n, tc.want, tc.wantN)
			}
		})
	}
}

func TestReport(t *testing.T) {
	s := time.Second
	in := reportInput{
		img:    mkimage.Image{Name: "prod", Manifest: &manifest.Manifest{Variant: "prod", KernelVersion: "6.1.0-56-amd64"}},
		runs:   2,
		accels: []string{"tcg"},
		kvmWhy: "no usable /dev/kvm",
		results: map[combo][]result{
			{"tcg", "BIOS", setupRazor}:     {{kernel: 4 * s, registered: 10 * s}, {kernel: 4 * s, registered: 12 * s}},
			{"tcg", "BIOS", setupDnsmasq}:   {{kernel: 22 * s, registered: 33 * s}, {err: errors.New("no registration\nconsole…")}},
			{"tcg", "UEFI", setupRazor}:     {{err: errors.New("boom")}, {err: errors.New("boom")}},
			{"tcg", "UEFI", setupDnsmasq}:   {{kernel: 40 * s, registered: 60 * s}, {kernel: 40 * s, registered: 60 * s}},
			{"tcg", fwUEFISB, setupRazor}:   {{kernel: unknown, registered: 30 * s}},
			{"tcg", fwUEFISB, setupDnsmasq}: {{kernel: unknown, registered: 45 * s}},
		},
		load0: "1.00", load1: "2.00", took: time.Minute,
	}
	var b bytes.Buffer
	report(&b, in)
	out := b.String()
	for _, want := range []string{
		"| TCG | BIOS | razor-netboot | 4.0 s | 11.0 s | 10.0, 12.0 |  |",
		"| TCG | BIOS | dnsmasq DHCP+TFTP | 22.0 s | 33.0 s | 33.0, failed | 5.50x to kernel, 3.00x to registered |",
		"| TCG | UEFI | razor-netboot | — | — | failed, failed |  |",
		"| TCG | UEFI | dnsmasq DHCP+TFTP | 40.0 s | 60.0 s | 60.0, 60.0 |  |",
		"| TCG | UEFI-SB | razor-netboot | — | 30.0 s | 30.0 |  |",
		"| TCG | UEFI-SB | dnsmasq DHCP+TFTP | — | 45.0 s | 45.0 | 1.50x to registered |",
		"KVM: not measured here (no usable /dev/kvm)",
		"- tcg BIOS dnsmasq DHCP+TFTP run 2: no registration\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report() lacks %q; got:\n%s", want, out)
		}
	}
}

func TestReportMany(t *testing.T) {
	s := time.Second
	in := reportInput{
		runs: 1, nodes: 4, accels: []string{"tcg"},
		results: map[combo][]result{
			{"tcg", fwBIOS, setupRazor}:   {{registered: 40 * s, each: []time.Duration{30 * s, 40 * s, 35 * s, 33 * s}}},
			{"tcg", fwBIOS, setupDnsmasq}: {{registered: 80 * s, each: []time.Duration{70 * s, 80 * s, 75 * s, 72 * s}}},
		},
		load0: "1.00", load1: "2.00", took: time.Minute,
	}
	var b bytes.Buffer
	report(&b, in)
	for _, want := range []string{
		"## Network boot: 4 QEMU nodes powered on at once",
		"| TCG | BIOS | razor-netboot | 40.0 s | 30.0, 40.0, 35.0, 33.0 |  |",
		"| TCG | BIOS | dnsmasq DHCP+TFTP | 80.0 s | 70.0, 80.0, 75.0, 72.0 | 2.00x |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q; got:\n%s", want, b.String())
		}
	}
}
