package facts

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/razor-mk/razor-mk/agent/facts/smbios"
)

const cpuSysDir = "sys/devices/system/cpu"

// loadCPU parses /proc/cpuinfo once.
func (g *gatherer) loadCPU() (cpuInfo, error) {
	if !g.cpuLoaded {
		g.cpuLoaded = true
		b, err := g.t.ReadFile("proc/cpuinfo")
		if err != nil {
			g.cpuErr = fmt.Errorf("read /proc/cpuinfo: %w", err)
		} else {
			g.cpu, g.cpuErr = parseCPUInfo(b)
		}
	}
	return g.cpu, g.cpuErr
}

// arch returns the machine hardware name (uname -m): from
// /proc/sys/kernel/arch (Linux 5.19+), from uname(2) on a live system with
// an older kernel, else guessed from the CPU flags.
func (g *gatherer) arch() string {
	if a := readString(g.t, "proc/sys/kernel/arch"); a != "" {
		return a
	}
	if g.opts.live() {
		var u syscall.Utsname
		if syscall.Uname(&u) == nil {
			var b []byte
			for _, c := range u.Machine {
				if c == 0 {
					break
				}
				b = append(b, byte(c))
			}
			return string(b)
		}
	}
	ci, err := g.loadCPU()
	if err != nil {
		return ""
	}
	switch {
	case ci.hasFlag("lm"):
		return "x86_64"
	case ci.get(0, "vendor_id") != "":
		return "i686"
	case ci.get(0, "CPU architecture") == "8":
		return "aarch64"
	case strings.HasPrefix(ci.get(0, "isa"), "rv64"):
		return "riscv64"
	}
	return ""
}

// system reports the kernel, host name and architecture facts.
func (g *gatherer) system() error {
	a := g.arch()
	g.set("architecture", a)
	g.set("hardwaremodel", a)
	host := readString(g.t, "proc/sys/kernel/hostname")
	if h, dom, ok := strings.Cut(host, "."); ok {
		g.set("hostname", h)
		g.set("domain", dom)
		g.set("fqdn", host)
	} else {
		g.set("hostname", host)
	}
	g.set("kernel", readString(g.t, "proc/sys/kernel/ostype"))
	rel := readString(g.t, "proc/sys/kernel/osrelease")
	g.set("kernelrelease", rel)
	if v, _, _ := strings.Cut(rel, "-"); v != "" {
		g.set("kernelversion", v)
		if p := strings.SplitN(v, ".", 3); len(p) >= 2 {
			g.set("kernelmajversion", p[0]+"."+p[1])
		}
	}
	if rel == "" {
		return fmt.Errorf("no /proc/sys/kernel/osrelease")
	}
	return nil
}

// cpuPackage is one physical processor: a socket.
type cpuPackage struct {
	id    int   // physical package id
	procs []int // indices into cpuInfo.procs
}

