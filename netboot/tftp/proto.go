package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TFTP opcodes (RFC 1350 §5, RFC 2347 OACK).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTP error codes (RFC 1350 appendix, RFC 2347 code 8).
const (
	errUndefined      = 0
	errNotFound       = 1
	errAccess         = 2
	errIllegalOp      = 4
	errOptionsRefused = 8
)

// Block size bounds (RFC 2348) and the default.
const (
	defaultBlksize = 512
	minBlksize     = 8
	maxBlksize     = 65464
)

var errBadRequest = errors.New("tftp: malformed request")

// request is a parsed RRQ or WRQ.
type request struct {
	op       uint16
	filename string
	mode     string            // lower-cased
	opts     map[string]string // names lower-cased (RFC 2347: case-insensitive)
	order    []string          // option names in request order, for the OACK
}

// parseRequest parses an RRQ or WRQ: opcode, filename, mode, then
// option name/value pairs, each NUL-terminated.
func parseRequest(p []byte) (request, error) {
	if len(p) < 4 {
		return request{}, fmt.Errorf("%w: %d bytes", errBadRequest, len(p))
	}
	r := request{op: binary.BigEndian.Uint16(p)}
	if r.op != opRRQ && r.op != opWRQ {
		return request{}, fmt.Errorf("%w: opcode %d", errBadRequest, r.op)
	}
	if p[len(p)-1] != 0 {
		return request{}, fmt.Errorf("%w: not NUL-terminated", errBadRequest)
	}
	fields := bytes.Split(p[2:len(p)-1], []byte{0})
	if len(fields) < 2 || len(fields)%2 != 0 {
		return request{}, fmt.Errorf("%w: %d fields", errBadRequest, len(fields))
	}
	r.filename = string(fields[0])
	r.mode = strings.ToLower(string(fields[1]))
	for i := 2; i+1 < len(fields); i += 2 {
		name := strings.ToLower(string(fields[i]))
		if r.opts == nil {
			r.opts = map[string]string{}
		}
		if _, dup := r.opts[name]; !dup {
			r.order = append(r.order, name)
		}
		r.opts[name] = string(fields[i+1])
	}
	return r, nil
}

// optInt parses a numeric option value within [lo, hi].
func optInt(v string, lo, hi int64) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= lo && n <= hi
}

func packError(code uint16, msg string) []byte {
	if len(msg) > 200 {
		msg = msg[:200]
	}
	b := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(b, opERROR)
	binary.BigEndian.PutUint16(b[2:], code)
	b = append(b, msg...)
	return append(b, 0)
}

func packOACK(names []string, vals map[string]string) []byte {
	b := binary.BigEndian.AppendUint16(nil, opOACK)
	for _, n := range names {
		b = append(b, n...)
		b = append(b, 0)
		b = append(b, vals[n]...)
		b = append(b, 0)
	}
	return b
}
