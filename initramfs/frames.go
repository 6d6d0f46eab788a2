package initramfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// Decompressors read ahead of the data they need, which would swallow the
// start of the next archive in a concatenated initrd. The readers in this
// file walk the framing of zstd and lz4 streams and hand a decompressor
// exactly one member's bytes, ending with io.EOF where the member ends.

// passer hands out the next remain bytes of br, then asks next for more.
type passer struct {
	br     *bufio.Reader
	remain int
	next   func() (int, error) // bytes of the next piece, or io.EOF at the end
	err    error
}

func (p *passer) Read(b []byte) (int, error) {
	for p.remain == 0 {
		if p.err != nil {
			return 0, p.err
		}
		n, err := p.next()
		if err != nil {
			p.err = err
			return 0, err
		}
		p.remain = n
	}
	if len(b) > p.remain {
		b = b[:p.remain]
	}
	n, err := p.br.Read(b)
	p.remain -= n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		p.err = err
	}
	return n, err
}

// peekFull returns the next n bytes without consuming them, or
// io.ErrUnexpectedEOF if the input ends first.
func peekFull(br *bufio.Reader, n int) ([]byte, error) {
	b, err := br.Peek(n)
	if len(b) == n {
		return b, nil
	}
	if err == io.EOF || err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

const (
	zstdMagic      = 0xFD2FB528
	zstdSkipMask   = 0xFFFFFFF0
	zstdSkipMagic  = 0x184D2A50
	zstdMaxBlock   = 128 << 10
	lz4FrameMagic  = 0x184D2204
	lz4LegacyMagic = 0x184C2102
	lz4LegacyBlock = 8 << 20
)

func isZstd(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	m := binary.LittleEndian.Uint32(b)
	return m == zstdMagic || m&zstdSkipMask == zstdSkipMagic
}

// zstdFrames returns a reader of the consecutive zstd frames (skippable
// frames included) at the head of br, per RFC 8878 §3.1: it ends where the
// next bytes are not a zstd frame.
func zstdFrames(br *bufio.Reader) io.Reader {
	const (
		stFrame = iota
		stBlock
		stChecksum
	)
	state := stFrame
	checksum := false
	p := &passer{br: br}
	p.next = func() (int, error) {
		switch state {
		case stFrame:
			b, _ := br.Peek(4)
			if !isZstd(b) {
				return 0, io.EOF
			}
			if m := binary.LittleEndian.Uint32(b); m != zstdMagic {
				h, err := peekFull(br, 8)
				if err != nil {
					return 0, fmt.Errorf("zstd skippable frame header: %w", err)
				}
				size := binary.LittleEndian.Uint32(h[4:])
				if size > 1<<30 {
					return 0, fmt.Errorf("zstd skippable frame of %d bytes", size)
				}
				// Skip it here: the decoder need not see it.
				if _, err := br.Discard(8); err != nil {
					return 0, err
				}
				if n, err := br.Discard(int(size)); err != nil || n != int(size) {
					return 0, fmt.Errorf("zstd skippable frame: %w", io.ErrUnexpectedEOF)
				}
				return p.next()
			}
			h, err := peekFull(br, 5)
			if err != nil {
				return 0, fmt.Errorf("zstd frame header: %w", err)
			}
			fhd := h[4]
			if fhd&0x08 != 0 {
				return 0, errors.New("zstd frame header: reserved bit set")
			}
			n := 5
			single := fhd&0x20 != 0
			if !single {
				n++ // window descriptor
			}
			n += [4]int{0, 1, 2, 4}[fhd&3] // dictionary id
			switch fhd >> 6 {
			case 0:
				if single {
					n++
				}
			case 1:
				n += 2
			case 2:
				n += 4
			case 3:
				n += 8
			}
			checksum = fhd&0x04 != 0
			state = stBlock
			return n, nil
		case stBlock:
			h, err := peekFull(br, 3)
			if err != nil {
				return 0, fmt.Errorf("zstd block header: %w", err)
			}
			bh := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16
			last := bh&1 != 0
			size := int(bh >> 3)
			switch (bh >> 1) & 3 {
			case 0, 2: // raw, compressed
			case 1: // RLE: one byte repeated size times
				size = 1
			case 3:
				return 0, errors.New("zstd block header: reserved block type")
			}
			if size > zstdMaxBlock {
				return 0, fmt.Errorf("zstd block of %d bytes exceeds %d", size, zstdMaxBlock)
			}
			if last {
				state = stChecksum
			}
			return 3 + size, nil
		default:
			state = stFrame
			if checksum {
				return 4, nil
			}
			return p.next()
		}
	}
	return p
}

func isLz4Frame(b []byte) bool {
	return len(b) >= 4 && binary.LittleEndian.Uint32(b) == lz4FrameMagic
}

// lz4Frame returns a reader of the one LZ4 frame at the head of br (the
// LZ4 frame format: header, blocks up to an end mark, optional checksum).
func lz4Frame(br *bufio.Reader) io.Reader {
	const (
		stHeader = iota
		stBlock
		stChecksum
		stDone
	)
	state := stHeader
	var blockSum, contentSum bool
	p := &passer{br: br}
	p.next = func() (int, error) {
		switch state {
		case stHeader:
			h, err := peekFull(br, 6)
			if err != nil {
				return 0, fmt.Errorf("lz4 frame header: %w", err)
			}
			flg := h[4]
			if flg>>6 != 1 {
				return 0, fmt.Errorf("lz4 frame version %d, want 1", flg>>6)
			}
			n := 7
			if flg&0x08 != 0 {
				n += 8 // content size
			}
			if flg&0x01 != 0 {
				n += 4 // dictionary id
			}
			blockSum, contentSum = flg&0x10 != 0, flg&0x04 != 0
			state = stBlock
			return n, nil
		case stBlock:
			h, err := peekFull(br, 4)
			if err != nil {
				return 0, fmt.Errorf("lz4 block header: %w", err)
			}
			v := binary.LittleEndian.Uint32(h)
			if v == 0 {
				state = stChecksum
				return 4, nil
			}
			size := int(v & 0x7fffffff)
			if size > 4<<20 {
				return 0, fmt.Errorf("lz4 block of %d bytes exceeds 4 MiB", size)
			}
			if blockSum {
				size += 4
			}
			return 4 + size, nil
		case stChecksum:
			state = stDone
			if contentSum {
				return 4, nil
			}
			return 0, io.EOF
		}
		return 0, io.EOF
	}
	return p
}

// lz4Legacy decodes the legacy LZ4 format that the kernel's build writes
// for initramfs images (lz4 -l): a magic, then blocks of at most 8 MiB
// each prefixed by its compressed size. The format has no end mark: it ends
// at the end of input, at zero padding, at something that cannot be a
// block size, or at the uncompressed size that the kernel's build appends.
type lz4Legacy struct {
	br   *bufio.Reader
	out  []byte
	buf  []byte
	dst  []byte
	cum  uint32
	done bool
}

func newLz4Legacy(br *bufio.Reader) (*lz4Legacy, error) {
	if _, err := br.Discard(4); err != nil {
		return nil, err
	}
	return &lz4Legacy{br: br}, nil
}

// lz4Bound is LZ4_compressBound for a legacy block.
const lz4Bound = lz4LegacyBlock + lz4LegacyBlock/255 + 16

func (l *lz4Legacy) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if l.done {
			return 0, io.EOF
		}
		if err := l.block(); err != nil {
			return 0, err
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

func (l *lz4Legacy) block() error {
	h, _ := l.br.Peek(4)
	if len(h) < 4 {
		l.done = true
		return nil
	}
	v := binary.LittleEndian.Uint32(h)
	switch {
	case v == lz4LegacyMagic:
		_, err := l.br.Discard(4)
		return err
	case v == 0 || v > lz4Bound:
		l.done = true
		return nil
	}
	if v == l.cum {
		// Possibly the appended total size: so if nothing follows but
		// the end of input or padding.
		if t, _ := l.br.Peek(8); len(t) == 4 || len(t) == 8 && binary.LittleEndian.Uint32(t[4:]) == 0 {
			_, err := l.br.Discard(4)
			l.done = true
			return err
		}
	}
	if _, err := l.br.Discard(4); err != nil {
		return err
	}
	if cap(l.buf) < int(v) {
		l.buf = make([]byte, v)
	}
	src := l.buf[:v]
	if _, err := io.ReadFull(l.br, src); err != nil {
		return fmt.Errorf("lz4 legacy block: %w", io.ErrUnexpectedEOF)
	}
	if l.dst == nil {
		l.dst = make([]byte, lz4LegacyBlock)
	}
	n, err := lz4.UncompressBlock(src, l.dst)
	if err != nil {
		return fmt.Errorf("lz4 legacy block: %w", err)
	}
	l.out = l.dst[:n]
	l.cum += uint32(n)
	return nil
}
