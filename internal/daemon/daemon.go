// Package daemon is razor-netboot serve's composition root, the one place
// that joins the server (store, core, node and admin API) and the network
// services (DHCP, router advertisements, TFTP, the HTTP image service). It
// reads the configuration (config.go), opens the store a --store value
// names (store.go), and runs everything under one errgroup: the first
// error cancels the rest, and shutdown is graceful.
package daemon

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/razor-mk/razor-mk/internal/version"
	"github.com/razor-mk/razor-mk/netboot/httpimg"
	"github.com/razor-mk/razor-mk/netboot/netlimit"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/httpapi"
	"github.com/razor-mk/razor-mk/server/metrics"
	"github.com/razor-mk/razor-mk/server/mkimage"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/razor-mk/razor-mk/server/secretbox"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/tlscert"
	"github.com/razor-mk/razor-mk/server/webui"
	"github.com/razor-mk/razor-mk/wire"
)

// TokenFile is the admin token's file name in the data directory.
const TokenFile = "admin.token"

// TLSDir holds the certificates of tls auto, in the data directory.
const TLSDir = "tls"

// SecretKeyFile is the key (AES-256, hex) that seals BMC passwords, in
// the data directory: created, mode 0600, when the first credential is
// set. A copy of the database alone cannot reveal a password; a backup
// needs both.
const SecretKeyFile = "secret.key"

// Service is a long-running part of the daemon; it returns when ctx ends
// (nil) or it fails.
type Service func(ctx context.Context) error

// Daemon is an opened server, ready to Run.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	st       store.Store
	core     *core.Core
	handler  *httpapi.Handler
	ln       net.Listener
	srv      *http.Server
	tlsLn    net.Listener      // nil without TLS
	limit    *netlimit.Limiter // HTTP and HTTPS connections, one budget
	tlsSrv   *http.Server
	secure   string // https://IP:PORT, "" without TLS
	caPin    string // the CA's SHA-256, "" when not known
	token    string
	url      string
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	images   *mkimage.Finder
	ops      operations
	ev       *events.Recorder
	m        *metrics.Boot
}

