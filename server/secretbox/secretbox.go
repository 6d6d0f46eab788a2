// Package secretbox seals the small secrets the server must be able to
// read back — BMC passwords — before they reach a store, with AES-256-GCM
// under a key kept in a file beside the database (the data directory),
// not in it: a copy of the database alone reveals no password.
//
// A sealed secret is version (1 byte, 1) | key id (4 bytes: the first
// bytes of the key's SHA-256) | nonce (12 bytes, random) | ciphertext and
// tag. The caller's context string (e.g. the credential's scope) is the
// additional authenticated data, so a sealed secret moved to another
// record does not open. The key id tells a wrong key file apart from
// damaged data in the error.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Errors; callers use errors.Is.
var (
	// ErrWrongKey: the secret was sealed under another key than the key
	// file holds (the key file was replaced, or belongs to another
	// server).
	ErrWrongKey = errors.New("secretbox: sealed with a different key")
	// ErrCorrupt: the sealed bytes are not a sealed secret, or fail
	// authentication (damaged, or moved to another record).
	ErrCorrupt = errors.New("secretbox: sealed secret damaged or not for this record")
	// ErrNoKey: the key file does not exist, so nothing sealed can be
	// opened.
	ErrNoKey = errors.New("secretbox: key file missing")
)

const (
	version   = 1
	keyIDLen  = 4
	nonceLen  = 12
	headerLen = 1 + keyIDLen + nonceLen
	// KeySize is the key length in bytes (AES-256).
	KeySize = 32
)

// Box seals and opens secrets with one key.
type Box struct {
	aead  cipher.AEAD
	keyID [keyIDLen]byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key has %d bytes, want %d", len(key), KeySize)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	b := &Box{aead: aead}
	sum := sha256.Sum256(key)
	copy(b.keyID[:], sum[:])
	return b, nil
}

// KeyID is the key's short identity (hex), safe to log.
func (b *Box) KeyID() string { return hex.EncodeToString(b.keyID[:]) }

// Seal encrypts plaintext bound to context.
func (b *Box) Seal(plaintext, context string) ([]byte, error) {
	out := make([]byte, headerLen, headerLen+len(plaintext)+b.aead.Overhead())
	out[0] = version
	copy(out[1:], b.keyID[:])
	if _, err := rand.Read(out[1+keyIDLen : headerLen]); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(out, out[1+keyIDLen:headerLen], []byte(plaintext), []byte(context)), nil
}

// Open decrypts what Seal returned for the same context: ErrWrongKey when
// another key sealed it, ErrCorrupt when it is damaged or the context
// differs.
func (b *Box) Open(sealed []byte, context string) (string, error) {
	if len(sealed) < headerLen+b.aead.Overhead() || sealed[0] != version {
		return "", fmt.Errorf("%w (%d bytes, not a version %d sealed secret)", ErrCorrupt, len(sealed), version)
	}
	if !bytes.Equal(sealed[1:1+keyIDLen], b.keyID[:]) {
		return "", fmt.Errorf("%w: sealed under key %x, the key file holds key %s", ErrWrongKey, sealed[1:1+keyIDLen], b.KeyID())
	}
	pt, err := b.aead.Open(nil, sealed[1+keyIDLen:headerLen], sealed[headerLen:], []byte(context))
	if err != nil {
		return "", ErrCorrupt
	}
	return string(pt), nil
}

// File is a Box whose key lives in a file, read on first use and created
// (32 random bytes, hex, mode 0600) by the first Seal when missing. A key
// file that group or others may access is refused. The zero value is
// unusable; set Path. Safe for concurrent use.
type File struct {
	Path string

	mu  sync.Mutex
	box *Box
}

// load returns the Box, creating the key file when create is set.
func (f *File) load(create bool) (*Box, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.box != nil {
		return f.box, nil
	}
	if st, err := os.Stat(f.Path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secretbox: key file %s is open to other users (mode %#o): chmod 600 it", f.Path, st.Mode().Perm())
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("%w: %s", ErrNoKey, f.Path)
		}
		b, err = f.create()
	}
	if err != nil {
		return nil, fmt.Errorf("secretbox: key file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key file %s: want %d hex digits", f.Path, 2*KeySize)
	}
	box, err := New(key)
	if err != nil {
		return nil, err
	}
	f.box = box
	return box, nil
}

// create writes a new key file; O_EXCL so that two processes sharing the
// directory do not each write a key (the loser reads the winner's).
func (f *File) create() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	text := []byte(hex.EncodeToString(key) + "\n")
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".secret-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(text)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// CreateTemp made it 0600; a hard link publishes it whole, and fails
	// when another process was first.
	if err := os.Link(tmp.Name(), f.Path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(f.Path)
		}
		return nil, err
	}
	return text, nil
}

// Seal implements Box.Seal, creating the key file on first use.
func (f *File) Seal(plaintext, context string) ([]byte, error) {
	b, err := f.load(true)
	if err != nil {
		return nil, err
	}
	return b.Seal(plaintext, context)
}

// Open implements Box.Open; ErrNoKey when the key file does not exist.
func (f *File) Open(sealed []byte, context string) (string, error) {
	b, err := f.load(false)
	if err != nil {
		return "", err
	}
	return b.Open(sealed, context)
}
