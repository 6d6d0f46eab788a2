package rules

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// SystemFacts are the facts SystemTags reads; keep in step with it.
var SystemFacts = []string{"mk_hw_cpu_count", "processorcount", "mk_hw_mem_size", "memorysize_mb", "mk_hw_nic_count", "is_virtual", "virtual", "mk_hw_bus_vendor"}

// SystemTags returns the tags every node gets from its facts, as the
// original Razor's system tag rules gave them, sorted:
//
//   - cpus_N: N from mk_hw_cpu_count, else processorcount; the first of
//     them that is a whole number (leading zeros dropped).
//   - memsize_XGiB: the memory size from mk_hw_mem_size (a size such as
//     "4GiB", "4096 MiB" or "4GB"; a bare number counts bytes), else from
//     memorysize_mb (MiB), rounded to the nearest GiB; below 1 GiB,
//     rounded to the nearest MiB instead: memsize_512MiB.
//   - nics_N: N from mk_hw_nic_count, a whole number.
//   - <virtual>_vm when is_virtual is "true" (any case): the virtual fact
//     ("kvm", "vmware", ...) sanitised, then "_vm": kvm_vm.
//   - the bus (main board) vendor, mk_hw_bus_vendor, sanitised: "Dell Inc."
//     gives DellInc.
//
// Sanitising keeps ASCII letters, digits and "_%=+-" and drops every other
// byte, as the original's did; leading "%=+-" are dropped too and the
// result is cut to MaxNameLen, so that every system tag is a valid name. A
// fact that is absent, empty or unusable gives no tag.
func SystemTags(facts map[string]string) []string {
	var out []string
	for _, key := range []string{"mk_hw_cpu_count", "processorcount"} {
		if n, ok := wholeNumber(facts[key]); ok {
			out = append(out, "cpus_"+n)
			break
		}
	}
	if t := memsizeTag(facts); t != "" {
		out = append(out, t)
	}
	if n, ok := wholeNumber(facts["mk_hw_nic_count"]); ok {
		out = append(out, "nics_"+n)
	}
	if strings.EqualFold(strings.TrimSpace(facts["is_virtual"]), "true") {
		if v := sanitise(facts["virtual"]); v != "" {
			out = append(out, systemName(v[:min(len(v), MaxNameLen-len("_vm"))]+"_vm"))
		}
	}
	if v := sanitise(facts["mk_hw_bus_vendor"]); v != "" {
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// wholeNumber returns s, a non-negative decimal integer, without leading
// zeros.
func wholeNumber(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 18 {
		return "", false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

// memsizeTag returns memsize_XGiB (or memsize_XMiB) or "".
func memsizeTag(facts map[string]string) string {
	bytes, ok := parseNumber(facts["mk_hw_mem_size"])
	if !ok || bytes <= 0 {
		mb, mbOK := plainNumber(facts["memorysize_mb"])
		if !mbOK || mb <= 0 {
			return ""
		}
		bytes = mb * (1 << 20)
	}
	if bytes >= 1<<30 {
		gib := math.Round(bytes / (1 << 30))
		if gib > 1<<40 {
			return ""
		}
		return "memsize_" + strconv.FormatFloat(gib, 'f', 0, 64) + "GiB"
	}
	if mib := math.Round(bytes / (1 << 20)); mib >= 1 {
		return "memsize_" + strconv.FormatFloat(mib, 'f', 0, 64) + "MiB"
	}
	return ""
}

// plainNumber parses a decimal number without a unit.
func plainNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || scanDecimal(s) != len(s) {
		return 0, false
	}
	return parseNumber(s)
}

// sanitise keeps the bytes of s that the original kept in tag names
// ([\w%=\-+], \w being ASCII), drops leading bytes a name cannot start with
// and cuts the result to MaxNameLen.
func sanitise(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		keep := nameStart(c) || (b.Len() > 0 && strings.IndexByte("%=+-", c) >= 0)
		if keep {
			b.WriteByte(c)
		}
	}
	return systemName(b.String())
}

// systemName cuts a system tag name to MaxNameLen.
func systemName(s string) string {
	if len(s) > MaxNameLen {
		return s[:MaxNameLen]
	}
	return s
}
