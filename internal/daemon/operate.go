package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/razor-mk/razor-mk/internal/daemon/runlock"
	"github.com/razor-mk/razor-mk/internal/daemon/sdnotify"
	"github.com/razor-mk/razor-mk/internal/version"
)

// LockFile is the lock's file name in the data directory; an SQLite store
// is locked too, by <database>.lock beside it.
const LockFile = "razor-netboot.lock"

// Errors refusing start-up; the message says what and how to fix it.
var (
	// ErrInUse: another server holds the data directory or the store.
	ErrInUse = errors.New("daemon: already in use by another razor-netboot")
	// ErrNotWritable: the data directory cannot be written.
	ErrNotWritable = errors.New("daemon: not writable")
	// ErrNoImagesDir: the configured images directory does not exist.
	ErrNoImagesDir = errors.New("daemon: images directory does not exist")
)

// operations is the state that start-up checks, /readyz and the
// start-up summary share.
type operations struct {
	locks     []*runlock.Lock
	mu        sync.Mutex
	listeners []Listener
	serving   atomic.Bool
	stopped   atomic.Bool // shutdown began: no READY=1 after STOPPING=1
}

// Listener is a socket the daemon serves on, for /readyz and the
// start-up summary.
type Listener struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// AddListener records a bound socket (the caller binds it before Run).
func (d *Daemon) AddListener(name, addr string) {
	d.ops.mu.Lock()
	defer d.ops.mu.Unlock()
	d.ops.listeners = append(d.ops.listeners, Listener{name, addr})
}

// Listeners returns the recorded sockets.
func (d *Daemon) Listeners() []Listener {
	d.ops.mu.Lock()
	defer d.ops.mu.Unlock()
	return append([]Listener(nil), d.ops.listeners...)
}

// prepare checks and creates the directories and takes the locks before
// the store is opened: the data directory is created and must be
// writable; a configured images directory must exist (a typo must not
// turn into an empty directory nothing boots from), while the default
// <data-dir>/images is made with the data directory.
func (d *Daemon) prepare() error {
	cfg := d.cfg
	if err := makeWritableDir("data_dir", cfg.DataDir); err != nil {
		return err
	}
	holder := fmt.Sprintf("razor-netboot serve, pid %d, http %s, started %s", os.Getpid(), cfg.HTTPAddr, time.Now().UTC().Format(time.RFC3339))
	lockPaths := []string{filepath.Join(cfg.DataDir, LockFile)}
	if kind, target, err := cfg.StoreKind(); err == nil && kind == "sqlite" {
		if err := makeWritableDir("store", filepath.Dir(target)); err != nil {
			return err
		}
		lockPaths = append(lockPaths, target+".lock")
	}
	for _, p := range lockPaths {
		l, err := runlock.Acquire(p, holder)
		if errors.Is(err, runlock.ErrHeld) {
			return fmt.Errorf("%w: %v; stop that one first (systemctl stop razor-netboot), or give this one its own --data-dir and --store", ErrInUse, err)
		}
		if err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
		d.ops.locks = append(d.ops.locks, l)
	}
	def := filepath.Join(cfg.DataDir, "images")
	if filepath.Clean(cfg.ImagesDir) == def {
		return makeWritableDir("images_dir", def)
	}
	st, err := os.Stat(cfg.ImagesDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: images_dir %s; create it and build an image into it (mkbuild build images/prod.yaml --out %s/prod), or fix --images-dir / RAZOR_IMAGES_DIR", ErrNoImagesDir, cfg.ImagesDir, cfg.ImagesDir)
	case err != nil:
		return fmt.Errorf("daemon: images_dir %s: %w", cfg.ImagesDir, err)
	case !st.IsDir():
		return fmt.Errorf("%w: images_dir %s is a file, not a directory", ErrNoImagesDir, cfg.ImagesDir)
	}
	return nil
}

