package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func artefact(t *testing.T, dir, name, content string) Artefact {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, size, err := HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return Artefact{Path: name, Size: size, SHA256: sum}
}

func TestVerifyLoaders(t *testing.T) {
	dir := t.TempDir()
	m := &Manifest{
		Schema: SchemaVersion,
		Kernel: artefact(t, dir, "vmlinuz", "kernel"),
		Initrd: artefact(t, dir, "initrd", "initrd"),
	}
	if m.SignedChain() {
		t.Fatal("SignedChain() = true without loaders")
	}
	m.Loaders = []Loader{
		{Role: LoaderShim, Artefact: artefact(t, dir, "shimx64.efi", "shim")},
		{Role: LoaderGRUB, Artefact: artefact(t, dir, "grubx64.efi", "grub")},
	}
	if !m.SignedChain() {
		t.Fatal("SignedChain() = false with shim and grub")
	}
	if a, ok := m.Loader(LoaderGRUB); !ok || a.Path != "grubx64.efi" {
		t.Fatalf("Loader(grub) = %+v, %v", a, ok)
	}
	if err := m.Verify(dir); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	// A changed loader is caught like a changed kernel.
	if err := os.WriteFile(filepath.Join(dir, "grubx64.efi"), []byte("evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(dir); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify after tampering = %v, want ErrMismatch", err)
	}
	// A loader path leaving the directory is refused.
	m.Loaders[1].Path = "../grubx64.efi"
	if err := m.Verify(dir); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify with ../ path = %v, want ErrMismatch", err)
	}
}
