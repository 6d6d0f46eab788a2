package store

import (
	"strconv"
	"strings"
)

// NodeID formats a node's sequence number (its row key in either store)
// as its id: "node" and the number, no leading zeros.
func NodeID(seq int64) string { return "node" + strconv.FormatInt(seq, 10) }

// NodeSeq parses an id made by NodeID; false for anything else (a sign,
// a leading zero, zero, overflow).
func NodeSeq(id string) (int64, bool) {
	s, ok := strings.CutPrefix(id, "node")
	if !ok || s == "" || s[0] == '0' || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