// makeWritableDir creates dir and proves it writable by creating and
// removing a file in it; the error says so in words, naming the user the
// server runs as, rather than letting SQLite fail later with a code.
func makeWritableDir(key, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%w: %s %s cannot be created as %s: %v; create it and give it to that user (chown), or choose another", ErrNotWritable, key, dir, whoami(), unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".razor-write-check-")
	if err != nil {
		return fmt.Errorf("%w: %s %s is not writable by %s: %v; give it to that user (chown) or choose another directory", ErrNotWritable, key, dir, whoami(), unwrapPath(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// whoami names the user the process runs as: "user razor (uid 998)".
func whoami() string {
	uid := os.Geteuid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("user %s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// Readiness is the /readyz answer.
type Readiness struct {
	Ready     bool       `json:"ready"`
	Listeners []Listener `json:"listeners"`
	// Images are the bootable (verified) images, newest first; the first
	// is the one nodes boot.
	Images []string `json:"images"`
	// Missing says what keeps the server from being ready.
	Missing []string `json:"missing,omitempty"`
}

// Readiness reports whether every listener is up and at least one
// verified bootable image exists, and what is missing if not.
func (d *Daemon) Readiness() Readiness {
	r := Readiness{Listeners: d.Listeners(), Images: []string{}}
	if !d.ops.serving.Load() {
		r.Missing = append(r.Missing, "listeners: not all serving yet")
	}
	imgs, err := d.images.Bootable()
	if err != nil {
		r.Missing = append(r.Missing, fmt.Sprintf("bootable image: %v (build one with mkbuild build … --out %s/NAME)", err, d.cfg.ImagesDir))
	}
	for _, i := range imgs {
		r.Images = append(r.Images, i.Name)
	}
	r.Ready = len(r.Missing) == 0
	return r
}

// withReadyz serves GET /readyz beside h: 200 when ready, else 503, with
// the Readiness as JSON. /healthz (in h) stays plain liveness.
func (d *Daemon) withReadyz(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := d.Readiness()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(r)
	})
	mux.Handle("/", h)
	return mux
}

// started marks the listeners up, prints the start-up summary and tells
// systemd (Type=notify) that the service is ready.
func (d *Daemon) started() {
	if d.ops.stopped.Load() {
		return
	}
	d.ops.serving.Store(true)
	r := d.Readiness()
	images := strings.Join(r.Images, ", ")
	if images == "" {
		images = "none: nodes get an error script until one is installed"
		d.log.Warn("no bootable microkernel image", "images_dir", d.cfg.ImagesDir, "missing", strings.Join(r.Missing, "; "))
	}
	var ls []string
	for _, l := range r.Listeners {
		ls = append(ls, l.Name+"="+l.Addr)
	}
	d.log.Info("razor-netboot started",
		"version", version.Version, "commit", version.Commit,
		"dhcp", d.dhcpSummary(), "listeners", strings.Join(ls, " "), "url", d.url,
		"store", redactStore(d.cfg.Store), "data_dir", d.cfg.DataDir,
		"admin_token", d.tokenSource(), "images_dir", d.cfg.ImagesDir, "bootable_images", images)
	status := fmt.Sprintf("STATUS=serving %s; bootable images: %s", strings.Join(ls, " "), images)
	if sent, err := sdnotify.Notify("READY=1\n" + status); err != nil {
		d.log.Warn("cannot tell systemd the service is ready", "err", err)
	} else if sent {
		d.log.Debug("systemd notified: ready")
	}
}

// stopping tells systemd the service is on its way down.
func (d *Daemon) stopping() {
	d.ops.stopped.Store(true)
	d.ops.serving.Store(false)
	_, _ = sdnotify.Notify("STOPPING=1")
}

func (d *Daemon) dhcpSummary() string {
	c := d.cfg
	switch c.DHCP {
	case "off":
		return "off"
	case "full":
		if len(c.DHCPSubnets) == 0 {
			return fmt.Sprintf("full on %s, range %s", c.DHCPInterface, c.DHCPRange)
		}
		var sn []string
		for _, y := range c.DHCPSubnets {
			sn = append(sn, fmt.Sprintf("%s [%s]", y.Subnet, strings.Join(y.Ranges, " ")))
		}
		return fmt.Sprintf("full on %s, subnets %s", c.DHCPInterface, strings.Join(sn, ", "))
	}
	if c.DHCPInterface != "" {
		return "proxy on " + c.DHCPInterface
	}
	return "proxy on all interfaces"
}

func (d *Daemon) tokenSource() string {
	if d.cfg.AdminToken != "" {
		return "from the configuration (admin_token / RAZOR_ADMIN_TOKEN)"
	}
	return filepath.Join(d.cfg.DataDir, TokenFile)
}

// redactStore hides a PostgreSQL URL's password.
func redactStore(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}