// packages groups the logical processors by physical package, from
// cpuinfo's "physical id" (x86) or the sysfs topology (elsewhere).
func (g *gatherer) packages(ci cpuInfo) []cpuPackage {
	byID := map[int]*cpuPackage{}
	var ids []int
	for i := range ci.procs {
		s := ci.get(i, "physical id")
		if s == "" {
			s = readString(g.t, path.Join(cpuSysDir, "cpu"+ci.get(i, "processor"), "topology/physical_package_id"))
		}
		id, err := strconv.Atoi(s)
		if err != nil {
			id = 0
		}
		p, ok := byID[id]
		if !ok {
			p = &cpuPackage{id: id}
			byID[id] = p
			ids = append(ids, id)
		}
		p.procs = append(p.procs, i)
	}
	slices.Sort(ids)
	out := make([]cpuPackage, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out
}

// cpuFacts reports processorcount, physicalprocessorcount, processor<N>,
// mk_hw_lscpu_* and mk_hw_cpu*.
func (g *gatherer) cpuFacts() error {
	ci, err := g.loadCPU()
	if err != nil {
		return err
	}
	g.set("processorcount", strconv.Itoa(len(ci.procs)))
	for i := range ci.procs {
		g.set("processor"+strconv.Itoa(i), ci.modelName(i))
	}
	pkgs := g.packages(ci)
	g.set("physicalprocessorcount", strconv.Itoa(len(pkgs)))
	g.lscpuFacts(ci, pkgs)
	g.loadPlatform()
	g.hwCPUFacts(ci, pkgs, g.plat.procs)
	return nil
}

// cpuMHz returns a stable "CPU MHz". Where the kernel scales the clock,
// or measures it (x86 with APERF/MPERF), cpuinfo's figure changes by the
// second, and a changed fact makes the agent register again: then it is
// cpufreq's maximum, else the SMBIOS current speed. Elsewhere (VMs, whose
// figure is the fixed TSC rate) it is cpuinfo's.
func (g *gatherer) cpuMHz(ci cpuInfo) (value string, max, min uint64) {
	max = parseUint(readString(g.t, cpuSysDir+"/cpu0/cpufreq/cpuinfo_max_freq"))
	min = parseUint(readString(g.t, cpuSysDir+"/cpu0/cpufreq/cpuinfo_min_freq"))
	if max > 0 {
		return fmt.Sprintf("%.3f", float64(max)/1000), max, min
	}
	if ci.hasFlag("aperfmperf") {
		g.loadPlatform()
		for _, p := range g.plat.procs {
			if p.Populated && p.CurrentSpeed > 0 {
				return fmt.Sprintf("%d.000", p.CurrentSpeed), 0, 0
			}
		}
	}
	return ci.get(0, "cpu MHz"), 0, 0
}

// threadsPerCore returns how many logical CPUs share the first CPU's
// core, from the sysfs topology (core_cpus_list, or thread_siblings_list
// on kernels before 5.7); 0 when unknown. cpuinfo says it only on x86.
func (g *gatherer) threadsPerCore(ci cpuInfo) int {
	dir := path.Join(cpuSysDir, "cpu"+ci.get(0, "processor"), "topology")
	for _, f := range []string{"core_cpus_list", "thread_siblings_list"} {
		if n := cpuListCount(readString(g.t, path.Join(dir, f))); n > 0 {
			return n
		}
	}
	return 0
}

// cpuListCount counts the CPUs of a sysfs CPU list ("0-3,8-11" is 8); 0
// when it does not parse.
func cpuListCount(s string) int {
	if s == "" {
		return 0
	}
	n := 0
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b-a >= maxCPUs {
			return 0
		}
		n += b - a + 1
		if n > maxCPUs {
			return 0
		}
	}
	return n
}

// coresPerPackage returns the cores of pkg from the sysfs topology (its
// logical CPUs over the threads per core), 0 when unknown.
func (g *gatherer) coresPerPackage(ci cpuInfo, pkg *cpuPackage) int {
	if pkg == nil {
		return 0
	}
	if t := g.threadsPerCore(ci); t > 0 {
		return max(len(pkg.procs)/t, 1)
	}
	return 0
}

func (g *gatherer) lscpuFacts(ci cpuInfo, pkgs []cpuPackage) {
	sockets := len(pkgs)
	const pre = "mk_hw_lscpu_"
	a := g.arch()
	g.set(pre+"Architecture", a)
	switch a {
	case "x86_64":
		g.set(pre+"CPU_op-modes", "32-bit, 64-bit")
	case "i386", "i486", "i586", "i686":
		g.set(pre+"CPU_op-modes", "32-bit")
	}
	switch a {
	case "s390x", "ppc64", "sparc64", "mips", "mips64":
		g.set(pre+"Byte_Order", "Big Endian")
	case "":
	default:
		g.set(pre+"Byte_Order", "Little Endian")
	}
	g.set(pre+"CPUs", strconv.Itoa(len(ci.procs)))
	g.set(pre+"On-line_CPUs_list", readString(g.t, cpuSysDir+"/online"))
	cores, _ := strconv.Atoi(ci.get(0, "cpu cores"))
	siblings, _ := strconv.Atoi(ci.get(0, "siblings"))
	if cores > 0 && siblings > 0 {
		g.set(pre+"Threads_per_core", strconv.Itoa(max(siblings/cores, 1)))
		g.set(pre+"Cores_per_socket", strconv.Itoa(cores))
	} else if t := g.threadsPerCore(ci); t > 0 && len(pkgs) > 0 {
		g.set(pre+"Threads_per_core", strconv.Itoa(t))
		g.set(pre+"Cores_per_socket", strconv.Itoa(g.coresPerPackage(ci, &pkgs[0])))
	}
	g.set(pre+"CPU_sockets", strconv.Itoa(sockets))
	if ents, err := g.t.ReadDir("sys/devices/system/node"); err == nil {
		n := 0
		for _, e := range ents {
			if _, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "node")); err == nil && strings.HasPrefix(e.Name(), "node") {
				n++
			}
		}
		if n > 0 {
			g.set(pre+"NUMA_nodes", strconv.Itoa(n))
		}
	}
	vendor, model, modelName, stepping := ci.get(0, "vendor_id"), ci.get(0, "model"), ci.get(0, "model name"), ci.get(0, "stepping")
	if id, ok := ci.armCPU(0); ok && vendor == "" {
		// As lscpu shows an Arm CPU: the implementer's name, the
		// revision as the model, the core's name, and r<variant>p<revision>.
		vendor, model, modelName, stepping = id.vendor(), strconv.FormatUint(id.revision, 10), id.model(), id.stepping()
	}
	g.set(pre+"Vendor_ID", vendor)
	g.set(pre+"CPU_family", ci.get(0, "cpu family"))
	g.set(pre+"Model", model)
	g.set(pre+"Model_name", modelName)
	g.set(pre+"Stepping", stepping)
	mhzValue, fmax, fmin := g.cpuMHz(ci)
	g.set(pre+"CPU_MHz", mhzValue)
	if fmax > 0 {
		g.set(pre+"CPU_max_MHz", fmt.Sprintf("%.4f", float64(fmax)/1000))
	}
	if fmin > 0 {
		g.set(pre+"CPU_min_MHz", fmt.Sprintf("%.4f", float64(fmin)/1000))
	}
	bogo := ci.get(0, "bogomips")
	if bogo == "" {
		bogo = ci.get(0, "BogoMIPS")
	}
	g.set(pre+"BogoMIPS", bogo)
	switch {
	case ci.hasFlag("vmx"):
		g.set(pre+"Virtualization", "VT-x")
	case ci.hasFlag("svm"):
		g.set(pre+"Virtualization", "AMD-V")
	}
	for k, v := range g.caches("cpu0") {
		g.set(pre+k, v)
	}
}

