package main

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// summarise gathers the nodes' results.
func summarise(rs []nodeResult) *Result {
	res := &Result{Nodes: len(rs), Errors: map[string]int{}}
	for _, r := range rs {
		if r.err != nil {
			res.Errors[errorKind(r.err)]++
			continue
		}
		res.Registered++
		res.Total = append(res.Total, r.ends[phRegister])
		res.Bytes += r.bytes
		prev := time.Duration(0)
		for p := range nPhases {
			res.Phase[p] = append(res.Phase[p], r.ends[p]-prev)
			prev = r.ends[p]
		}
	}
	slices.Sort(res.Total)
	for p := range nPhases {
		slices.Sort(res.Phase[p])
	}
	return res
}

// specifics are the parts of an error message that differ between nodes.
var specifics = regexp.MustCompile(`\b(\d{1,3}\.){3}\d{1,3}(:\d+)?\b|([0-9a-f]{2}[:-]){5}[0-9a-f]{2}|\?[^ "]*|\b\d+\b`)

// errorKind is an error's message with node specifics replaced, so that
// the same failure of many nodes counts once.
func errorKind(err error) string {
	return specifics.ReplaceAllString(err.Error(), "N")
}

// percentile of sorted durations (nearest rank); 0 for none.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p/100*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// Header is the markdown table header Row belongs under.
func Header() string {
	h := "| servers | registered | p50 s | p99 s | max s |"
	sep := "|---|---|---|---|---|"
	for _, n := range phaseNames {
		h += " " + n + " p50 s |"
		sep += "---|"
	}
	return h + " retries DHCP/TFTP | errors |\n" + sep + "---|---|"
}

// Row is the result as a markdown table row under Header.
func (r *Result) Row(label string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | %d/%d | %s | %s | %s |", label, r.Registered, r.Nodes,
		secs(percentile(r.Total, 50)), secs(percentile(r.Total, 99)), secs(percentile(r.Total, 100)))
	for p := range nPhases {
		fmt.Fprintf(&b, " %s |", secs(percentile(r.Phase[p], 50)))
	}
	fmt.Fprintf(&b, " %d/%d | %s |", r.DHCPRetries, r.TFTPRetries, r.errorText())
	return b.String()
}

// errorText lists the errors, most frequent first.
func (r *Result) errorText() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if r.Errors[kinds[i]] != r.Errors[kinds[j]] {
			return r.Errors[kinds[i]] > r.Errors[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d× %s", r.Errors[k], strings.ReplaceAll(k, "|", "/")))
	}
	return strings.Join(parts, "; ")
}
