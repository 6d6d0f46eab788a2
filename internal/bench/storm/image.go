package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/razor-mk/razor-mk/manifest"
)

// writeImage writes a synthetic microkernel image directory, vmlinuz and
// initrd of random bytes of the given sizes and a manifest.json that
// server/mkimage verifies (their sizes and sha256).
func writeImage(dir string, kernelSize, initrdSize int) error {
	if dir == "" {
		return errors.New("storm image: -dir is required")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("storm image: %w", err)
	}
	m := manifest.Manifest{Schema: manifest.SchemaVersion, Name: "storm", Version: "storm", Variant: "dev",
		Base: "debian", Arch: "amd64", KernelVersion: "0.0.0-storm", Cmdline: "quiet"}
	for _, f := range []struct {
		name string
		size int
		art  *manifest.Artefact
	}{{"vmlinuz", kernelSize, &m.Kernel}, {"initrd", initrdSize, &m.Initrd}} {
		p := filepath.Join(dir, f.name)
		if err := writeRandom(p, int64(f.size)); err != nil {
			return fmt.Errorf("storm image: %w", err)
		}
		sum, size, err := manifest.HashFile(p)
		if err != nil {
			return fmt.Errorf("storm image: %w", err)
		}
		*f.art = manifest.Artefact{Path: f.name, Size: size, SHA256: sum}
	}
	m.Sizes = manifest.Sizes{Kernel: m.Kernel.Size, Initrd: m.Initrd.Size}
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("storm image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644); err != nil {
		return fmt.Errorf("storm image: %w", err)
	}
	return nil
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