// caches returns the cache sizes of one CPU keyed as lscpu names them
// (L1d_cache, L1i_cache, L2_cache, L3_cache), sizes as sysfs gives them
// ("32K"), as the lscpu of the original microkernel printed them.
func (g *gatherer) caches(cpu string) map[string]string {
	dir := path.Join(cpuSysDir, cpu, "cache")
	ents, err := g.t.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "index") {
			continue
		}
		d := path.Join(dir, e.Name())
		level, typ, size := readString(g.t, d+"/level"), readString(g.t, d+"/type"), readString(g.t, d+"/size")
		if level == "" || size == "" {
			continue
		}
		key := "L" + level
		switch typ {
		case "Data":
			key += "d"
		case "Instruction":
			key += "i"
		}
		out[key+"_cache"] = size
	}
	return out
}

// cpuVendors maps cpuinfo vendor IDs to the names lshw reports.
var cpuVendors = map[string]string{
	"GenuineIntel": "Intel Corp.",
	"AuthenticAMD": "Advanced Micro Devices [AMD]",
	"HygonGenuine": "Hygon",
	"CentaurHauls": "VIA Technologies",
	"Shanghai":     "Zhaoxin",
}

// hwCPUFacts reports mk_hw_cpu_count and mk_hw_cpu<N>_*, one entry per
// populated socket as lshw -c processor lists them: from the SMBIOS
// processor structures when there are any, else one per physical package.
func (g *gatherer) hwCPUFacts(ci cpuInfo, pkgs []cpuPackage, sprocs []smbios.Processor) {
	var populated []smbios.Processor
	for _, p := range sprocs {
		if p.Populated {
			populated = append(populated, p)
		}
	}
	n := len(pkgs)
	if len(populated) > 0 {
		n = len(populated)
	}
	g.set("mk_hw_cpu_count", strconv.Itoa(n))
	fmax := parseUint(readString(g.t, cpuSysDir+"/cpu0/cpufreq/cpuinfo_max_freq"))
	for i := 0; i < n; i++ {
		// The i-th socket holds the i-th package; the first processor
		// of the package speaks for it.
		proc := 0
		var pkg *cpuPackage
		if i < len(pkgs) {
			pkg = &pkgs[i]
			proc = pkg.procs[0]
		}
		var sp *smbios.Processor
		if i < len(populated) {
			sp = &populated[i]
		}
		const pre = "mk_hw_cpu"
		g.setn(pre, i, "description", "CPU")
		g.setn(pre, i, "product", ci.modelName(proc))
		vendor := cpuVendors[ci.get(proc, "vendor_id")]
		if vendor == "" && sp != nil {
			vendor = sp.Manufacturer
		}
		arm, isArm := ci.armCPU(proc)
		if vendor == "" && isArm {
			vendor = arm.vendor()
		}
		if vendor == "" {
			vendor = ci.get(proc, "vendor_id")
		}
		g.setn(pre, i, "vendor", vendor)
		switch {
		case sp != nil:
			g.setn(pre, i, "physical_id", strconv.FormatInt(int64(sp.Handle), 16))
		case pkg != nil:
			g.setn(pre, i, "physical_id", strconv.Itoa(pkg.id))
		}
		g.setn(pre, i, "bus_info", "cpu@"+strconv.Itoa(i))
		version := ""
		if sp != nil {
			version = sp.Version
		}
		if version == "" && ci.get(proc, "cpu family") != "" {
			version = ci.get(proc, "cpu family") + "." + ci.get(proc, "model") + "." + ci.get(proc, "stepping")
		}
		if version == "" && isArm {
			version = arm.stepping()
		}
		g.setn(pre, i, "version", version)
		var cur, maxSpeed, ext uint64
		if sp != nil {
			g.setn(pre, i, "serial", sp.SerialNumber)
			g.setn(pre, i, "slot", sp.Socket)
			cur, maxSpeed, ext = uint64(sp.CurrentSpeed), uint64(sp.MaxSpeed), uint64(sp.ExternalClock)
		}
		if cur == 0 && fmax > 0 {
			cur = fmax / 1000
		}
		if cur == 0 && !ci.hasFlag("aperfmperf") {
			if f, err := strconv.ParseFloat(ci.get(proc, "cpu MHz"), 64); err == nil && f > 0 {
				cur = uint64(f + 0.5)
			}
		}
		if cur > 0 {
			g.setn(pre, i, "size", mhz(cur))
		}
		if maxSpeed > 0 {
			g.setn(pre, i, "capacity", mhz(maxSpeed))
		}
		if ext > 0 {
			g.setn(pre, i, "clock", mhz(ext))
		}
		switch {
		case ci.hasFlag("lm") || (sp != nil && sp.Is64Bit) || g.arch() == "aarch64":
			g.setn(pre, i, "width", "64 bits")
		case ci.get(proc, "vendor_id") != "":
			g.setn(pre, i, "width", "32 bits")
		}
		g.setn(pre, i, "capabilities", strings.Join(cpuCapabilities(ci, proc), " "))
		topoCores := 0
		if ci.get(proc, "cpu cores") == "" && (sp == nil || sp.CoreCount == 0) {
			topoCores = g.coresPerPackage(ci, pkg)
		}
		g.setn(pre, i, "configuration", cpuConfiguration(ci, proc, sp, pkg, topoCores))
	}
}

