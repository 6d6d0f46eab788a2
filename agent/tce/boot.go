package tce

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/agent/modprobe"
	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/tcz"
)

// Defaults of BootConfig: the image layout mkbuild writes (and Tiny
// Core's own /tmp/tce for downloads).
const (
	DefaultOnboot      = "/tmp/builtin/onboot.lst"
	DefaultOptional    = "/tmp/builtin/optional"
	DefaultMirrorDir   = "/tmp/tinycorelinux"
	DefaultDownloadDir = "/tmp/tce/optional"
	DefaultMirrorURI   = "http://localhost:2157/tinycorelinux"
)

// Facts the agent reports about extensions.
const (
	// FactFailed lists the extensions that failed, comma-separated.
	FactFailed = "mk_ext_failed"
	// FactFailedWhy says why each failed: "NAME: reason", "; "-separated
	// (each reason cut to 200 bytes).
	FactFailedWhy = "mk_ext_failed_why"
	// FactKmodFailed lists the kmod-install-list modules that did not load.
	FactKmodFailed = "mk_kmod_failed"
)

// BootOptions configures Boot. The zero value works in the microkernel;
// MirrorURI and the list URIs come from the agent's configuration
// (mk_tce_mirror_uri, mk_tce_install_list_uri, mk_kmod_install_list_uri).
type BootOptions struct {
	// Installer installs; nil means an Installer into / with loop mounts
	// that loads the squashfs and loop modules when needed.
	Installer *Installer
	// Onboot and Optional are the built-in list and directory.
	Onboot, Optional string
	// MirrorDir is the image's mirror tree, used to find its
	// <major>.x/<build> when Repo is empty.
	MirrorDir string
	// DownloadDir receives extensions fetched from the mirror.
	DownloadDir string
	// Repo is "<major>.x/<build>" of the mirror; "" finds it in MirrorDir,
	// else from /etc/os-release and uname -m as Tiny Core does.
	Repo string
	// MirrorURI is the mirror root (DefaultMirrorURI); the extensions are
	// under MirrorURI/<Repo>/tcz/.
	MirrorURI string
	// TCEInstallListURI and KmodInstallListURI return the install lists
	// (JSON arrays, or one name a line); "" means MirrorURI/tce-install-list
	// and MirrorURI/kmod-install-list.
	TCEInstallListURI, KmodInstallListURI string
	// Facts returns the node's facts, to recognise VMware; nil means not
	// VMware.
	Facts func(ctx context.Context) map[string]string
	// LoadModules loads kernel modules by kmod-install-list entry; nil
	// means modules.dep of the running kernel, else the module files under
	// /lib/modules/<release> and /usr/local/lib/modules/<release>.
	LoadModules func(ctx context.Context, entries []string) (loaded []string, failed []Failure)
	// Client does the HTTP; nil means a client with a 5-minute timeout.
	Client *http.Client
	// ListWait is how long the install lists are retried while the local
	// mirror starts; 0 means 15 s.
	ListWait time.Duration
	// Logger receives the steps; nil discards.
	Logger *slog.Logger
}

// BootReport is what Boot did.
type BootReport struct {
	// Builtin is the install of onboot.lst.
	Builtin Report
	// VMware reports whether the facts said VMware.
	VMware bool
	// Mirror is the install of tce-install-list (VMware only).
	Mirror Report
	// Modules are the kmod-install-list modules loaded, ModuleFailures
	// those that were not (VMware only).
	Modules        []string
	ModuleFailures []Failure
}

