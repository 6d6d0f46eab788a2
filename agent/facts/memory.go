package facts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errNoMemTotal is returned for a /proc/meminfo without MemTotal.
var errNoMemTotal = errors.New("facts: meminfo: no MemTotal")

// parseMeminfo parses /proc/meminfo ("MemTotal:  8048576 kB") into values
// in kB (the unit the kernel uses for every sized field; counts such as
// HugePages_Total come through unchanged).
func parseMeminfo(b []byte) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 || len(f) > 2 || (len(f) == 2 && f[1] != "kB") {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(k)] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("facts: meminfo: %w", err)
	}
	if _, ok := out["MemTotal"]; !ok {
		return out, errNoMemTotal
	}
	return out, nil
}

// memoryFacts reports memorysize, memorysize_mb, memorytotal and lshw's
// system memory node (mk_hw_mem_*).
func (g *gatherer) memoryFacts() error {
	b, err := g.t.ReadFile("proc/meminfo")
	if err != nil {
		return fmt.Errorf("read /proc/meminfo: %w", err)
	}
	mi, err := parseMeminfo(b)
	if err != nil {
		return err
	}
	total := mi["MemTotal"]
	g.set("memorysize", facterSize(total))
	g.set("memorytotal", facterSize(total))
	g.set("memorysize_mb", strconv.FormatFloat(float64(total)/1024, 'f', 2, 64))

	// lshw: the size of the system memory is what the DIMMs hold; without
	// SMBIOS, what the kernel has in memory blocks; at worst MemTotal
	// (which misses what the kernel reserved).
	g.loadPlatform()
	p := &g.plat
	g.set("mk_hw_mem_description", "System Memory")
	physID, slot := "0", ""
	var size uint64
	for _, a := range p.arrays {
		if !a.SystemMemory {
			continue
		}
		if slot == "" {
			physID, slot = strconv.FormatInt(int64(a.Handle), 16), a.Location
		}
		for _, d := range p.dimms {
			if d.ArrayHandle == a.Handle {
				size += d.Size
			}
		}
	}
	if size == 0 {
		size = g.memoryBlocks()
	}
	if size == 0 {
		size = total << 10
	}
	g.set("mk_hw_mem_physical_id", physID)
	g.set("mk_hw_mem_slot", slot)
	g.set("mk_hw_mem_size", binarySize(size))
	return nil
}

// memoryBlocks returns the bytes of memory the kernel manages in
// /sys/devices/system/memory (online or not: installed is what counts),
// 0 when that is not available.
func (g *gatherer) memoryBlocks() uint64 {
	const dir = "sys/devices/system/memory"
	bs := parseUint("0x" + readString(g.t, dir+"/block_size_bytes"))
	if bs == 0 {
		return 0
	}
	ents, err := g.t.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n uint64
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "memory") || !e.IsDir() {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "memory")); err != nil {
			continue
		}
		n++
	}
	return n * bs
}