// cpuCapabilities lists a processor's capabilities as lshw does: fpu,
// fpu_exception and wp from their cpuinfo lines, then the flags with lm
// shown as x86-64.
func cpuCapabilities(ci cpuInfo, proc int) []string {
	var caps []string
	seen := map[string]bool{}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			caps = append(caps, c)
		}
	}
	for _, k := range []string{"fpu", "fpu_exception", "wp"} {
		if ci.get(proc, k) == "yes" {
			add(k)
		}
	}
	for _, f := range ci.flags(proc) {
		if f == "lm" {
			f = "x86-64"
		}
		add(f)
	}
	return caps
}

// cpuConfiguration is lshw's "cores=N enabledcores=N threads=N". The
// cores come from SMBIOS, else cpuinfo's "cpu cores" (x86), else
// topoCores (the sysfs topology; 0 when unknown).
func cpuConfiguration(ci cpuInfo, proc int, sp *smbios.Processor, pkg *cpuPackage, topoCores int) string {
	var cores, enabled, threads int
	if sp != nil {
		cores, enabled, threads = int(sp.CoreCount), int(sp.CoresEnabled), int(sp.ThreadCount)
	}
	if cores == 0 {
		cores, _ = strconv.Atoi(ci.get(proc, "cpu cores"))
	}
	if cores == 0 {
		cores = topoCores
	}
	if enabled == 0 {
		enabled = cores
	}
	if threads == 0 {
		threads, _ = strconv.Atoi(ci.get(proc, "siblings"))
	}
	if threads == 0 && pkg != nil {
		threads = len(pkg.procs)
	}
	var parts []string
	if cores > 0 {
		parts = append(parts, "cores="+strconv.Itoa(cores))
	}
	if enabled > 0 {
		parts = append(parts, "enabledcores="+strconv.Itoa(enabled))
	}
	if threads > 0 {
		parts = append(parts, "threads="+strconv.Itoa(threads))
	}
	return strings.Join(parts, " ")
}
