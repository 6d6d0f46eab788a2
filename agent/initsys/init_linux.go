package initsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/agent/modprobe"
	"github.com/razor-mk/razor-mk/agent/netup"
	"golang.org/x/sys/unix"
)

// DefaultNetWait is how long init waits for the first DHCP lease before
// it starts the agent anyway (DHCP keeps trying in the background).
const DefaultNetWait = 60 * time.Second

// Env is what a Service gets to decide whether and how to run.
type Env struct {
	Options BootOptions
	Cmdline discover.Cmdline
	// Console is the system console, for services that talk to it.
	Console *os.File
	Log     *slog.Logger
}

// Config configures Run. The zero value plus PID1 is a real init; the
// other fields let tests replace every part that touches the system.
type Config struct {
	// PID1 makes Run mount the base file systems, take the console, turn
	// ctrl-alt-del into a signal, and reboot or power off on request.
	// Without it Run expects a prepared system, becomes the subreaper of
	// its descendants, and returns after the shutdown sequence's fake
	// reboot.
	PID1 bool
	// Root prefixes the files init writes and reads (etc/, lib/modules/);
	// "" means /.
	Root string
	// Proc and Sys are where procfs and sysfs are; "" means /proc, /sys.
	Proc, Sys string
	// Console is the console device; "" means /dev/console.
	Console string
	// Output receives the log and the children's output when not PID1;
	// nil means stderr.
	Output *os.File
	// Agent builds the command of the supervised controller (`mk-agent
	// run`); nil starts none.
	Agent func() *exec.Cmd
	// Services returns extra services to run (the dev variant's SSH server
	// and console shell); nil means none.
	Services func(Env) []Service
	// ModulesDir overrides Root/lib/modules/<release>.
	ModulesDir string
	// LoadModule inserts a module; nil means modprobe.LoadFile.
	LoadModule modprobe.LoadFunc
	// Netlink and NewDHCP override the real network access.
	Netlink netup.Netlink
	NewDHCP netup.NewDHCPFunc
	// LeaseDir overrides leasefile.Dir.
	LeaseDir string
	// NetWait overrides DefaultNetWait (razor.netwait overrides both).
	NetWait time.Duration
	// Mount overrides SysMount.
	Mount MountFunc
	// Sethostname overrides unix.Sethostname.
	Sethostname func(name string) error
	// Shutdown overrides SystemOps.
	Shutdown *ShutdownOps
	// ShutdownGrace is how long processes get to exit after SIGTERM on
	// shutdown; 0 means 5s.
	ShutdownGrace time.Duration
	// Ready, if set, is called once every boot step has been started,
	// with the hostname (empty without a lease).
	Ready func(hostname string)
}

func (c *Config) path(p string) string {
	if c.Root == "" {
		return p
	}
	return filepath.Join(c.Root, p)
}

