package facts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// errNoProcessors is returned for a /proc/cpuinfo without processor entries.
var errNoProcessors = errors.New("facts: cpuinfo: no processor entries")

// cpuInfo is /proc/cpuinfo split into per-processor key/value maps.
type cpuInfo struct {
	// procs holds one map per "processor" block, in file order.
	procs []map[string]string
	// global holds keys outside processor blocks (arm64's "Hardware",
	// s390's "vendor_id" header and the like).
	global map[string]string
}

// maxCPUs bounds how many processor blocks are kept.
const maxCPUs = 8192

// parseCPUInfo parses /proc/cpuinfo: blocks of "key<tabs>: value" lines
// separated by blank lines, a block per logical processor.
func parseCPUInfo(b []byte) (cpuInfo, error) {
	ci := cpuInfo{global: map[string]string{}}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" {
			continue
		}
		if k == "processor" {
			if len(ci.procs) >= maxCPUs {
				return ci, fmt.Errorf("facts: cpuinfo: more than %d processors", maxCPUs)
			}
			cur = map[string]string{}
			ci.procs = append(ci.procs, cur)
		}
		if cur != nil {
			cur[k] = v
		} else {
			ci.global[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return ci, fmt.Errorf("facts: cpuinfo: %w", err)
	}
	if len(ci.procs) == 0 {
		return ci, errNoProcessors
	}
	return ci, nil
}

// get returns key of processor i, falling back to the global section.
func (c cpuInfo) get(i int, key string) string {
	if i < len(c.procs) {
		if v, ok := c.procs[i][key]; ok {
			return v
		}
	}
	return c.global[key]
}

// flags returns the CPU flags of processor i (x86 "flags", arm64
// "Features").
func (c cpuInfo) flags(i int) []string {
	f := c.get(i, "flags")
	if f == "" {
		f = c.get(i, "Features")
	}
	return strings.Fields(f)
}

func (c cpuInfo) hasFlag(flag string) bool {
	for _, f := range c.flags(0) {
		if f == flag {
			return true
		}
	}
	return false
}

// modelName returns a human name for processor i: x86's "model name";
// on Arm, the name of the core its MIDR fields give ("ARM Neoverse-N1"),
// which old arm64 kernels' "Processor" line ("AArch64 Processor rev 1")
// does not say; else what other architectures call it.
func (c cpuInfo) modelName(i int) string {
	if v := c.get(i, "model name"); v != "" {
		return v
	}
	if id, ok := c.armCPU(i); ok {
		return id.name()
	}
	for _, k := range []string{"cpu model", "Processor", "cpu", "uarch"} {
		if v := c.get(i, k); v != "" {
			return v
		}
	}
	return ""
}
