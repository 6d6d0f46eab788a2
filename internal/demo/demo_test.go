package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

func TestDescribe(t *testing.T) {
	ev := func(typ string, kv ...string) adminapi.Event {
		e := adminapi.Event{Type: typ, Attrs: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Attrs[kv[i]] = kv[i+1]
		}
		return e
	}
	for _, tc := range []struct {
		e         adminapi.Event
		src, text string
	}{
		{ev("dhcp.discover", "reply", "offer", "ip", "10.77.0.100", "file", "undionly.kpxe"), "DHCP", "discover → offer 10.77.0.100, boot file undionly.kpxe"},
		{ev("tftp.send", "file", "snponly.efi", "bytes", "212992", "ms", "29", "outcome", "complete"), "TFTP", "sent snponly.efi (208 KiB in 29ms)"},
		{ev("boot.script", "kind", "microkernel"), "HTTP", "boot script: microkernel"},
		{ev("http.send", "file", "dev/initrd", "bytes", "8500000", "ms", "900", "outcome", "complete"), "HTTP", "sent dev/initrd (8.1 MiB in 900ms)"},
		{ev("node.checkin", "command", "register", "reason", "unknown node"), "node", "checkin → register (unknown node)"},
		{ev("node.registered", "facts", "106", "created", "true"), "node", "registered: 106 facts"},
	} {
		src, text := describe(tc.e)
		if src != tc.src || text != tc.text {
			t.Errorf("describe(%s %v) = %q, %q; want %q, %q", tc.e.Type, tc.e.Attrs, src, text, tc.src, tc.text)
		}
	}
}

func TestMilestone(t *testing.T) {
	for line, want := range map[string]string{
		"SeaBIOS (version 1.16.2-debian-1.16.2-1)":                                     "firmware: SeaBIOS",
		"iPXE (PCI 00:01.0) starting execution...ok":                                   "firmware runs the NIC's iPXE ROM",
		">>Start PXE over IPv4.":                                                       "firmware: OVMF starts PXE",
		"http://10.77.0.1:8026/images/dev/initrd... 33%\b\b\b\b    \b\b\b\b ok":        "kernel and initrd loaded: the kernel starts",
		"tftp://10.78.0.1/initrd... ok":                                                "kernel and initrd loaded: the kernel starts",
		`[    8.963103] init: level=INFO msg="init started" pid=1`:                     "microkernel: /init (mk-agent init) started",
		`time=… level=INFO msg="Microkernel Controller starting" prog=mk-agent`:        "microkernel: controller (mk-agent run) starting",
		"[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)": "kernel: Linux version banner",
		"Press Ctrl-B for the iPXE command line...":                                    "",
	} {
		got, ok := milestone(line)
		if got != want || ok != (want != "") {
			t.Errorf("milestone(%q) = %q, %v; want %q", line, got, ok, want)
		}
	}
}

func TestPrintNode(t *testing.T) {
	var b bytes.Buffer
	printNode(&b, adminapi.Node{
		ID: "node1", UUID: "U", MACs: []string{"52:54:00:DE:00:01"}, State: "active",
		Tags:  []string{"nics_1", "cpus_1"},
		Facts: map[string]string{"serialnumber": "DEMO-0001", "processorcount": "1", "kernel": "hidden", "uuid": ""},
	})
	want := "\nnode node1  uuid U  macs 52:54:00:DE:00:01  state active\n" +
		"facts (4 in all; a readable subset):\n" +
		"  processorcount           1\n" +
		"  serialnumber             DEMO-0001\n" +
		"tags: cpus_1 nics_1\n"
	if b.String() != want {
		t.Errorf("printNode() = %q, want %q", b.String(), want)
	}
}

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--images-dir is required"},
		{[]string{"--images-dir", "x", "--accel", "hvf"}, `--accel "hvf"`},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestPrinterEvent(t *testing.T) {
	var b bytes.Buffer
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &printer{out: &b, powerOn: t0}
	p.event(t0.Add(2390*time.Millisecond), "DHCP", "offer 10.77.0.100")
	if want := "    +2.39s  DHCP     offer 10.77.0.100\n"; b.String() != want {
		t.Errorf("printer.event() wrote %q, want %q", b.String(), want)
	}
}