// Facts returns the facts the report adds to the node's: mk_ext_failed
// and mk_kmod_failed, when something failed.
func (r *BootReport) Facts() map[string]string {
	out := map[string]string{}
	if r == nil {
		return out
	}
	failed := append(r.Builtin.FailedNames(), r.Mirror.FailedNames()...)
	if len(failed) > 0 {
		out[FactFailed] = strings.Join(slices.Compact(failed), ",")
		var why []string
		seen := map[string]bool{}
		for _, f := range append(slices.Clone(r.Builtin.Failed), r.Mirror.Failed...) {
			if seen[f.Name] {
				continue
			}
			seen[f.Name] = true
			reason := "failed"
			if f.Err != nil {
				reason = tcz.Truncate(f.Err.Error(), 200)
			}
			why = append(why, f.Name+": "+reason)
		}
		out[FactFailedWhy] = strings.Join(why, "; ")
	}
	var mods []string
	for _, f := range r.ModuleFailures {
		mods = append(mods, f.Name)
	}
	if len(mods) > 0 {
		out[FactKmodFailed] = strings.Join(mods, ",")
	}
	return out
}

// IsVMware reports whether facts describe a VMware virtual machine: the
// SMBIOS manufacturer "VMware, Inc.", a product name starting "VMware"
// ("VMware Virtual Platform", "VMware7,1"), or virtual=vmware.
func IsVMware(facts map[string]string) bool {
	return facts["manufacturer"] == "VMware, Inc." ||
		strings.HasPrefix(facts["productname"], "VMware") ||
		facts["virtual"] == "vmware"
}

