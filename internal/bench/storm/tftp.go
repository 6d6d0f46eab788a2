package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	tftpRRQ   = 1
	tftpDATA  = 3
	tftpACK   = 4
	tftpERROR = 5
	tftpOACK  = 6
)

// tftpGet fetches file from server:69 from the node's address local in
// lock-step with blksize 1468, as iPXE's ROM asks, and returns the size
// received. Each packet is sent again after one second without an
// answer, five times at most; retries counts those.
func tftpGet(ctx context.Context, local, server netip.Addr, file string, retries *atomic.Int64) (int64, error) {
	const blksize = 1468
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return 0, fmt.Errorf("storm: tftp: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	rrq := []byte{0, tftpRRQ}
	for _, s := range []string{file, "octet", "blksize", strconv.Itoa(blksize), "tsize", "0"} {
		rrq = append(append(rrq, s...), 0)
	}
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 69))
	out := rrq
	var peer *net.UDPAddr // the transfer's port, once known
	var got int64
	want := uint16(1)
	size := 512 // until the OACK says otherwise
	buf := make([]byte, blksize+4)
	for tries := 0; ; {
		dst := to
		if peer != nil {
			dst = peer
		}
		if _, err := conn.WriteToUDP(out, dst); err != nil {
			return got, fmt.Errorf("storm: tftp: %w", err)
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil {
				return got, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if tries++; tries > 5 {
					return got, fmt.Errorf("storm: tftp %s: timed out at block %d", file, want)
				}
				retries.Add(1)
				continue
			}
			return got, fmt.Errorf("storm: tftp: %w", err)
		}
		if n < 4 || (peer != nil && from.Port != peer.Port) {
			continue
		}
		tries = 0
		op, blk := binary.BigEndian.Uint16(buf), binary.BigEndian.Uint16(buf[2:])
		switch op {
		case tftpERROR:
			return got, fmt.Errorf("storm: tftp %s: error %d: %s", file, blk, trimNUL(buf[4:n]))
		case tftpOACK:
			peer = from
			size = blksize
			out = []byte{0, tftpACK, 0, 0}
		case tftpDATA:
			peer = from
			if blk != want {
				continue // a duplicate; the ACK we sent stands
			}
			got += int64(n - 4)
			out = []byte{0, tftpACK, byte(blk >> 8), byte(blk)}
			want++
			if n-4 < size {
				conn.WriteToUDP(out, peer)
				return got, nil
			}
		}
	}
}

func trimNUL(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
