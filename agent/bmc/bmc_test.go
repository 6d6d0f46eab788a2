package bmc

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// A Dell iDRAC's Get Device ID answer (completion code removed): device
// 0x20, revision 1 with SDRs, firmware 2.10, IPMI 2.0, manufacturer 674,
// product 0x0100.
var idracDeviceID = []byte{0x20, 0x81, 0x02, 0x10, 0x02, 0xbf, 0xa2, 0x02, 0x00, 0x00, 0x01}

func TestDecodeDevice(t *testing.T) {
	got, err := DecodeDevice(idracDeviceID)
	if err != nil {
		t.Fatal(err)
	}
	want := Device{DeviceID: 0x20, Revision: 1, Firmware: "2.10", IPMIVersion: "2.0", ManufacturerID: 674, ProductID: 256, Available: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeDevice mismatch (-want +got):\n%s", diff)
	}
	updating := append([]byte(nil), idracDeviceID...)
	updating[2] |= 0x80
	if d, _ := DecodeDevice(updating); d.Available || d.Firmware != "2.10" {
		t.Errorf("DecodeDevice(firmware update in progress) = %+v", d)
	}
	if _, err := DecodeDevice(idracDeviceID[:10]); !errors.Is(err, ErrShort) {
		t.Errorf("DecodeDevice(10 bytes) = %v, want ErrShort", err)
	}
}

func TestDecodeGUID(t *testing.T) {
	// The wire order of 6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0001.
	b := []byte{0x0a, 0x2f, 0x1e, 0x6c, 0x3d, 0x7b, 0x59, 0x4e, 0x8a, 0x41, 0x0d, 0x9c, 0x2b, 0x7e, 0x00, 0x01}
	if got, err := DecodeGUID(b); err != nil || got != "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0001" {
		t.Errorf("DecodeGUID = %q, %v", got, err)
	}
	if _, err := DecodeGUID(b[:15]); !errors.Is(err, ErrShort) {
		t.Errorf("DecodeGUID(15 bytes) = %v, want ErrShort", err)
	}
}

func TestLANAndFacts(t *testing.T) {
	var l LAN
	l.Channel = 1
	for _, p := range []struct {
		param byte
		b     []byte
	}{
		{lanIP, []byte{0x11, 10, 20, 0, 7}},
		{lanIPSource, []byte{0x11, 0x02}},
		{lanMAC, []byte{0x11, 0xd0, 0x94, 0x66, 0x12, 0x34, 0x56}},
		{lanVLAN, []byte{0x11, 0x64, 0x80}},
	} {
		if err := decodeLANParam(&l, p.param, p.b); err != nil {
			t.Fatalf("decodeLANParam(%d) = %v", p.param, err)
		}
	}
	if err := decodeLANParam(&l, lanMAC, []byte{0x11, 1, 2}); !errors.Is(err, ErrShort) {
		t.Errorf("decodeLANParam(short MAC) = %v, want ErrShort", err)
	}
	d, _ := DecodeDevice(idracDeviceID)
	got := Facts(Info{Device: d, GUID: "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0001", LAN: &l})
	want := map[string]string{
		"bmc_present": "true", "bmc_ipmi_version": "2.0", "bmc_manufacturer_id": "674", "bmc_manufacturer": "Dell",
		"bmc_product_id": "256", "bmc_firmware_version": "2.10", "bmc_guid": "6c1e2f0a-7b3d-4e59-8a41-0d9c2b7e0001",
		"bmc_lan_channel": "1", "bmc_ipaddress": "10.20.0.7", "bmc_macaddress": "d0:94:66:12:34:56", "bmc_ip_source": "dhcp", "bmc_vlan": "100",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Facts mismatch (-want +got):\n%s", diff)
	}
}

// The ioctl structures have the sizes <linux/ipmi.h> gives them, so the
// ioctl numbers match the kernel's.
func TestIoctlABI(t *testing.T) {
	want := map[string][2]uintptr{"amd64": {40, 48}, "arm64": {40, 48}, "386": {20, 24}}
	w, ok := want[runtime.GOARCH]
	if !ok {
		t.Skipf("no reference sizes for %s", runtime.GOARCH)
	}
	if got := [2]uintptr{unsafe.Sizeof(ipmiReq{}), unsafe.Sizeof(ipmiRecv{})}; got != w {
		t.Errorf("sizeof(ipmi_req, ipmi_recv) = %v, want %v", got, w)
	}
	if runtime.GOARCH == "amd64" && (ioctlSend != 0x8028690d || ioctlRecvTrn != 0xc030690b) {
		t.Errorf("ioctl numbers %#x %#x, want IPMICTL_SEND_COMMAND 0x8028690d, IPMICTL_RECEIVE_MSG_TRUNC 0xc030690b", ioctlSend, ioctlRecvTrn)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(idracDeviceID)
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeDevice(b)
		DecodeGUID(b)
		var l LAN
		for _, p := range []byte{lanIP, lanIPSource, lanMAC, lanVLAN} {
			decodeLANParam(&l, p, b)
		}
		Facts(Info{LAN: &l})
	})
}