// Run is init: it brings the system up and then waits for a signal to
// reboot, power off or halt. As PID 1 it returns only if reboot(2)
// fails; otherwise it returns after the shutdown sequence or when ctx
// ends.
func Run(ctx context.Context, cfg Config) error {
	proc := cmpOr(cfg.Proc, "/proc")
	sys := cmpOr(cfg.Sys, "/sys")
	out := cfg.Output
	if out == nil {
		out = os.Stderr
	}
	var mountErr error
	if cfg.PID1 {
		mount := cfg.Mount
		if mount == nil {
			mount = SysMount
		}
		mountErr = MountAll(cmpOr(cfg.Root, "/"), BaseMounts(), mount)
		if con, err := OpenConsole(cmpOr(cfg.Console, "/dev/console")); err == nil {
			out = con
		}
	}
	level := new(slog.LevelVar)
	log := NewLogger(out, level)
	log.Info("init started", "pid", os.Getpid())
	if mountErr != nil {
		log.Error("mounting file systems", "err", mountErr)
	}

	// Signals first: a reboot request during a slow boot must not be lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, Signals...)
	defer signal.Stop(sigs)
	if cfg.PID1 {
		// ctrl-alt-del becomes SIGINT to init instead of an immediate
		// reboot without sync.
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
			log.Warn("ctrl-alt-del handling", "err", err)
		}
	} else if err := SetSubreaper(); err != nil {
		log.Warn("not a subreaper; orphans will not be reaped", "err", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	reaper := &Reaper{Proc: proc, Log: log}
	goRun(func() { reaper.Run(runCtx) })

	cmdline, err := discover.ReadCmdline(filepath.Join(proc, "cmdline"))
	if err != nil {
		log.Warn("kernel command line", "err", err)
		cmdline = discover.Cmdline{}
	}
	opts, bad := ParseBootOptions(cmdline)
	for _, b := range bad {
		log.Warn("ignoring bad kernel parameter", "param", b)
	}
	if opts.Debug {
		level.Set(slog.LevelDebug)
	}

	// Requested modules first (they may be what finds the NIC); the
	// coldplug runs beside the network set-up below.
	coldplug := loadModules(runCtx, &cfg, sys, proc, opts, log)

	hostname := ""
	nl := cfg.Netlink
	if nl == nil {
		k, err := netup.NewKernel()
		if err != nil {
			log.Error("netlink", "err", err)
		} else {
			defer k.Close()
			nl = k
		}
	}
	network, err := netup.Start(runCtx, netup.Config{
		Netlink:    nl,
		NewDHCP:    cfg.NewDHCP,
		LeaseDir:   cfg.LeaseDir,
		ResolvConf: cfg.path("/etc/resolv.conf"),
		Interfaces: opts.Interfaces,
		Hostname:   Hostname,
		Log:        log,
	})
	// DHCP starts on each link as soon as the coldplug round that loaded
	// its driver ends, not after the last round's settle wait.
	coldplugDone := make(chan struct{})
	goRun(func() {
		if coldplug != nil {
			if network != nil {
				coldplug.AfterRound = network.Rescan
			}
			runColdplug(runCtx, coldplug, log)
		}
		close(coldplugDone)
		waitForRNG(log)
	})
	if err == nil {
		goRun(network.Wait)
		wait := cmpOr(opts.NetWait, cmpOr(cfg.NetWait, DefaultNetWait))
		wctx, cancel := context.WithTimeout(runCtx, wait)
		first, err := network.First(wctx)
		cancel()
		if err == nil {
			log.Info("network up", "link", first.Interface, "addr", first.Addr, "gateway", first.DefaultGateway(), "uptime", Uptime().Round(time.Millisecond))
			hostname = setHostname(&cfg, first.MAC, log)
		} else {
			log.Error("no DHCP lease yet; starting the agent anyway, DHCP keeps trying", "waited", wait)
			goRun(func() {
				if first, err := network.First(runCtx); err == nil {
					setHostname(&cfg, first.MAC, log)
				}
			})
		}
	} else {
		log.Error("network", "err", err)
	}

	// The agent's first facts must include what the coldplug loads
	// (disk controllers, the other NICs).
	select {
	case <-coldplugDone:
	case <-runCtx.Done():
	}

	env := Env{Options: opts, Cmdline: cmdline, Console: out, Log: log}
	if cfg.Services != nil {
		for _, svc := range cfg.Services(env) {
			log.Info("starting service", "service", svc.Name)
			goRun(func() { RunService(runCtx, svc, log) })
		}
	}
	if cfg.Agent != nil {
		sup := &Supervisor{Name: "mk-agent run", Log: log, Command: func() *exec.Cmd {
			c := cfg.Agent()
			if c.Stdout == nil {
				c.Stdout = out
			}
			if c.Stderr == nil {
				c.Stderr = out
			}
			return c
		}}
		goRun(func() { sup.Run(runCtx) })
	}
	if cfg.Ready != nil {
		cfg.Ready(hostname)
	}

	var action Action
	for action == None {
		select {
		case <-ctx.Done():
			stop()
			wg.Wait()
			return ctx.Err()
		case sig := <-sigs:
			action = ActionFor(sig)
			log.Info("signal", "signal", sig.String(), "action", action.String())
		}
	}
	// Stop our own children gracefully (the supervisor gives the agent
	// its grace period), then everything else. A service that does not
	// stop must not keep the machine from rebooting.
	stop()
	if !waitFor(&wg, stopTimeout) {
		log.Warn("services still stopping; shutting down anyway", "waited", stopTimeout)
	}
	ops := cfg.Shutdown
	if ops == nil {
		sysOps := SystemOps(proc)
		ops = &sysOps
	}
	return Shutdown(action, *ops, cmpOr(cfg.ShutdownGrace, 5*time.Second), log)
}

// loadModules loads /etc/modules and razor.modules and returns the
// coldplug that loads what the devices need, or nil when there is no
// module index.
func loadModules(ctx context.Context, cfg *Config, sys, proc string, opts BootOptions, log *slog.Logger) *modprobe.Coldplug {
	dir := cfg.ModulesDir
	if dir == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			log.Error("uname", "err", err)
			return nil
		}
		dir = cfg.path(fmt.Sprintf(modprobe.DefaultDir, unix.ByteSliceToString(u.Release[:])))
	}
	var loaded []string
	if f, err := os.Open(filepath.Join(proc, "modules")); err == nil {
		loaded, _ = modprobe.ReadProcModules(f)
		f.Close()
	}
	p, err := modprobe.NewProber(modprobe.Config{
		Dir: dir, Load: cfg.LoadModule, Loaded: loaded,
		Blacklist: opts.Blacklist, Params: opts.Params, Log: log,
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			log.Info("no module index; relying on built-in drivers", "dir", dir)
		} else {
			log.Error("module index", "err", err)
		}
		return nil
	}
	var reqs []modprobe.Request
	if f, err := os.Open(cfg.path("/etc/modules")); err == nil {
		reqs, err = modprobe.ParseModulesList(io.LimitReader(f, 1<<20))
		f.Close()
		if err != nil {
			log.Error("/etc/modules", "err", err)
		}
	}
	for _, m := range opts.Modules {
		reqs = append(reqs, modprobe.Request{Name: m})
	}
	for _, r := range reqs {
		if _, err := p.Probe(r.Name, r.Params); err != nil {
			log.Error("loading requested module", "module", r.Name, "err", err)
		}
	}
	return &modprobe.Coldplug{Prober: p, SysfsRoot: sys, Log: log}
}

