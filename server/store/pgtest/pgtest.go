// Package pgtest runs throwaway PostgreSQL servers for tests and
// benchmarks: Debian's server binaries (/usr/lib/postgresql/*/bin), a
// cluster made with initdb in a temporary directory, the postmaster on a
// free loopback port with its Unix socket in that directory, stopped and
// removed afterwards.
//
// As root, PostgreSQL refuses to run, so the cluster belongs to the
// "postgres" user (or "nobody") and the programs run under that user's
// credentials. The postmaster gets SIGQUIT (immediate shutdown) if the
// process that started it dies, so a killed test leaves no server behind.
//
// Tests use Shared (one server per test process, stopped by Main) or New
// (a server of their own, for tests that restart it), and NewDatabase for
// a fresh, empty database on the shared server. Both skip the test, with
// the reason, where PostgreSQL is not installed.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled: no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server not installed (Debian: apt-get install postgresql)")

// Superuser is the cluster's superuser role; it connects without a
// password (trust authentication, loopback and the socket only).
const Superuser = "postgres"

// Options tune Start. The zero value suits tests.
type Options struct {
	// Durable keeps fsync and full-page writes on, as a production
	// server runs. By default they are off, which is much faster and
	// still loses no committed transaction when only the server process
	// dies (Kill): commits always wait for their WAL write.
	Durable bool
	// MaxConnections is max_connections; default 300.
	MaxConnections int
	// Settings are more -c name=value settings.
	Settings map[string]string
}

// Server is a running (or stopped) PostgreSQL cluster.
type Server struct {
	bin  string // directory of initdb and postgres
	dir  string // temporary directory: data/, the socket, postgres.log
	port int
	cred *syscall.Credential
	opts Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	dbs  atomic.Int64
}

// BinDir returns the directory holding the newest installed
// PostgreSQL's initdb and postgres, or ErrNotInstalled.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// credential returns the unprivileged user to run PostgreSQL as when
// this process is root; nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pgtest: running as root and found neither a postgres nor a nobody user to run PostgreSQL as")
}

// Start creates a cluster in a new temporary directory and starts it.
// Close stops it and removes the directory.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 300
	}
	dir, err := os.MkdirTemp(tempBase(cred), "razor-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{bin: bin, dir: dir, cred: cred, opts: o}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	initdb := s.command(ctx, filepath.Join(bin, "initdb"), "-D", s.DataDir(), "-U", Superuser,
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.Start(ctx)
		if err == nil {
			break
		}
		// Another process may have taken the port in between.
		if attempt == 2 || !strings.Contains(s.Log(), "could not bind") {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// tempBase is where the cluster's directory goes: the temporary
// directory, unless the unprivileged user could not reach it (a TMPDIR
// under /root), then /tmp.
func tempBase(cred *syscall.Credential) string {
	base := os.TempDir()
	if cred == nil {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// SocketDir is the directory of the server's Unix socket.
func (s *Server) SocketDir() string { return s.dir }

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return string(b)
}

// URL returns the URL of database db on the server, as the superuser over
// TCP.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(Superuser), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Running reports whether the postmaster is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Start starts the stopped server on its port and waits until it accepts
// connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	fsync := "off"
	if s.opts.Durable {
		fsync = "on"
	}
	settings := map[string]string{
		"port":                    strconv.Itoa(s.port),
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": s.dir,
		"max_connections":         strconv.Itoa(s.opts.MaxConnections),
		"fsync":                   fsync,
		"synchronous_commit":      "on",
		"full_page_writes":        fsync,
		"logging_collector":       "off",
		"log_min_messages":        "warning",
		"shared_buffers":          "64MB",
		"TimeZone":                "UTC",
	}
	for k, v := range s.opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", s.DataDir()}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: log: %w", err)
	}
	defer logf.Close()
	// Not CommandContext: the server outlives the context that starts it.
	cmd := s.command(context.Background(), filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, err := pgconn.Connect(wctx, s.URL("postgres")+"&connect_timeout=5")
		if err == nil {
			c.Close(wctx)
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("pgtest: postgres exited at start: %w\n%s", err, tail(s.Log(), 20))
		case <-wctx.Done():
			s.stopLocked(syscall.SIGQUIT)
			return fmt.Errorf("pgtest: postgres not ready: %w\n%s", err, tail(s.Log(), 20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop shuts the server down (fast shutdown: clients are disconnected,
// committed work is kept) and waits for it to exit.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(syscall.SIGINT)
}

// Kill stops the server the way a crash would (immediate shutdown: no
// checkpoint; the next start recovers from the WAL).
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(syscall.SIGQUIT)
}

func (s *Server) stopLocked(sig syscall.Signal) error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// Restart stops the server (fast shutdown) and starts it again on the
// same port.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	s.Kill()
	return os.RemoveAll(s.dir)
}

// CreateDatabase creates a new, empty database with a unique name and
// returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("razor_%d_%d", os.Getpid(), s.dbs.Add(1))
	c, err := pgconn.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	// FILE_COPY (PostgreSQL 15) copies the small template in a fraction
	// of the time WAL_LOG takes; older servers know only that way.
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY").ReadAll(); err != nil {
		if _, err := c.Exec(ctx, "CREATE DATABASE "+name).ReadAll(); err != nil {
			return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
		}
	}
	return s.URL(name), nil
}

// Exec runs SQL statements on database db as the superuser.
func (s *Server) Exec(ctx context.Context, db, sql string) error {
	c, err := pgconn.Connect(ctx, s.URL(db))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// shared is the server of this test process.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns this test process's server, starting it on first use.
// It skips t where PostgreSQL is not installed. The package's TestMain
// must call Main, which stops the server when the tests are done.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = Start(context.Background(), Options{})
	}
	if errors.Is(shared.err, ErrNotInstalled) {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// Main runs the tests of a package that uses Shared and stops the shared
// server afterwards. Use it as:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	// A TestMain that returns passes m.Run's result to os.Exit.
	m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		shared.srv.Close()
		shared.srv = nil
	}
	shared.mu.Unlock()
}

// NewDatabase returns the URL of a fresh, empty database on the shared
// server.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	u, err := s.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// New starts a server of t's own (for tests that stop or restart it),
// closed when t ends. It skips t where PostgreSQL is not installed.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), o)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log (last lines):\n%s", tail(s.Log(), 30))
		}
		s.Close()
	})
	return s
}
