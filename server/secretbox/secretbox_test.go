package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileCreatesKeyAndRoundTrips(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	f := &File{Path: path}
	if _, err := f.Open([]byte("x"), "ctx"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Open before any key = %v, want ErrNoKey", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the key file: %v", err)
	}
	sealed, err := f.Seal("hunter2", "node:n1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Errorf("sealed secret contains the plaintext")
	}
	// A fresh File (a restarted server) reads the same key.
	got, err := (&File{Path: path}).Open(sealed, "node:n1")
	if err != nil || got != "hunter2" {
		t.Errorf("Open = %q, %v; want hunter2", got, err)
	}
	// Sealing twice gives different bytes (random nonce).
	again, _ := f.Seal("hunter2", "node:n1")
	if bytes.Equal(again, sealed) {
		t.Errorf("two seals of one secret are equal")
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	f := &File{Path: filepath.Join(dir, "k")}
	sealed, err := f.Seal("pw", "node:n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(sealed, "node:n2"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(other context) = %v, want ErrCorrupt", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := f.Open(bad, "node:n1"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(flipped bit) = %v, want ErrCorrupt", err)
	}
	if _, err := f.Open(sealed[:10], "node:n1"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(truncated) = %v, want ErrCorrupt", err)
	}
	// Another server's key: the error says so, naming both key ids.
	other := &File{Path: filepath.Join(t.TempDir(), "k")}
	_, err = other.Open(sealed, "node:n1")
	if !errors.Is(err, ErrNoKey) {
		t.Errorf("Open(no key file) = %v, want ErrNoKey", err)
	}
	if _, err := other.Seal("x", "y"); err != nil {
		t.Fatal(err)
	}
	_, err = other.Open(sealed, "node:n1")
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "key file holds key") {
		t.Errorf("Open(wrong key) = %v, want ErrWrongKey naming the keys", err)
	}
}

func TestBadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := (&File{Path: path}).Seal("x", "y")
	if err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("Seal(bad key file) = %v, want an error naming the format", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "not hex\n" {
		t.Errorf("the bad key file was rewritten")
	}
	open := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(open, []byte(strings.Repeat("ab", KeySize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&File{Path: open}).Seal("x", "y"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Seal(key file mode 0644) = %v, want it refused", err)
	}
	if err := os.Chmod(open, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&File{Path: open}).Seal("x", "y"); err != nil {
		t.Errorf("Seal(key file mode 0600) = %v", err)
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Errorf("New(16-byte key) accepted")
	}
}

func FuzzOpen(f *testing.F) {
	b, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := b.Seal("secret", "ctx")
	f.Add(good, "ctx")
	f.Add([]byte{}, "")
	f.Add([]byte{1, 2, 3}, "ctx")
	f.Fuzz(func(t *testing.T, sealed []byte, ctx string) {
		pt, err := b.Open(sealed, ctx)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) {
				t.Fatalf("Open error %v is neither ErrCorrupt nor ErrWrongKey", err)
			}
			return
		}
		again, err := b.Seal(pt, ctx)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := b.Open(again, ctx); err != nil || back != pt {
			t.Fatalf("reseal round trip = %q, %v; want %q", back, err, pt)
		}
	})
}
