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
	Logger  *slog.Logger
}

// Options configures Run. The zero value plus PID1 is a real init; the
// other fields let tests replace every part that touches the system.
type Options struct {
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

func (c *Options) path(p string) string {
	if c.Root == "" {
		return p
	}
	return filepath.Join(c.Root, p)
}

// Run is init: it brings the system up and then waits for a signal to
// reboot, power off or halt. As PID 1 it returns only if reboot(2)
// fails; otherwise it returns after the shutdown sequence or when ctx
// ends.
func Run(ctx context.Context, cfg Options) error {
	r := &run{cfg: cfg, proc: cmpOr(cfg.Proc, "/proc"), sys: cmpOr(cfg.Sys, "/sys")}
	r.startLogging()
	sigs := r.catchSignals()
	defer signal.Stop(sigs)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	reaper := &Reaper{Proc: r.proc, Logger: r.log}
	r.goRun(func() { reaper.Run(runCtx) })

	cmdline, opts := r.bootOptions()
	// Requested modules first (they may be what finds the NIC); the
	// coldplug runs beside the network set-up.
	coldplug := loadModules(runCtx, &r.cfg, r.sys, r.proc, opts, r.log)
	r.mountFirmware(coldplug)
	closeNetlink, hostname, coldplugDone := r.network(runCtx, coldplug, opts)
	defer closeNetlink()
	// The agent's first facts must include what the coldplug loads
	// (disk controllers, the other NICs).
	select {
	case <-coldplugDone:
	case <-runCtx.Done():
	}
	r.startServices(runCtx, Env{Options: opts, Cmdline: cmdline, Console: r.out, Logger: r.log})
	if cfg.Ready != nil {
		cfg.Ready(hostname)
	}

	action, err := r.waitForAction(ctx, sigs)
	if err != nil {
		stop()
		r.wg.Wait()
		return err
	}
	// Stop our own children gracefully (the supervisor gives the agent
	// its grace period), then everything else. A service that does not
	// stop must not keep the machine from rebooting.
	stop()
	if !waitFor(&r.wg, stopTimeout) {
		r.log.Warn("services still stopping; shutting down anyway", "waited", stopTimeout)
	}
	ops := cfg.Shutdown
	if ops == nil {
		sysOps := SystemOps(r.proc)
		ops = &sysOps
	}
	return Shutdown(action, *ops, cmpOr(cfg.ShutdownGrace, 5*time.Second), r.log)
}

// run is one Run of init: its configuration and what the phases share.
type run struct {
	cfg       Options
	proc, sys string
	out       *os.File // the console, else stderr
	log       *slog.Logger
	level     *slog.LevelVar
	wg        sync.WaitGroup // every goroutine Run started
}

// goRun runs f in a goroutine that Run waits for before shutting down.
func (r *run) goRun(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// startLogging mounts the base file systems and opens the console when
// init is PID 1, then makes the logger on the console (stderr otherwise).
func (r *run) startLogging() {
	r.out = r.cfg.Output
	if r.out == nil {
		r.out = os.Stderr
	}
	var mountErr error
	if r.cfg.PID1 {
		mount := r.cfg.Mount
		if mount == nil {
			mount = SysMount
		}
		mountErr = MountAll(cmpOr(r.cfg.Root, "/"), BaseMounts(), mount)
		if con, err := OpenConsole(cmpOr(r.cfg.Console, "/dev/console")); err == nil {
			r.out = con
		}
	}
	r.level = new(slog.LevelVar)
	r.log = NewLogger(r.out, r.level)
	r.log.Info("init started", "pid", os.Getpid())
	if mountErr != nil {
		r.log.Error("mounting file systems", "err", mountErr)
	}
}

// mountFirmware mounts securityfs and, on UEFI, efivarfs (loading its
// module with the coldplug's prober) for the boot facts (lockdown,
// secure_boot), when init is PID 1. A failure is logged; the facts it
// feeds are then missing.
func (r *run) mountFirmware(cp *modprobe.Coldplug) {
	if !r.cfg.PID1 {
		return
	}
	mount := r.cfg.Mount
	if mount == nil {
		mount = SysMount
	}
	var load func(string) error
	if cp != nil && cp.Prober != nil {
		load = func(name string) error {
			_, err := cp.Prober.Probe(name, "")
			return err
		}
	}
	if err := MountFirmware(r.sys, mount, load); err != nil {
		r.log.Warn("firmware file systems (lockdown and secure_boot facts may be missing)", "err", err)
	}
}

// catchSignals subscribes to init's signals before anything slow starts,
// so that a reboot request during a slow boot is not lost.
func (r *run) catchSignals() chan os.Signal {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, Signals...)
	if r.cfg.PID1 {
		// ctrl-alt-del becomes SIGINT to init instead of an immediate
		// reboot without sync.
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
			r.log.Warn("ctrl-alt-del handling", "err", err)
		}
	} else if err := SetSubreaper(); err != nil {
		r.log.Warn("not a subreaper; orphans will not be reaped", "err", err)
	}
	return sigs
}