// waitForRNG says so when the kernel's random number generator is not
// seeded, and again once it is. DHCP transaction IDs, TLS and SSH host
// keys come from getrandom(2), which blocks until the kernel's CRNG is
// seeded. Hardware RNGs (RDRAND, virtio-rng, TPM) seed it at once; an
// emulated CPU without them can take minutes.
func waitForRNG(log *slog.Logger) {
	if rngReady() {
		return
	}
	log.Warn("kernel random number generator not seeded yet; network set-up waits for it (a CPU with RDRAND or a virtio-rng device helps)")
	var b [1]byte
	if _, err := unix.Getrandom(b[:], 0); err == nil {
		log.Info("kernel random number generator ready", "uptime", Uptime().Round(time.Millisecond))
	}
}

// runColdplug runs cp and logs its report.
func runColdplug(ctx context.Context, cp *modprobe.Coldplug, log *slog.Logger) {
	rep, err := cp.Run(ctx)
	if err != nil {
		log.Error("coldplug", "err", err)
		return
	}
	log.Info("modules loaded", "rounds", rep.Rounds, "devices", rep.Devices, "loaded", len(rep.Loaded),
		"failed", len(rep.Failed), "timed_out", rep.TimedOut, "took", rep.Duration.Round(time.Millisecond))
}

// stopTimeout bounds how long a shutdown waits for init's own services
// and the supervised agent (whose grace period is 5s) to stop.
const stopTimeout = 10 * time.Second

// waitFor waits for wg up to d and reports whether it finished.
func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// rngReady reports whether getrandom(2) would return without blocking.
func rngReady() bool {
	var b [1]byte
	_, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK)
	return !errors.Is(err, unix.EAGAIN)
}

func setHostname(cfg *Config, mac net.HardwareAddr, log *slog.Logger) string {
	name := Hostname(mac)
	set := cfg.Sethostname
	if set == nil {
		set = func(n string) error { return unix.Sethostname([]byte(n)) }
	}
	if err := set(name); err != nil {
		log.Error("sethostname", "err", err)
	}
	if err := WriteHostname(cmpOr(cfg.Root, "/"), name); err != nil {
		log.Error("hostname files", "err", err)
	}
	log.Info("hostname set", "hostname", name)
	return name
}