func (c *BootOptions) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Installer == nil {
		c.Installer = &Installer{Logger: c.Logger, Output: os.Stdout}
	}
	if c.Installer.Mounter == nil {
		c.Installer.Mounter = &LoopMounter{Prepare: func() error {
			_, failed := loadModuleFiles(context.Background(), []string{"loop", "squashfs"}, c.Installer.kernel(), c.Logger)
			if len(failed) > 0 {
				return failed[0].Err
			}
			return nil
		}}
	}
	c.Onboot = cmpOr(c.Onboot, DefaultOnboot)
	c.Optional = cmpOr(c.Optional, DefaultOptional)
	c.MirrorDir = cmpOr(c.MirrorDir, DefaultMirrorDir)
	c.DownloadDir = cmpOr(c.DownloadDir, DefaultDownloadDir)
	c.MirrorURI = strings.TrimSuffix(cmpOr(c.MirrorURI, DefaultMirrorURI), "/")
	c.TCEInstallListURI = cmpOr(c.TCEInstallListURI, c.MirrorURI+"/tce-install-list")
	c.KmodInstallListURI = cmpOr(c.KmodInstallListURI, c.MirrorURI+"/kmod-install-list")
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
			Proxy: nil, DialContext: loopbackDialer, ResponseHeaderTimeout: 30 * time.Second,
		}}
	}
	if c.ListWait <= 0 {
		c.ListWait = 15 * time.Second
	}
	if c.LoadModules == nil {
		c.LoadModules = func(ctx context.Context, entries []string) ([]string, []Failure) {
			return loadModuleFiles(ctx, entries, c.Installer.kernel(), c.Logger)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Boot installs the built-in extensions of onboot.lst (those Tiny Core
// already loaded are skipped), then, on VMware only, the extensions of
// tce-install-list from the mirror and the modules of kmod-install-list.
// Failures are in the report, never fatal.
func Boot(ctx context.Context, cfg BootOptions) *BootReport {
	cfg.defaults()
	log := cfg.Logger
	rep := &BootReport{}
	if data, err := readLimited(cfg.Onboot, 1<<20); err == nil {
		names, bad := ParseList(data)
		for _, b := range bad {
			rep.Builtin.Failed = append(rep.Builtin.Failed, Failure{Name: b, Err: fmt.Errorf("%w in %s", ErrBadName, cfg.Onboot)})
		}
		if len(names) > 0 {
			log.Info("installing built-in extensions", "list", cfg.Onboot, "count", len(names))
			rep.Builtin.Merge(cfg.Installer.Install(ctx, DirSource{Dir: cfg.Optional}, names))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		log.Error("built-in extension list", "list", cfg.Onboot, "err", err)
	}

	var facts map[string]string
	if cfg.Facts != nil {
		facts = cfg.Facts(ctx)
	}
	if rep.VMware = IsVMware(facts); !rep.VMware {
		log.Info("not a VMware virtual machine: mirror-only extensions and modules not installed",
			"manufacturer", facts["manufacturer"], "productname", facts["productname"], "virtual", facts["virtual"])
		return rep
	}
	log.Info("VMware virtual machine: installing tce-install-list from the mirror", "mirror", cfg.MirrorURI)
	names, err := cfg.fetchList(ctx, cfg.TCEInstallListURI)
	if err != nil {
		log.Error("tce-install-list", "err", err)
		rep.Mirror.Failed = append(rep.Mirror.Failed, Failure{Name: "tce-install-list", Err: err})
	} else if len(names) > 0 {
		repo := cfg.Repo
		if repo == "" {
			repo = detectRepo(cfg.MirrorDir)
		}
		if repo == "" {
			err := errors.New("tce: cannot tell the mirror's <major>.x/<build>: no tree under " + cfg.MirrorDir + ", no /etc/os-release VERSION_ID and no /usr/share/doc/tc/release.txt")
			for _, n := range names {
				rep.Mirror.Failed = append(rep.Mirror.Failed, Failure{Name: n, Err: err})
			}
		} else {
			src := &MirrorSource{URL: cfg.MirrorURI + "/" + repo + "/tcz", Dir: cfg.DownloadDir, Client: cfg.Client}
			rep.Mirror = cfg.Installer.Install(ctx, src, names)
		}
	}
	mods, err := cfg.fetchList(ctx, cfg.KmodInstallListURI)
	if err != nil {
		log.Error("kmod-install-list", "err", err)
		rep.ModuleFailures = append(rep.ModuleFailures, Failure{Name: "kmod-install-list", Err: err})
	} else if len(mods) > 0 {
		rep.Modules, rep.ModuleFailures = cfg.LoadModules(ctx, mods)
		log.Info("kmod-install-list loaded", "loaded", rep.Modules, "failed", len(rep.ModuleFailures))
	}
	return rep
}

// fetchList gets an install list, retrying while the local mirror
// starts. A JSON array, or one name a line.
func (c *BootOptions) fetchList(ctx context.Context, uri string) ([]string, error) {
	deadline := time.Now().Add(c.ListWait)
	var last error
	for attempt := 0; ; attempt++ {
		data, err := c.get(ctx, uri)
		if err == nil {
			return parseInstallList(data)
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, last
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
}

func (c *BootOptions) get(ctx context.Context, uri string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", uri, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", uri)
	}
	return data, nil
}

// parseInstallList reads a JSON array of names, or a list as ParseList
// does; entries are kept as given (module paths, extension names).
func parseInstallList(data []byte) ([]string, error) {
	var arr []string
	if err := json.Unmarshal(data, &arr); err == nil {
		out := arr[:0]
		for _, s := range arr {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "- "))
		if s == "" || strings.HasPrefix(s, "#") || s == "---" || s == "[]" {
			continue
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// detectRepo finds <major>.x/<build> under the image's mirror tree, else
// as Tiny Core's getMirror does: the release's major (releaseVersion) and
// uname -m.
func detectRepo(mirrorDir string) string {
	m, _ := filepath.Glob(filepath.Join(mirrorDir, "*.x", "*", "tcz"))
	if len(m) == 1 {
		rel, err := filepath.Rel(mirrorDir, filepath.Dir(m[0]))
		if err == nil {
			return filepath.ToSlash(rel)
		}
	}
	major, _, _ := strings.Cut(releaseVersion("/"), ".")
	if major == "" || strings.Trim(major, "0123456789") != "" {
		return ""
	}
	build := map[string]string{"x86_64": "x86_64", "i686": "x86", "i586": "x86", "i486": "x86", "aarch64": "aarch64", "armv7l": "armv7", "armv6l": "armv6"}[machine()]
	if build == "" {
		build = "x86"
	}
	if build == "x86_64" {
		if _, err := os.Stat("/lib/ld-linux-x86-64.so.2"); err != nil {
			build = "x86" // Core64: a 64-bit kernel with the 32-bit userland
		}
	}
	return major + ".x/" + build
}

// releaseVersion returns the Tiny Core release under root: VERSION_ID of
// /etc/os-release (Tiny Core 5 and later), else the first line of
// /usr/share/doc/tc/release.txt (4.x has no os-release); "" when neither.
func releaseVersion(root string) string {
	if data, err := readLimited(filepath.Join(root, "etc/os-release"), 64<<10); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "VERSION_ID="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	if data, err := readLimited(filepath.Join(root, "usr/share/doc/tc/release.txt"), 64<<10); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimSpace(line)
	}
	return ""
}

// loadModuleFiles loads kmod-install-list entries (module names, or
// paths below the modules directory as Hanlon listed them) for kernel
// release rel: through modules.dep with dependencies when the index has
// them, else the one file of that name under /lib/modules/<rel> or
// /usr/local/lib/modules/<rel> (an entry matching none or several files
// is skipped, as the original did).
func loadModuleFiles(_ context.Context, entries []string, rel string, log *slog.Logger) ([]string, []Failure) {
	var loaded []string
	var failed []Failure
	dirs := []string{filepath.Join("/lib/modules", rel), filepath.Join("/usr/local/lib/modules", rel)}
	var inKernel []string
	if f, err := os.Open("/proc/modules"); err == nil {
		inKernel, _ = modprobe.ReadProcModules(f)
		f.Close()
	}
	prober, perr := modprobe.NewProber(modprobe.Options{Dir: dirs[0], Loaded: inKernel, Logger: log})
	for _, e := range entries {
		name := kmod.Name(e)
		if slices.Contains(inKernel, name) {
			loaded = append(loaded, name)
			continue
		}
		if perr == nil {
			if _, err := prober.Probe(name, ""); err == nil {
				loaded = append(loaded, name)
				continue
			} else if !errors.Is(err, modprobe.ErrUnknownModule) {
				failed = append(failed, Failure{Name: name, Err: err})
				continue
			}
		}
		files := findModule(dirs, e, name)
		switch len(files) {
		case 0:
			failed = append(failed, Failure{Name: name, Err: fmt.Errorf("tce: module %s not found under %s", name, strings.Join(dirs, ", "))})
		case 1:
			if err := modprobe.LoadFile(files[0], ""); err != nil {
				failed = append(failed, Failure{Name: name, Err: err})
			} else {
				loaded = append(loaded, name)
			}
		default:
			failed = append(failed, Failure{Name: name, Err: fmt.Errorf("tce: module %s is ambiguous: %s", name, strings.Join(files, ", "))})
		}
	}
	return loaded, failed
}

// findModule returns the files of module name: the entry's own path when
// it names one, else every <name>.ko[.gz|.xz|.zst] below dirs (bounded).
func findModule(dirs []string, entry, name string) []string {
	var out []string
	if strings.Contains(entry, "/") {
		for _, d := range dirs {
			for _, p := range []string{filepath.Join(d, entry), filepath.Join(d, "kernel", entry)} {
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					return []string{p}
				}
			}
		}
	}
	seen := 0
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if seen++; seen > 200000 {
				return filepath.SkipAll
			}
			if !de.IsDir() && kmod.Name(de.Name()) == name && strings.Contains(de.Name(), ".ko") {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
			return nil
		})
	}
	return out
}

// loopbackDialer dials "localhost" as 127.0.0.1 without a resolver: the
// microkernel may have no /etc/hosts, and localhost is loopback anyway
// (RFC 6761 §6.3). Other hosts are dialled as usual.
func loopbackDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(host, "localhost") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, network, addr)
}