// Open opens the store (creating the data directory), reads or creates
// the admin token, loads the core and listens on the HTTP address.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg, log: log}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	if err := d.prepare(); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	d.st = st
	if d.token, err = adminToken(cfg); err != nil {
		return nil, err
	}
	if d.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("daemon: http: %w", err)
	}
	d.limit, err = httpBudget(cfg, log)
	if err != nil {
		return nil, err
	}
	d.ln = netlimit.Listen(d.ln, d.limit, netlimit.ListenerOptions{})
	d.url = cfg.ServerURL()
	if cfg.HTTPPort() == 0 {
		if ap, err := netip.ParseAddrPort(d.ln.Addr().String()); err == nil {
			d.url = "http://" + netip.AddrPortFrom(cfg.Advertise(), ap.Port()).String()
		}
	}
	if cfg.TLSEnabled() {
		if err := d.listenTLS(cfg); err != nil {
			return nil, err
		}
	}
	d.registry = prometheus.NewRegistry()
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := metrics.New(d.registry, func() map[string]int { return d.core.NodeStates() })
	if err != nil {
		return nil, fmt.Errorf("daemon: metrics: %w", err)
	}
	d.metrics = m
	d.limit.OnRefuse = func(reason string) { m.Refused("http", reason) }
	phases := events.NewPhases(func(phase string, dur time.Duration) { d.m.Phase(phase, dur) })
	d.ev = events.New(st, events.Options{Logger: log, Retention: retention(cfg), OnRecord: phases.Observe})
	if d.m, err = metrics.NewBoot(d.registry, version.Version, version.Commit, func() float64 { return float64(d.ev.Dropped()) }); err != nil {
		return nil, fmt.Errorf("daemon: metrics: %w", err)
	}
	images := mkimage.New(cfg.ImagesDir, log)
	d.images = images
	if d.core, err = core.New(ctx, st, core.Options{
		Logger: log, Metrics: m, RegisterTimeout: cfg.RegisterTimeout, FlushInterval: cfg.FlushInterval,
		MaxWaiters: cfg.MaxWaiters, ServerURL: d.url, Images: images, KernelArgs: cfg.KernelArgs, BootRetry: cfg.BootRetry,
		CheckinSkew: &cfg.CheckinSkew, NodeToken: core.TokenMode(cfg.NodeToken), SecureURL: d.secure, CASHA256: d.caPin, Events: d.ev, CommandExpiry: cfg.CommandExpiry,
		Power:   power.NewIPMI(power.Options{Logger: log.With("svc", "power")}),
		Secrets: &secretbox.File{Path: filepath.Join(cfg.DataDir, SecretKeyFile)},
	}); err != nil {
		return nil, err
	}
	cc := wire.DefaultClientConfig()
	cc.CheckinInterval, cc.CheckinSkew, cc.CheckinWait = cfg.CheckinInterval, cfg.CheckinSkew, cfg.CheckinWait
	cc.LogLevel, cc.FactExclPattern = cfg.MKLogLevel, cfg.FactExclPattern
	ui, err := webui.New(webui.Options{Fleet: d.core, Authenticate: d.authenticateUI, Logger: log.With("svc", "ui")})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.handler = httpapi.New(httpapi.Options{
		Version: adminapi.BuildInfo{Version: version.Version, Commit: version.Commit, Go: runtime.Version()},
		Core:    d.core, Logger: log, Metrics: m, Gatherer: d.registry, AdminToken: d.token, ServerURL: d.url, SecureURL: d.secure,
		ClientConfig: cc, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, BootRetry: cfg.BootRetry,
		Images: http.StripPrefix("/images/", httpimg.New(cfg.ImagesDir, httpimg.Options{Logger: log, OnSend: d.OnHTTP, Who: d.who})),
		// UEFI HTTP boot fetches its first-stage loader over HTTP: DHCP
		// hands out <server>/ipxe/<file>, served from the iPXE directory.
		IPXE: http.StripPrefix("/ipxe/", httpimg.New(cfg.IPXEDir, httpimg.Options{Logger: log, OnSend: d.OnHTTP, Who: d.who})),
		UI:   ui,
	})
	d.srv = &http.Server{
		Handler:           d.withReadyz(d.handler),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: a connection-wide deadline would
		// cut long-poll checkins (held up to wire.MaxWait) and large image
		// downloads. Instead request bodies get their own deadline and a
		// reply that starts before its body was read closes the
		// connection (httpapi), and each write has a deadline that moves
		// with progress (netlimit).
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if d.tlsLn != nil {
		d.tlsSrv = &http.Server{
			Handler: d.withReadyz(d.handler), ReadHeaderTimeout: d.srv.ReadHeaderTimeout, IdleTimeout: d.srv.IdleTimeout,
			MaxHeaderBytes: d.srv.MaxHeaderBytes, ErrorLog: d.srv.ErrorLog,
		}
	}
	d.AddListener("http", d.ln.Addr().String())
	if d.tlsLn != nil {
		d.AddListener("https", d.tlsLn.Addr().String())
	}
	ok = true
	return d, nil
}

func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	if _, _, err := cfg.StoreKind(); err != nil {
		return nil, err
	}
	s, err := OpenStore(ctx, cfg.Store, StoreOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return s, nil
}

// adminToken returns the configured token, else the one in
// <data-dir>/admin.token, creating the file (mode 0600) on first start.
func adminToken(cfg Config) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.DataDir, TokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("daemon: %s is empty; remove it to have a new token made", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("daemon: admin token: %w", err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("daemon: admin token: %w", err)
	}
	tok := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("daemon: admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("daemon: admin token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("daemon: admin token: %w", err)
	}
	return tok, f.Close()
}

