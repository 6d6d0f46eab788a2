package e2e

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/internal/testlab"
	"golang.org/x/sys/unix"
)

// The switch the lab's LLDP sender plays.
const (
	lldpSwitch = "e2e-tor1"
	lldpPort   = "Ethernet1/7"
)

// lldpTLV encodes one LLDP TLV (IEEE 802.1AB §8.4: 7 bits type, 9 bits
// length, value).
func lldpTLV(typ int, v []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(typ<<9|len(v))), v...)
}

// lldpFrame is the frame a top-of-rack switch sends out of a port: to
// the nearest-bridge group address, chassis id by MAC, port id by
// interface name, TTL, port description, system name, end.
func lldpFrame(src net.HardwareAddr) []byte {
	f := append([]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}, src...)
	f = binary.BigEndian.AppendUint16(f, 0x88cc)
	for _, t := range [][]byte{
		lldpTLV(1, append([]byte{4}, src...)),
		lldpTLV(2, append([]byte{5}, lldpPort...)),
		lldpTLV(3, []byte{0, 120}),
		lldpTLV(4, []byte("e2e lab port 7")),
		lldpTLV(5, []byte(lldpSwitch)),
		lldpTLV(0, nil),
	} {
		f = append(f, t...)
	}
	return f
}

// sendLLDP sends the switch's frame out of ifname, a bridge of the lab's
// namespace, every second until the test ends, as a switch port facing
// every node on the bridge would (more often than the standard 30 s, so
// that the agent's listening window sees it at once).
func sendLLDP(t *testing.T, ns *testlab.TestNetns, ifname string) {
	t.Helper()
	var fd int
	var src net.HardwareAddr
	err := testlab.InNetns(ns.Name, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		src = ifi.HardwareAddr
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("LLDP sender on %s: %v", ifname, err)
	}
	frame := lldpFrame(src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if _, err := unix.Write(fd, frame); err != nil {
				t.Logf("LLDP sender: %v", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		unix.Close(fd)
	})
}
