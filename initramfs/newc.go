package initramfs

import "fmt"

// The newc ("SVR4 with no CRC") header: a 6-byte magic and thirteen 8-digit
// hexadecimal fields, then the NUL-terminated name padded to a multiple of
// four bytes, then the data padded likewise. The "crc" variant (070702)
// has the same layout plus a checksum of the data, which the kernel does
// not verify and neither do we.
const (
	headerLen  = 110
	magicNewc  = "070701"
	magicCRC   = "070702"
	trailerStr = "TRAILER!!!"
)

// header holds the numeric fields of a newc header.
type header struct {
	ino, mode, uid, gid, nlink, mtime, filesize uint32
	devMajor, devMinor, rdevMajor, rdevMinor    uint32
	namesize, check                             uint32
}

var fieldNames = [13]string{"ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
	"devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"}

func (h *header) fields() [13]*uint32 {
	return [13]*uint32{&h.ino, &h.mode, &h.uid, &h.gid, &h.nlink, &h.mtime, &h.filesize,
		&h.devMajor, &h.devMinor, &h.rdevMajor, &h.rdevMinor, &h.namesize, &h.check}
}

// parseHeader decodes a 110-byte newc header. Every hex digit is checked:
// a malformed field is an error naming it, never a silent zero.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerLen {
		return h, fmt.Errorf("%w: short header", ErrTruncated)
	}
	m := string(b[:6])
	if m != magicNewc && m != magicCRC {
		return h, badMagic(b[:6])
	}
	for i, f := range h.fields() {
		var v uint32
		for _, c := range b[6+8*i : 14+8*i] {
			d, ok := hexDigit(c)
			if !ok {
				return h, fmt.Errorf("%w: field %s is %q, not 8 hex digits", ErrBadHeader, fieldNames[i], b[6+8*i:14+8*i])
			}
			v = v<<4 | uint32(d)
		}
		*f = v
	}
	return h, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// badMagic explains magic bytes that do not start a newc header, naming
// the other cpio formats, which the kernel does not accept either.
func badMagic(b []byte) error {
	switch {
	case string(b) == "070707":
		return fmt.Errorf("%w: cpio odc (portable ASCII, magic 070707); the kernel and this package read only newc (070701)", ErrUnsupported)
	case len(b) >= 2 && (b[0] == 0xc7 && b[1] == 0x71 || b[0] == 0x71 && b[1] == 0xc7):
		return fmt.Errorf("%w: old binary cpio; the kernel and this package read only newc (070701)", ErrUnsupported)
	}
	return fmt.Errorf("%w: got %q, want newc %q", ErrBadMagic, b, magicNewc)
}

const hexUpper = "0123456789ABCDEF"

// appendHeader appends h's header and name (NUL-terminated, padded to a
// multiple of four counting from the record start) to dst, as GNU cpio
// does, in upper-case hex.
func appendHeader(dst []byte, h *header, name string) []byte {
	dst = append(dst, magicNewc...)
	for _, f := range h.fields() {
		v := *f
		for s := 28; s >= 0; s -= 4 {
			dst = append(dst, hexUpper[(v>>uint(s))&0xf])
		}
	}
	dst = append(dst, name...)
	dst = append(dst, 0)
	for range pad4(int64(headerLen + len(name) + 1)) {
		dst = append(dst, 0)
	}
	return dst
}

// pad4 returns the padding that rounds n up to a multiple of four.
func pad4(n int64) int64 { return (4 - n%4) % 4 }
