package bmc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultDevice is the kernel's first IPMI interface (ipmi_devintf).
const DefaultDevice = "/dev/ipmi0"

// The kernel's IPMI ioctl ABI (<linux/ipmi.h>). Go lays these out as C
// does on every Linux architecture (pointers and long are word-sized,
// int is 32 bits), so their sizes give the ioctl numbers.
type systemInterfaceAddr struct {
	addrType int32
	channel  int16
	lun      uint8
	_        uint8
}

type ipmiMsg struct {
	netfn   uint8
	cmd     uint8
	dataLen uint16
	data    unsafe.Pointer
}

type ipmiReq struct {
	addr    unsafe.Pointer
	addrLen uint32
	msgid   int // C long
	msg     ipmiMsg
}

type ipmiRecv struct {
	recvType int32
	addr     unsafe.Pointer
	addrLen  uint32
	msgid    int
	msg      ipmiMsg
}

const (
	ipmiSystemInterfaceAddrType = 0x0c
	ipmiBMCChannel              = 0x0f
	iocMagic                    = 'i'
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | iocMagic<<8 | nr }

var (
	ioctlSend    = ioc(2, 13, unsafe.Sizeof(ipmiReq{}))  // _IOR
	ioctlRecvTrn = ioc(3, 11, unsafe.Sizeof(ipmiRecv{})) // _IOWR
)

// Device is an open IPMI interface.
type Conn struct {
	f     *os.File
	msgid int
}

// Open opens the IPMI device (DefaultDevice if path is "").
func Open(path string) (*Conn, error) {
	if path == "" {
		path = DefaultDevice
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("bmc: %w", err)
	}
	return &Conn{f: f}, nil
}

// Close closes the device.
func (c *Conn) Close() error { return c.f.Close() }

// Do sends one request to the BMC and returns its answer without the
// completion code; a non-zero code is a *CompletionError.
func (c *Conn) Do(ctx context.Context, netfn, cmd byte, data []byte) ([]byte, error) {
	c.msgid++
	addr := systemInterfaceAddr{addrType: ipmiSystemInterfaceAddrType, channel: ipmiBMCChannel}
	req := ipmiReq{addr: unsafe.Pointer(&addr), addrLen: uint32(unsafe.Sizeof(addr)), msgid: c.msgid,
		msg: ipmiMsg{netfn: netfn, cmd: cmd, dataLen: uint16(len(data))}}
	if len(data) > 0 {
		req.msg.data = unsafe.Pointer(&data[0])
	}
	fd := int(c.f.Fd())
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlSend, uintptr(unsafe.Pointer(&req))); e != 0 {
		return nil, fmt.Errorf("bmc: send netfn %#x cmd %#x: %w", netfn, cmd, e)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	buf := make([]byte, 256)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, fmt.Errorf("bmc: netfn %#x cmd %#x: no answer: %w", netfn, cmd, context.DeadlineExceeded)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(min(wait, time.Second).Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("bmc: poll: %w", err)
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		var raddr systemInterfaceAddr
		recv := ipmiRecv{addr: unsafe.Pointer(&raddr), addrLen: uint32(unsafe.Sizeof(raddr)),
			msg: ipmiMsg{data: unsafe.Pointer(&buf[0]), dataLen: uint16(len(buf))}}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlRecvTrn, uintptr(unsafe.Pointer(&recv))); e != 0 {
			if e == unix.EAGAIN || e == unix.EINTR {
				continue
			}
			return nil, fmt.Errorf("bmc: receive: %w", e)
		}
		if recv.msgid != c.msgid {
			continue // a late answer to an earlier request
		}
		n := int(recv.msg.dataLen)
		if n < 1 {
			return nil, fmt.Errorf("%w: netfn %#x cmd %#x: no completion code", ErrShort, netfn, cmd)
		}
		if buf[0] != 0 {
			return nil, &CompletionError{NetFn: netfn, Cmd: cmd, Code: buf[0]}
		}
		return append([]byte(nil), buf[1:n]...), nil
	}
}

// Query asks the BMC for its device id, the system GUID and the first LAN
// channel's configuration (channels 1 to 11 are tried; most BMCs use 1).
// Only a failing Get Device ID is an error: the rest is optional.
func Query(ctx context.Context, c *Conn) (Info, error) {
	b, err := c.Do(ctx, netfnApp, cmdDeviceID, nil)
	if err != nil {
		return Info{}, err
	}
	var info Info
	if info.Device, err = DecodeDevice(b); err != nil {
		return Info{}, err
	}
	if b, err := c.Do(ctx, netfnApp, cmdSystemGUID, nil); err == nil {
		info.GUID, _ = DecodeGUID(b)
	}
	for ch := 1; ch <= 11 && info.LAN == nil; ch++ {
		b, err := c.Do(ctx, netfnTransport, cmdGetLANParam, []byte{byte(ch), lanMAC, 0, 0})
		if err != nil {
			continue
		}
		l := &LAN{Channel: ch}
		if decodeLANParam(l, lanMAC, b) != nil {
			continue
		}
		for _, p := range []byte{lanIP, lanIPSource, lanVLAN} {
			if b, err := c.Do(ctx, netfnTransport, cmdGetLANParam, []byte{byte(ch), p, 0, 0}); err == nil {
				decodeLANParam(l, p, b)
			}
		}
		info.LAN = l
	}
	return info, nil
}
