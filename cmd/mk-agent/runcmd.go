package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/agent/bmc"
	"github.com/razor-mk/razor-mk/agent/controller"
	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/agent/facts"
	"github.com/razor-mk/razor-mk/agent/leasefile"
	"github.com/razor-mk/razor-mk/agent/lldp"
	"github.com/razor-mk/razor-mk/agent/local"
	"github.com/razor-mk/razor-mk/internal/version"
	"github.com/razor-mk/razor-mk/wire"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runFlags are the flags of `mk-agent run`; each also reads RAZOR_<FLAG>
// from the environment (RAZOR_SERVER, RAZOR_DRY_RUN, …) when not given.
type runFlags struct {
	lldpWindow time.Duration
	config     string
	stateDir   string
	cmdline    string
	leaseDir   string
	server     string
	dryRun     bool
	logLevel   string
	webAddr    string
	mirrorAddr string
	mirrorDir  string
	factsRoot  string
}

// defaultStateDir is a tmpfs in the microkernel (so its contents last one
// boot); elsewhere, without root, a per-user temporary directory.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/run/razor/agent"
	}
	return filepath.Join(os.TempDir(), "mk-agent-"+strconv.Itoa(os.Geteuid()))
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the Microkernel Controller",
		Long: `run is the Microkernel Controller. It finds the Razor server (--server,
else the kernel command line razor.server=URL or razor.ip=IP (hanlon.server=,
hanlon.ip= too), else DHCP options 224/225/226 or next-server from the leases
init recorded, else mk_uri of the config file, else the DNS name "razor";
port 8026 unless given), then checks in every mk_checkin_interval seconds
after a random delay of up to mk_checkin_skew, registers its facts when told
to or when they change, obeys reboot and poweroff, and applies the
client_config the server sends (saved atomically to --config, then the
controller restarts in-process). A missing or failing server is retried
with exponential backoff and jitter, capped at the interval.

It also serves, on loopback, POST /setMkConfig and GET /status (--web-addr)
and the Tiny Core extension mirror (--mirror-addr, from --mirror-dir).
For --lldp-window after start it listens for LLDP frames on every link
and reports the switch, port and VLAN each is plugged into (lldp_* facts).

Every flag can also be set with RAZOR_<FLAG> in the environment, e.g.
RAZOR_SERVER=http://10.0.0.1:8026 or RAZOR_DRY_RUN=true.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			return runAgent(cmd.Context(), f, cmd.Flags().Changed("log-level"), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file (mk_conf.yaml); default <state-dir>/mk_conf.yaml")
	fl.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "directory for the first-checkin flag and the last registered facts (a tmpfs in the microkernel)")
	fl.StringVar(&f.cmdline, "cmdline", "/proc/cmdline", "kernel command line file (razor.server=, razor.ip=, razor.token=)")
	fl.StringVar(&f.leaseDir, "lease-dir", leasefile.Dir, "directory of the DHCP lease files init writes")
	fl.StringVar(&f.server, "server", "", "Razor server URL or address, overriding discovery (e.g. http://10.0.0.1:8026)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "log reboot and poweroff commands instead of performing them")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level (debug, info, warn, error); when given it overrides the server's mk_log_level")
	fl.StringVar(&f.webAddr, "web-addr", "127.0.0.1:2156", `address of the local web server (/setMkConfig, /status), or "off"`)
	fl.StringVar(&f.mirrorAddr, "mirror-addr", "127.0.0.1:2157", `address of the local TCE mirror, or "off"`)
	fl.StringVar(&f.mirrorDir, "mirror-dir", local.DefaultMirrorDir, "the image's extension mirror directory")
	fl.StringVar(&f.factsRoot, "facts-root", "/", "gather facts from this captured /proc+/sys tree instead of the live system")
	fl.DurationVar(&f.lldpWindow, "lldp-window", lldp.DefaultWindow, "listen this long for LLDP frames from the switches the links are plugged into (lldp_* facts; 0: off); the first registration does not wait for it")
	return cmd
}

// applyEnv sets every flag the command line left alone from
// RAZOR_<NAME>, NAME upper-cased with "-" as "_".
func applyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			return
		}
		key := "RAZOR_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
	})
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// runAgent wires the controller, discovery, facts and the local services,
// and runs them until ctx ends.
func runAgent(ctx context.Context, f runFlags, pinLevel bool, stderr io.Writer) error {
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return err
	}
	var lv slog.LevelVar
	lv.Set(level)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &lv})).With("prog", "mk-agent")

	if f.server != "" {
		if _, err := discover.ParseServer(f.server, false); err != nil {
			return fmt.Errorf("--server: %w", err)
		}
	}
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	if f.config == "" {
		f.config = filepath.Join(f.stateDir, "mk_conf.yaml")
	}
	_, statErr := os.Stat(f.config)
	cfg, err := controller.LoadConfig(f.config)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	cmdline, err := discover.ReadCmdline(f.cmdline)
	if err != nil {
		// Not fatal: a workstation may not have it; discovery goes on.
		log.Warn("no kernel command line", "err", err)
		cmdline = discover.Cmdline{}
	}
	if err := cmdlineSkew(&cfg, cmdline, errors.Is(statErr, fs.ErrNotExist)); err != nil {
		log.Warn("ignoring a bad kernel parameter", "err", err)
	}
	finder := &discover.Finder{
		Override: f.server,
		Cmdline:  cmdline,
		Leases:   discover.LeaseDir(f.leaseDir),
		Config:   discover.Server{URI: cfg.URI, CheckinPath: cfg.CheckinPath, RegisterPath: cfg.RegisterPath},
		Logger:   log,
	}
	factOpts := facts.Options{Root: f.factsRoot, Logger: log.With("component", "facts")}
	// Switch neighbours are heard beside the controller, never before it:
	// a neighbour heard later changes the facts, and the controller
	// registers them at its next checkin.
	neighbours := &lldp.Listener{Window: f.lldpWindow, Logger: log.With("component", "lldp")}
	if f.lldpWindow > 0 && f.factsRoot == "/" {
		go neighbours.Run(ctx)
	}
	// The BMC is asked once, beside the controller too (a KCS interface
	// answers slowly); its facts join the next registration.
	var bmcMu sync.Mutex
	var bmcFacts map[string]string
	if f.factsRoot == "/" {
		go func() {
			fs, err := bmc.Gather(ctx, bmc.Options{Logger: log.With("component", "bmc")})
			if err != nil && !errors.Is(err, bmc.ErrNoBMC) {
				log.Warn("bmc facts", "err", err)
			}
			bmcMu.Lock()
			bmcFacts = fs
			bmcMu.Unlock()
		}()
	}
	var extFacts func() map[string]string
	power := &controller.SystemPower{DryRun: f.dryRun, Logger: log}
	ctl, err := controller.New(controller.Options{
		Config:     cfg,
		ConfigPath: f.config,
		StateDir:   f.stateDir,
		Discover:   finder.Find,
		Identity: func() (controller.Identity, error) {
			id, err := facts.GetIdentity(factOpts)
			return controller.Identity{HWID: id.HWID, UUID: id.UUID}, err
		},
		Facts: func(ctx context.Context) (map[string]string, error) {
			res := facts.Gather(ctx, factOpts)
			errs := make([]error, len(res.Errors))
			for i, e := range res.Errors {
				errs[i] = e
			}
			if extFacts != nil {
				maps.Copy(res.Facts, extFacts())
			}
			maps.Copy(res.Facts, neighbours.Facts())
			bmcMu.Lock()
			maps.Copy(res.Facts, bmcFacts)
			bmcMu.Unlock()
			return res.Facts, errors.Join(errs...)
		},
		Power:    power.Do,
		Token:    cmdline[discover.ParamToken],
		CASHA256: cmdline[discover.ParamCASHA256],
		Logger:   log,
		LevelVar: &lv,
		PinLevel: pinLevel,
	})
	if err != nil {
		return err
	}
	log.Info("Microkernel Controller starting", "version", version.Version, "config", f.config,
		"state_dir", f.stateDir, "dry_run", f.dryRun)

	start := time.Now()
	status := func() any {
		return struct {
			Version string  `json:"version"`
			Uptime  float64 `json:"uptime_seconds"`
			controller.Status
		}{version.Version, time.Since(start).Seconds(), ctl.Status()}
	}
	var wg sync.WaitGroup
	serve := func(name, addr string, h http.Handler) {
		if addr == "" || addr == "off" {
			return
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			// The controller matters more than its local services: it
			// runs on without them.
			log.Error("cannot serve "+name, "addr", addr, "err", err)
			return
		}
		log.Info("serving "+name, "addr", ln.Addr().String())
		wg.Go(func() {
			if err := local.Serve(ctx, ln, h, log); err != nil {
				log.Error(name+" stopped", "err", err)
			}
		})
	}
	serve("web server", f.webAddr, local.NewWebHandler(local.WebOptions{Config: ctl, Status: status, Logger: log}))
	serve("TCE mirror", f.mirrorAddr, local.NewMirrorHandler(f.mirrorDir, log))
	extFacts = extensions(ctx, cfg, f.mirrorDir, factOpts, log)
	err = ctl.Run(ctx)
	wg.Wait()
	return err
}

// cmdlineSkew applies razor.checkin_skew= from the kernel command line to
// cfg when no config has been saved yet this boot (fresh), so that the
// first checkin already uses the server's mk_checkin_skew. A saved config
// (from a checkin reply) wins. A bad value changes nothing.
func cmdlineSkew(cfg *wire.ClientConfig, cmdline discover.Cmdline, fresh bool) error {
	v, ok := cmdline[discover.ParamCheckinSkew]
	if !ok || !fresh {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 3600 {
		return fmt.Errorf("%s=%q: want seconds within 0..3600", discover.ParamCheckinSkew, v)
	}
	cfg.CheckinSkew = n
	return nil
}
