// Package base is the seam between the image builder and the sources of
// an image's kernel and base userland: Debian packages (builder/debian),
// a Tiny Core release, or whatever comes next. A Source yields a kernel,
// a base archive, a modules tree and the kernel version; the builder adds
// the agent, modules, firmware and /etc on top.
package base

import (
	"context"
	"io/fs"
	"log/slog"
	"os"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/manifest"
)

// Source opens a base. Implementations obtain their inputs (download,
// cache, unpack) in Open and record each input in Base.Sources.
type Source interface {
	// Kind is the spec's base: value ("debian", "tinycore").
	Kind() string
	// Open obtains the base's inputs.
	Open(ctx context.Context, env Env) (*Base, error)
}

// Env is what a Source may use.
type Env struct {
	// CacheDir is the content-addressed download and unpack cache; a
	// Source keeps its files under a subdirectory named for its kind.
	CacheDir string
	// Arch is the Debian architecture name of the image (amd64, arm64).
	Arch string
	// Logger receives details; never nil when passed by the builder.
	Logger *slog.Logger
	// Progress reports steps and bytes; never nil when passed by the builder.
	Progress Progress
}

// Base is an opened base.
type Base struct {
	// KernelVersion is the kernel's release (uname -r), the name of its
	// modules directory.
	KernelVersion string
	// Kernel is the path of the kernel image (bzImage) on disk.
	Kernel string
	// Archive is the base userland: busybox and its links, or a release's
	// root file system. The builder adds the agent (/bin/mk-agent), the
	// modules, firmware, /etc/mk-version.json and the spec's files over it.
	// What the archive already has at /init, /etc/passwd, /etc/group,
	// /etc/shadow, /etc/hostname and /etc/os-release is kept: a base with
	// its own init starts the agent and locks its passwords itself; without
	// them the builder links /init to the agent and writes a locked root.
	Archive *initramfs.Archive
	// Modules is the kernel's modules tree (the content of
	// /lib/modules/<kver>); nil when the kernel has no modules.
	Modules fs.FS
	// Firmware are trees laid out like /lib/firmware, searched in order.
	Firmware []fs.FS
	// Sources are the inputs, with their checksums, for the manifest.
	Sources []manifest.Source
	// Notes are things the manifest should say about optional inputs
	// that were not available ("firmware-bnx2: not available from apt").
	Notes []string
	// Extensions are the Tiny Core extensions the base added to Archive,
	// for the manifest ("builtin/openssh.tcz", "mirror/open-vm-tools.tcz").
	Extensions []string
	// Cmdline are kernel parameters the base needs on top of the spec's
	// (tinycore: "nozswap" for a release without zram); the builder
	// appends those the spec's command line lacks.
	Cmdline []string
	// Loaders are the signed UEFI loaders the builder writes into the
	// image directory beside the kernel (the debian base with
	// debian.secure_boot); none for other bases.
	Loaders []Loader
	// Overlay, when set, is called with the assembled initrd after the
	// builder's own entries and before the spec's files: a base with its
	// own userland (tinycore) restores what the builder replaced and adds
	// its boot hooks there.
	Overlay func(a *initramfs.Archive) error
}

// Loader is a signed boot loader file of a base.
type Loader struct {
	// Role is manifest.LoaderShim or manifest.LoaderGRUB.
	Role string
	// Name is the file's name in the image directory ("shimx64.efi").
	Name string
	// Path is the file on disk.
	Path string
	// Package and Version name the package it came from.
	Package, Version string
}

// Progress reports a long build to a person or a log.
type Progress interface {
	// Step starts a step ("download linux-image-6.1.0-56-amd64").
	Step(name string)
	// Bytes reports progress within the current step; total is 0 when
	// unknown.
	Bytes(done, total int64)
}

// Discard is a Progress that reports nothing.
var Discard Progress = discard{}

type discard struct{}

func (discard) Step(string)        {}
func (discard) Bytes(int64, int64) {}

// DirFS returns a read-only file system of the tree at dir whose opens
// stay inside dir (os.OpenInRoot): a symlink in an unpacked package that
// points elsewhere on the build host is not followed out of the tree.
func DirFS(dir string) fs.FS { return rootFS(dir) }

type rootFS string

func (r rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := os.OpenInRoot(string(r), name)
	if err != nil {
		return nil, err
	}
	return f, nil
}
