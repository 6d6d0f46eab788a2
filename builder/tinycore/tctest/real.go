package tctest

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrNoRealRelease is returned by RealRelease when the real Tiny Core
// release is not beside the checkout.
var ErrNoRealRelease = errors.New("tctest: the real Tiny Core release (../shared/tinycore-real beside the checkout) is absent")

// The real Tiny Core 4.4 x86 release the tests use (see its README):
// its major, build and kernel.
const (
	RealMajor         = "4"
	RealVersion       = "4.4"
	RealBuild         = "x86"
	RealKernelVersion = "3.0.21-tinycore"
)

// RealRelease returns the directory of the real Tiny Core release,
// ../shared/tinycore-real relative to the module root that holds the
// working directory (a checkout's parent, as on CI).
func RealRelease() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "tinycore-real")
			if fi, err := os.Stat(filepath.Join(p, "kttc", "vmlinuz")); err != nil || !fi.Mode().IsRegular() {
				return "", fmt.Errorf("%w: no %s", ErrNoRealRelease, filepath.Join(p, "kttc", "vmlinuz"))
			}
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w: no go.mod above %s", ErrNoRealRelease, wd)
		}
	}
}

// RealMirror lays the real release out under dir as Tiny Core's mirror
// has it (copies, so that the mirror never links outside dir):
// <dir>/4.x/x86/release/distribution_files/{vmlinuz,core.gz} each with
// the .md5.txt the real mirror has beside it, and <dir>/4.x/x86/tcz/ with
// every extension and its sidecars as published. The fixture's
// Extensions map is empty: the extensions are the real ones.
func RealMirror(dir string) (*Fixture, error) {
	src, err := RealRelease()
	if err != nil {
		return nil, err
	}
	f := &Fixture{Dir: dir, Major: RealMajor, Version: RealVersion, Build: RealBuild, KernelVersion: RealKernelVersion,
		Repo: RealMajor + ".x/" + RealBuild, Extensions: map[string]Ext{}, Kernel: "vmlinuz", Core: "core.gz"}
	rel, tczDir := f.ReleaseDir(), f.TCZDir()
	for _, d := range []string{rel, tczDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct{ from, to string }{
		{filepath.Join(src, "kttc", "vmlinuz"), filepath.Join(rel, "vmlinuz")},
		{filepath.Join(src, "imagescripts", "core.gz"), filepath.Join(rel, "core.gz")},
	} {
		sum, err := copyFile(c.from, c.to)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(c.to+".md5.txt", []byte(sum+"  "+filepath.Base(c.to)+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(filepath.Join(src, "kttc", "tce", "optional"))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if _, err := copyFile(filepath.Join(src, "kttc", "tce", "optional", e.Name()), filepath.Join(tczDir, e.Name())); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// copyFile copies a file and returns its md5.
func copyFile(from, to string) (string, error) {
	in, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	h := md5.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", fmt.Errorf("tctest: copying %s: %w", from, err)
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
