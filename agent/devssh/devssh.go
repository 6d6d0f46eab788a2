//go:build dev

// Package devssh is the dev variant's SSH server: it gives the holders of
// the image's authorized keys a busybox shell (with a PTY) or runs their
// commands (`ssh node cmd`). Its host key is generated at boot.
//
// Every file of this package carries the `dev` build tag, and only
// dev-tagged files import it, so a prod agent contains no SSH code.
package devssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults for Server's fields.
const (
	DefaultAddr           = ":22"
	DefaultHostKey        = "/run/razor/ssh_host_ed25519_key"
	DefaultAuthorizedKeys = "/etc/razor/authorized_keys"
	DefaultShell          = "/bin/sh"
)

// ErrNoAuthorizedKeys means the authorized keys file holds no key, so
// nobody could log in.
var ErrNoAuthorizedKeys = errors.New("devssh: no authorized keys")

// Server is an SSH server for dev images. The zero value serves
// DefaultAddr with the Default* files.
type Server struct {
	Addr           string
	HostKey        string // generated (ed25519) if missing
	AuthorizedKeys string // OpenSSH authorized_keys format
	Shell          string
	// Env is the environment of shells and commands; nil means a root
	// login's PATH, HOME, USER and SHELL.
	Env    []string
	Logger *slog.Logger
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// ListenAndServe listens on Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devssh: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	signer, err := LoadOrCreateHostKey(cmpOr(s.HostKey, DefaultHostKey))
	if err != nil {
		return err
	}
	keysPath := cmpOr(s.AuthorizedKeys, DefaultAuthorizedKeys)
	if keys, err := ReadAuthorizedKeys(keysPath); err != nil || len(keys) == 0 {
		s.log().Warn("ssh: nobody can log in", "authorized_keys", keysPath, "err", err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			// Re-read on each attempt, so that a key added at run time
			// works and a removed one stops working.
			keys, err := ReadAuthorizedKeys(keysPath)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return &ssh.Permissions{Extensions: map[string]string{"fp": ssh.FingerprintSHA256(key)}}, nil
				}
			}
			return nil, fmt.Errorf("devssh: key %s not authorized", ssh.FingerprintSHA256(key))
		},
		MaxAuthTries: 6,
	}
	cfg.AddHostKey(signer)
	s.log().Info("ssh server listening", "addr", ln.Addr().String(), "host_key", ssh.FingerprintSHA256(signer.PublicKey()))

	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("devssh: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handleConn(ctx, c, cfg)
		}()
	}
}

func (s *Server) handleConn(ctx context.Context, c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		s.log().Info("ssh handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s.log().Info("ssh login", "remote", conn.RemoteAddr().String(), "user", conn.User(), "key", conn.Permissions.Extensions["fp"])
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ch, creqs)
		}()
	}
	wg.Wait()
}

// LoadOrCreateHostKey reads an OpenSSH private key from path, or
// generates an ed25519 key and writes it there (mode 0600).
func LoadOrCreateHostKey(path string) (ssh.Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("devssh: host key %s: %w", path, err)
		}
		return signer, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("devssh: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devssh: generating host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "mk-agent host key")
	if err != nil {
		return nil, fmt.Errorf("devssh: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("devssh: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("devssh: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

// ReadAuthorizedKeys parses an authorized_keys file. Lines that are not
// keys are an error naming the line.
func ReadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devssh: %w", err)
	}
	return ParseAuthorizedKeys(b)
}

// ParseAuthorizedKeys parses the contents of an authorized_keys file;
// blank lines and '#' comments are skipped.
func ParseAuthorizedKeys(b []byte) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for n, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("devssh: authorized keys line %d: %w", n+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, ErrNoAuthorizedKeys
	}
	return keys, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
