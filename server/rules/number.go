package rules

import (
	"math"
	"strconv"
	"strings"
)

// unitFactors are the unit suffixes a number in a string may carry, by
// lower-case name. Byte sizes come in both SI (kB = 1000) and IEC
// (KiB = 1024) forms, as lshw and Facter print them; Hz and bit/s cover
// lshw's clock and link speeds.
var unitFactors = map[string]float64{
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"pb":  1e15,
	"eb":  1e18,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
	"pib": 1 << 50,
	"eib": 1 << 60,

	"hz":  1,
	"khz": 1e3,
	"mhz": 1e6,
	"ghz": 1e9,

	"bit/s":  1,
	"kbit/s": 1e3,
	"mbit/s": 1e6,
	"gbit/s": 1e9,
	"tbit/s": 1e12,
}

// maxUnitLen is the longest key of unitFactors.
const maxUnitLen = 6

// parseNumber reads a decimal number, optionally followed by a unit of
// unitFactors (any case, spaces allowed before it), and returns its value
// in the base unit: "2" is 2, "-1.5e3" is -1500, "4GiB" and "4 gib" are
// 4294967296, "2.4GHz" is 2.4e9. Surrounding white space is ignored.
// Hexadecimal, "Inf", "NaN", digit separators and results that overflow
// are not numbers.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	end := scanDecimal(s)
	if end == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		return 0, false
	}
	if unit := strings.TrimLeft(s[end:], " \t"); unit != "" {
		if len(unit) > maxUnitLen {
			return 0, false
		}
		var lower [maxUnitLen]byte
		for i := 0; i < len(unit); i++ {
			c := unit[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		factor, ok := unitFactors[string(lower[:len(unit)])]
		if !ok {
			return 0, false
		}
		f *= factor
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// scanDecimal returns the length of the longest prefix of s of the form
// [+-] digits [. digits] [(e|E) [+-] digits], with at least one digit
// before the exponent, or 0 when there is none.
func scanDecimal(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
			digits++
		}
		if digits > 0 {
			i = j
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// formatNumber writes f as JSON would (encoding/json's float64 format):
// plain decimal notation, exponent notation only below 1e-6 and from 1e21
// on. "str" and "like" see numbers in this form.
func formatNumber(f float64) string {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as in JavaScript and encoding/json.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}
