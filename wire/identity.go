package wire

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// MaxMACs bounds the number of MACs one hw_id may carry.
const MaxMACs = 64

// NormalizeMAC returns mac as 12 upper-case hex digits without separators
// (the original's hw_id element form). It accepts colon, hyphen, dot or no
// separators.
func NormalizeMAC(mac string) (string, error) {
	s := strings.Map(func(r rune) rune {
		switch r {
		case ':', '-', '.':
			return -1
		}
		return r
	}, strings.TrimSpace(mac))
	if len(s) != 12 {
		return "", fmt.Errorf("MAC %q: want 6 bytes", mac)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("MAC %q: not hex", mac)
	}
	return strings.ToUpper(s), nil
}

// ColonMAC formats a normalised MAC as AA:BB:CC:DD:EE:FF.
func ColonMAC(norm string) string {
	if len(norm) != 12 {
		return norm
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(norm[i : i+2])
	}
	return b.String()
}

// SplitHWID parses an hw_id (MACs joined with "_", or "," or spaces as
// some clients sent) into normalised, sorted, de-duplicated MACs.
func SplitHWID(hwid string) ([]string, error) {
	parts := strings.FieldsFunc(hwid, func(r rune) bool {
		return r == '_' || r == ',' || r == ' '
	})
	if len(parts) == 0 {
		return nil, fmt.Errorf("hw_id %q: no MACs", hwid)
	}
	if len(parts) > MaxMACs {
		return nil, fmt.Errorf("hw_id: %d MACs, at most %d", len(parts), MaxMACs)
	}
	macs := make([]string, 0, len(parts))
	for _, p := range parts {
		m, err := NormalizeMAC(p)
		if err != nil {
			return nil, err
		}
		macs = append(macs, m)
	}
	slices.Sort(macs)
	return slices.Compact(macs), nil
}

// JoinHWID joins normalised MACs into an hw_id, sorted.
func JoinHWID(macs []string) string {
	s := slices.Clone(macs)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), "_")
}

// NormalizeHWID returns the canonical form of an hw_id.
func NormalizeHWID(hwid string) (string, error) {
	macs, err := SplitHWID(hwid)
	if err != nil {
		return "", err
	}
	return JoinHWID(macs), nil
}

// NormalizeHWIDLoose is NormalizeHWID that returns its input upper-cased
// when it does not parse; for comparisons only.
func NormalizeHWIDLoose(hwid string) string {
	n, err := NormalizeHWID(hwid)
	if err != nil {
		return strings.ToUpper(hwid)
	}
	return n
}

// NormalizeUUID returns an SMBIOS UUID in the canonical upper-case
// 8-4-4-4-12 form. It reports false for a malformed UUID and for the
// all-zero and all-F placeholders that firmware uses when it has none.
func NormalizeUUID(u string) (string, bool) {
	s := strings.ReplaceAll(strings.TrimSpace(u), "-", "")
	s = strings.TrimPrefix(strings.TrimSuffix(s, "}"), "{")
	if len(s) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	s = strings.ToUpper(s)
	if s == strings.Repeat("0", 32) || s == strings.Repeat("F", 32) {
		return "", false
	}
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32], true
}
