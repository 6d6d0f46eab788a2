package httpapi

import (
	"strings"
	"testing"
)

// TestBootGRUB: /boot.grub makes the /boot.ipxe decision in GRUB's
// language: the chain without identity, the microkernel by TFTP paths,
// a bound node's kernel target, and, for a target GRUB cannot run (an
// iPXE script), the microkernel and an error event instead of a hang.
func TestBootGRUB(t *testing.T) {
	e := newEnv(t, envOpts{})
	code, body := e.do("GET", "/boot.grub", "", "")
	if code != 200 || !strings.Contains(body, `source "/boot.grub?mac=$net_default_mac`) {
		t.Errorf("bare boot.grub = %d %s, want the chain configuration", code, body)
	}
	code, body = e.do("GET", "/boot.grub?mac=52:54:00:00:00:01&uuid=4c4c4544-0031-3510-8036-b7c04f335331&platform=efi&arch=x86_64", "", "")
	want := `# Razor
set timeout=0
echo 'Razor: booting microkernel mk-prod for 52:54:00:00:00:01'
if linux '/images/mk-prod/vmlinuz' 'quiet' 'razor.server=http://10.0.0.1:8026' 'razor.token=000102030405060708090a0b0c0d0e0f' 'console=ttyS0'; then
  if initrd '/images/mk-prod/initrd'; then
    boot
  fi
fi
echo 'Razor: microkernel boot failed'
echo 'Razor: rebooting in 15 s'
sleep 15
reboot
`
	if code != 200 || body != want {
		t.Fatalf("boot.grub = %d\n%s\nwant\n%s", code, body, want)
	}

	// Bound to a kernel target on this server's images: GRUB loads it.
	e.register("525400000001", "", "000102030405060708090a0b0c0d0e0f", map[string]string{"processorcount": "2"})
	if code, body := e.admin("POST", "/policies", `{"name":"install","order":1,"tags":[],"target":{"kind":"kernel","kernel":"{{.Server}}/images/os/linux","initrd":"{{.Server}}/images/os/initrd","cmdline":"node={{.Node}}"}}`); code != 201 {
		t.Fatalf("create policy = %d %s", code, body)
	}
	e.checkin("hw_id=525400000001&last_state=idle&token=000102030405060708090a0b0c0d0e0f")
	_, body = e.do("GET", "/boot.grub?mac=525400000001&platform=efi", "", "")
	if !strings.Contains(body, "if linux '/images/os/linux' 'node=node1'; then\n  if initrd '/images/os/initrd'; then") {
		t.Errorf("boot.grub of the bound node:\n%s\nwant the policy's kernel by TFTP path", body)
	}

	// A node bound to an iPXE script that booted GRUB: the microkernel,
	// and an error event saying why.
	e.register("525400000002", "", "", map[string]string{"processorcount": "4"})
	if code, body := e.admin("POST", "/policies", `{"name":"script","order":0,"tags":["cpus_4"],"target":{"kind":"ipxe","script":"#!ipxe\nsanboot --drive 0x80\n"}}`); code != 201 {
		t.Fatalf("create policy = %d %s", code, body)
	}
	e.checkin("hw_id=525400000002&last_state=idle")
	_, body = e.do("GET", "/boot.grub?mac=525400000002&platform=efi", "", "")
	if !strings.Contains(body, "booting microkernel") {
		t.Errorf("boot.grub of a node bound to an iPXE script:\n%s\nwant the microkernel", body)
	}
	evs := e.events("/nodes/node2/events")
	found := false
	for _, ev := range evs {
		if ev.Type == "boot.script" && ev.Attrs["loader"] == "grub" && strings.Contains(ev.Attrs["error"], "cannot run under grub") && ev.Attrs["policy"] == "script" {
			found = true
		}
	}
	if !found {
		t.Errorf("node2 events %+v: want a boot.script event for grub with the error", evs)
	}
	// The same node through iPXE gets its script.
	if _, body := e.do("GET", "/boot.ipxe?mac=525400000002", "", ""); !strings.Contains(body, "sanboot --drive 0x80") {
		t.Errorf("boot.ipxe of the node bound to an iPXE script:\n%s", body)
	}
}

// TestBootArchitecture: a node gets an image of its architecture; an
// architecture without one gets an error script and event naming it.
func TestBootArchitecture(t *testing.T) {
	e := newEnv(t, envOpts{})
	if _, body := e.do("GET", "/boot.ipxe?mac=525400000001&arch=x86_64&platform=efi", "", ""); !strings.Contains(body, "/images/mk-prod/vmlinuz") {
		t.Errorf("x86_64 node:\n%s\nwant the amd64 image", body)
	}
	_, body := e.do("GET", "/boot.grub?mac=525400000002&arch=arm64&platform=efi", "", "")
	if !strings.Contains(body, "no verified microkernel image for architecture arm64") || strings.Contains(body, "linux ") {
		t.Errorf("arm64 node with only an amd64 image:\n%s\nwant an error naming arm64, no kernel", body)
	}
	found := false
	for _, ev := range e.events("/events?type=boot.script") {
		if ev.Attrs["kind"] == "error" && strings.Contains(ev.Attrs["reason"], "architecture arm64") {
			found = true
		}
	}
	if !found {
		t.Error("no error event for the arm64 node")
	}
}
