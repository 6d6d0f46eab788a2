package facts

import (
	"strconv"
	"strings"
)

// binarySize formats a byte count as lshw does for memory ("36GiB",
// "1536MiB", "96KiB"): divide by 1024 while the value is above 10240 or a
// whole multiple of 1024.
func binarySize(v uint64) string {
	const prefixes = "KMGTPEZY"
	i := 0
	for v != 0 && i < len(prefixes) && (v > 10240 || v%1024 == 0) {
		v /= 1024
		i++
	}
	s := strconv.FormatUint(v, 10)
	if i > 0 {
		s += prefixes[i-1 : i]
	}
	return s + "iB"
}

// decimalValue formats v with decimal prefixes as lshw does for disk sizes,
// clocks and link speeds ("8589MB", "2400MHz", "1Gbit/s"): divide by 1000
// while the value is above 10000 or a whole multiple of 1000.
func decimalValue(v uint64, unit string) string {
	const prefixes = "KMGTPEZY"
	i := 0
	for v != 0 && i < len(prefixes) && (v > 10000 || v%1000 == 0) {
		v /= 1000
		i++
	}
	s := strconv.FormatUint(v, 10)
	if i > 0 {
		s += prefixes[i-1 : i]
	}
	return s + unit
}

// diskSize formats a disk size as lshw prints it: "8GiB (8589MB)".
func diskSize(bytes uint64) string {
	return binarySize(bytes) + " (" + decimalValue(bytes, "B") + ")"
}

// mhz formats a frequency given in MHz as lshw does ("2400MHz", "4GHz").
func mhz(v uint64) string { return decimalValue(v*1000*1000, "Hz") }

// facterSize formats a kB count as Facter 1.6's memorysize: two decimals
// and the largest unit that keeps the number above 1 ("7.68 GB").
func facterSize(kb uint64) string {
	units := []string{"kB", "MB", "GB", "TB", "PB"}
	v := float64(kb)
	i := 0
	for v > 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + units[i]
}

// alphafy turns an interface name into the form Facter used in fact names
// (macaddress_eth0_100 for eth0.100): anything but letters, digits and _
// becomes _.
func alphafy(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}

// cleanValue makes a value safe to report: valid UTF-8, no control
// characters, no surrounding blanks.
func cleanValue(s string) string {
	s = strings.ToValidUTF8(s, "")
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, s)
	}
	return strings.TrimSpace(s)
}

// parseUint parses a decimal or 0x-prefixed hex number, 0 on failure.
func parseUint(s string) uint64 {
	s = strings.TrimSpace(s)
	base := 10
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s, base = s[2:], 16
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0
	}
	return v
}
