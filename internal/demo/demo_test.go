package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/server/adminapi"
)

func TestDescribe(t *testing.T) {
	ev := func(msg string, kv ...string) testlab.Event {
		e := testlab.Event{Msg: msg, Attrs: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Attrs[kv[i]] = kv[i+1]
		}
		return e
	}
	for _, tc := range []struct {
		e         testlab.Event
		src, text string
		notShown  bool
	}{
		{e: ev("dhcp: offer", "ip", "10.77.0.100", "file", "undionly.kpxe"), src: "DHCP", text: "offer 10.77.0.100, boot file undionly.kpxe"},
		{e: ev("dhcp: ack", "ip", "10.77.0.100"), src: "DHCP", text: "ack 10.77.0.100 (no boot file: the microkernel's own DHCP)"},
		{e: ev("tftp: file sent", "file", "snponly.efi", "blocks", "120", "duration", "29208702"), src: "TFTP", text: "sent snponly.efi (120 blocks in 29ms)"},
		{e: ev("tftp: transfer failed", "file", "snponly.efi", "err", "sending block 0: code=8, error: User aborted the transfer\x00"),
			src: "TFTP", text: "size of snponly.efi asked (the firmware ends this first transfer, then fetches the file)"},
		{e: ev("tftp: transfer failed", "file", "x", "err", "timeout\x00"), src: "TFTP", text: "transfer of x failed: timeout"},
		{e: ev("boot script served", "kind", "microkernel", "node", ""), src: "HTTP", text: "boot script: microkernel"},
		{e: ev("boot script served", "kind", "kernel", "node", "node1", "policy", "p"), src: "HTTP", text: "boot script: kernel (policy p) for node1"},
		{e: ev("httpimg: serving", "path", "dev/initrd", "size", "8500000"), src: "HTTP", text: "sending dev/initrd (8.1 MiB)"},
		{e: ev("checkin", "command", "register", "reason", "unknown node"), src: "checkin", text: "checkin -> register (unknown node)"},
		{e: ev("node registered", "node", "node1", "facts", "106", "tags", "cpus_1 nics_1"), src: "register", text: "node1 registered: 106 facts, tags cpus_1 nics_1"},
		{e: ev("store loaded"), notShown: true},
	} {
		src, text, ok := describe(tc.e)
		if ok == tc.notShown || src != tc.src || text != tc.text {
			t.Errorf("describe(%s %v) = %q, %q, %v; want %q, %q, %v", tc.e.Msg, tc.e.Attrs, src, text, ok, tc.src, tc.text, !tc.notShown)
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
