// Package tftp is razor-netboot's read-only TFTP server (RFC 1350, with
// the blksize and tsize options of RFC 2348/2349), built on
// github.com/pin/tftp/v3. It serves the iPXE binaries, and images for
// clients that cannot do HTTP, from one directory and nothing outside it:
// request paths are sanitised (CleanPath) and opened through os.Root, so
// "..", absolute paths and symlinks that leave the root are refused and
// logged. Write requests are refused.
package tftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"strings"
	"time"

	ptftp "github.com/pin/tftp/v3"
)

// Errors; callers use errors.Is.
var (
	// ErrBadPath: the requested name is not a plain relative path inside
	// the root.
	ErrBadPath = errors.New("tftp: bad path")
	// ErrNotRegular: the name is a directory, device or other
	// non-regular file.
	ErrNotRegular = errors.New("tftp: not a regular file")
)

// maxName bounds the requested file name.
const maxName = 1024

// CleanPath turns a requested file name into a path relative to the
// root: backslashes count as separators (some PXE ROMs send them), "."
// elements and doubled slashes are dropped, and anything else that is not
// a plain downward path (absolute, "..", NUL, empty, too long) is refused
// with ErrBadPath.
func CleanPath(name string) (string, error) {
	if name == "" || len(name) > maxName {
		return "", fmt.Errorf("%w: %q: empty or longer than %d bytes", ErrBadPath, trunc(name), maxName)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q: contains NUL", ErrBadPath, trunc(name))
	}
	p := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %q: absolute path", ErrBadPath, trunc(name))
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q: parent directory", ErrBadPath, trunc(name))
		}
	}
	p = path.Clean(p)
	if !fs.ValidPath(p) || p == "." {
		return "", fmt.Errorf("%w: %q: not a file path", ErrBadPath, trunc(name))
	}
	return p, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Config configures a Server.
type Config struct {
	// Root is the directory served (required).
	Root string
	// Timeout per block, default 2 s; Retries per block, default 5.
	Timeout time.Duration
	Retries int
}

// Server serves files from its root.
type Server struct {
	root *os.Root
	log  *slog.Logger
	srv  *ptftp.Server
}

// New opens the root; log may be nil (discard).
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("tftp: Root: required")
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("tftp: open root: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{root: root, log: log.With("component", "tftp")}
	s.srv = ptftp.NewServer(s.read, nil)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	s.srv.SetTimeout(cfg.Timeout)
	s.srv.SetRetries(cfg.Retries)
	s.srv.SetHook(hook{s.log})
	return s, nil
}

// Open opens a requested name inside the root, refusing bad paths,
// escaping symlinks and non-regular files. It returns the file and its
// size.
func (s *Server) Open(name string) (*os.File, int64, error) {
	p, err := CleanPath(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.root.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("tftp: open %q: %w", p, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("tftp: stat %q: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %q", ErrNotRegular, p)
	}
	return f, st.Size(), nil
}

// read is the pin/tftp read handler.
func (s *Server) read(name string, rf io.ReaderFrom) error {
	var peer string
	if ot, ok := rf.(ptftp.OutgoingTransfer); ok {
		a := ot.RemoteAddr()
		peer = a.String()
	}
	f, size, err := s.Open(name)
	if err != nil {
		// Refused traversal attempts are worth a warning; a missing file
		// is ordinary.
		lvl := slog.LevelInfo
		if errors.Is(err, ErrBadPath) || errors.Is(err, ErrNotRegular) || strings.Contains(err.Error(), "escapes") {
			lvl = slog.LevelWarn
		}
		s.log.Log(context.Background(), lvl, "tftp: request refused", "event", "tftp-refused", "peer", peer, "file", name, "err", err)
		return err
	}
	defer f.Close()
	if ot, ok := rf.(ptftp.OutgoingTransfer); ok {
		ot.SetSize(size)
	}
	s.log.Debug("tftp: sending", "peer", peer, "file", name, "size", size)
	// One read of the file per 64 KiB rather than per block: a 512-byte
	// block is otherwise a read system call each.
	if _, err := rf.ReadFrom(bufio.NewReaderSize(f, 64<<10)); err != nil {
		return fmt.Errorf("tftp: send %q: %w", name, err)
	}
	return nil
}

type hook struct{ log *slog.Logger }

func (h hook) OnSuccess(st ptftp.TransferStats) {
	h.log.Info("tftp: file sent", "event", "tftp-sent", "ip", st.RemoteAddr, "file", st.Filename,
		"duration", st.Duration, "blocks", st.DatagramsSent)
}

func (h hook) OnFailure(st ptftp.TransferStats, err error) {
	h.log.Info("tftp: transfer failed", "event", "tftp-failed", "ip", st.RemoteAddr, "file", st.Filename, "err", err)
}

// Serve serves on an open UDP socket until ctx is done, then waits for
// running transfers and returns nil.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, s.srv.Shutdown)
	defer stop()
	err := s.srv.Serve(conn)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tftp: serve: %w", err)
	}
	return nil
}

// ListenAndServe binds addr (":69" by default) and serves until ctx is
// done.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":69"
	}
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, conn)
}

// Close releases the root.
func (s *Server) Close() error { return s.root.Close() }