// authenticateUI signs a dashboard user in with the first admin token
// (role admin, named admin.token) or a stored admin token with its role
// and name; revoked and unknown tokens are refused.
func (d *Daemon) authenticateUI(tok string) (webui.Role, string, bool) {
	if tok == "" {
		return "", "", false
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(d.token)) == 1 {
		return webui.Admin, TokenFile, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := d.core.Authenticate(ctx, tok)
	if err != nil {
		if !errors.Is(err, core.ErrUnauthenticated) && !errors.Is(err, core.ErrRevoked) {
			d.log.Warn("ui: cannot check a token", "err", err)
		}
		return "", "", false
	}
	return webui.Role(p.Role), p.Name, true
}

// listenTLS loads or makes the certificate and listens on https_addr.
func (d *Daemon) listenTLS(cfg Config) error {
	var b tlscert.Bundle
	var err error
	if cfg.TLS == "auto" {
		hosts := []string{cfg.Advertise().String()}
		if h, err := os.Hostname(); err == nil && h != "" {
			hosts = append(hosts, h)
		}
		b, err = tlscert.Auto(filepath.Join(cfg.DataDir, TLSDir), hosts, time.Now())
	} else {
		b, err = tlscert.Load(cfg.TLSCert, cfg.TLSKey)
	}
	if err != nil {
		return fmt.Errorf("daemon: tls: %w", err)
	}
	d.caPin = b.CASHA256()
	if d.caPin == "" {
		d.log.Warn("tls: the certificate file holds no CA certificate: nodes are not told to pin one and keep speaking HTTP", "tls_cert", cfg.TLSCert)
	}
	ln, err := net.Listen("tcp", cfg.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("daemon: https: %w", err)
	}
	// One budget for HTTP and HTTPS connections together.
	d.tlsLn = tls.NewListener(netlimit.Listen(ln, d.limit, netlimit.ListenerOptions{}), &tls.Config{Certificates: []tls.Certificate{b.Certificate}, MinVersion: tls.VersionTLS12})
	port := 0
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
		port = int(ap.Port())
	}
	d.secure = "https://" + netip.AddrPortFrom(cfg.Advertise(), uint16(port)).String()
	if d.caPin != "" {
		// Printed at start so the operator can check what nodes pin.
		d.log.Info("tls: CA certificate", "ca_sha256", d.caPin, "url", d.secure)
	}
	return nil
}

// SecureURL is the server over HTTPS, "" without TLS.
func (d *Daemon) SecureURL() string { return d.secure }

// CASHA256 is the SHA-256 of the CA certificate nodes pin, "" when
// unknown.
func (d *Daemon) CASHA256() string { return d.caPin }

// Metrics are the server's collectors, for the services run beside it.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Store is the opened store; DHCP uses it as its lease store.
func (d *Daemon) Store() store.Store { return d.st }

// Addr is the HTTP listener's address.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// URL is the server as nodes reach it.
func (d *Daemon) URL() string { return d.url }

// Config is the configuration the daemon was opened with.
func (d *Daemon) Config() Config { return d.cfg }

// Run serves HTTP and runs the core and the given services until ctx ends
// or one fails; then it shuts down gracefully: held long-polls are
// answered, connections drained (up to 10 s), checkin times flushed.
func (d *Daemon) Run(ctx context.Context, services ...Service) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.core.Run(gctx) })
	g.Go(func() error { return d.ev.Run(gctx) })
	g.Go(func() error {
		d.log.Info("http: serving", "addr", d.ln.Addr().String(), "url", d.url)
		if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("daemon: http: %w", err)
		}
		return nil
	})
	if d.tlsSrv != nil {
		g.Go(func() error {
			d.log.Info("https: serving the admin and node APIs", "addr", d.tlsLn.Addr().String(), "url", d.secure, "ca_sha256", d.caPin)
			if err := d.tlsSrv.Serve(d.tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("daemon: https: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		d.stopping()
		d.core.Shutdown()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, srv := range []*http.Server{d.srv, d.tlsSrv} {
			if srv != nil && srv.Shutdown(sctx) != nil {
				srv.Close()
			}
		}
		return nil
	})
	for _, s := range services {
		g.Go(func() error { return s(gctx) })
	}
	// Every socket was bound before Run (Open, and the services' own
	// set-up), so the listeners are up now.
	d.started()
	err := g.Wait()
	d.log.Info("stopped", "err", err)
	return err
}

// Close releases the store and the listener.
func (d *Daemon) Close() error {
	var errs []error
	if d.ln != nil {
		d.ln.Close()
	}
	if d.tlsLn != nil {
		d.tlsLn.Close()
	}
	if d.core != nil {
		errs = append(errs, d.core.Flush(context.Background()))
	}
	if d.st != nil {
		errs = append(errs, d.st.Close())
	}
	for _, l := range d.ops.locks {
		l.Release()
	}
	d.ops.locks = nil
	return errors.Join(errs...)
}

// Serve is razor-netboot serve: it opens the daemon, builds the network
// services the configuration asks for (validated before anything else
// listens) and runs them all until ctx ends or one fails.
func Serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	d, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	services, err := netServices(cfg, d, d.log)
	if err != nil {
		return err
	}
	return d.Run(ctx, services...)
}