// bootOptions reads the kernel command line and init's options from it;
// razor.debug turns the log level to debug.
func (r *run) bootOptions() (discover.Cmdline, BootOptions) {
	cmdline, err := discover.ReadCmdline(filepath.Join(r.proc, "cmdline"))
	if err != nil {
		r.log.Warn("kernel command line", "err", err)
		cmdline = discover.Cmdline{}
	}
	opts, bad := ParseBootOptions(cmdline)
	for _, b := range bad {
		r.log.Warn("ignoring bad kernel parameter", "param", b)
	}
	if opts.Debug {
		r.level.Set(slog.LevelDebug)
	}
	return cmdline, opts
}

// network starts DHCP on every link and the coldplug beside it, and waits
// (up to the net wait) for a first lease to name the host. It returns a
// func that closes the netlink handle it opened, the hostname set ("" if
// none yet), and a channel closed when the coldplug has ended.
func (r *run) network(ctx context.Context, coldplug *modprobe.Coldplug, opts BootOptions) (closeNetlink func(), hostname string, coldplugDone chan struct{}) {
	closeNetlink = func() {}
	nl := r.cfg.Netlink
	if nl == nil {
		k, err := netup.NewKernel()
		if err != nil {
			r.log.Error("netlink", "err", err)
		} else {
			closeNetlink = func() { k.Close() }
			nl = k
		}
	}
	network, err := netup.Start(ctx, netup.Options{
		Netlink:    nl,
		NewDHCP:    r.cfg.NewDHCP,
		LeaseDir:   r.cfg.LeaseDir,
		ResolvConf: r.cfg.path("/etc/resolv.conf"),
		Interfaces: opts.Interfaces,
		Hostname:   Hostname,
		Logger:     r.log,
	})
	// DHCP starts on each link as soon as the coldplug round that loaded
	// its driver ends, not after the last round's settle wait.
	coldplugDone = make(chan struct{})
	r.goRun(func() {
		if coldplug != nil {
			if network != nil {
				coldplug.AfterRound = network.Rescan
			}
			runColdplug(ctx, coldplug, r.log)
		}
		close(coldplugDone)
		waitForRNG(r.log)
	})
	if err != nil {
		r.log.Error("network", "err", err)
		return closeNetlink, "", coldplugDone
	}
	r.goRun(network.Wait)
	wait := cmpOr(opts.NetWait, cmpOr(r.cfg.NetWait, DefaultNetWait))
	wctx, cancel := context.WithTimeout(ctx, wait)
	first, err := network.First(wctx)
	cancel()
	if err != nil {
		r.log.Error("no DHCP lease yet; starting the agent anyway, DHCP keeps trying", "waited", wait)
		r.goRun(func() {
			if first, err := network.First(ctx); err == nil {
				setHostname(&r.cfg, first.MAC, r.log)
			}
		})
		return closeNetlink, "", coldplugDone
	}
	r.log.Info("network up", "link", first.Interface, "addr", first.Addr, "gateway", first.DefaultGateway(), "uptime", Uptime().Round(time.Millisecond))
	return closeNetlink, setHostname(&r.cfg, first.MAC, r.log), coldplugDone
}

// startServices starts the configured services and the supervised agent.
func (r *run) startServices(ctx context.Context, env Env) {
	if r.cfg.Services != nil {
		for _, svc := range r.cfg.Services(env) {
			r.log.Info("starting service", "service", svc.Name)
			r.goRun(func() { RunService(ctx, svc, r.log) })
		}
	}
	if r.cfg.Agent == nil {
		return
	}
	sup := &Supervisor{Name: "mk-agent run", Logger: r.log, Command: func() *exec.Cmd {
		c := r.cfg.Agent()
		if c.Stdout == nil {
			c.Stdout = r.out
		}
		if c.Stderr == nil {
			c.Stderr = r.out
		}
		return c
	}}
	r.goRun(func() { sup.Run(ctx) })
}

// waitForAction waits for a signal that asks init to reboot, power off
// or halt, or for ctx to end (its error).
func (r *run) waitForAction(ctx context.Context, sigs chan os.Signal) (Action, error) {
	for {
		select {
		case <-ctx.Done():
			return None, ctx.Err()
		case sig := <-sigs:
			action := ActionFor(sig)
			r.log.Info("signal", "signal", sig.String(), "action", action.String())
			if action != None {
				return action, nil
			}
		}
	}
}

func loadModules(ctx context.Context, cfg *Options, sys, proc string, opts BootOptions, log *slog.Logger) *modprobe.Coldplug {
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
	p, err := modprobe.NewProber(modprobe.Options{
		Dir: dir, Load: cfg.LoadModule, Loaded: loaded,
		Blacklist: opts.Blacklist, Params: opts.Params, Logger: log,
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
	return &modprobe.Coldplug{Prober: p, SysfsRoot: sys, Logger: log}
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

func setHostname(cfg *Options, mac net.HardwareAddr, log *slog.Logger) string {
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
