// Package bootfiles serves the files of the signed UEFI boot path by the
// names its loaders fetch them: shim (shimx64.efi, the DHCP boot file),
// the netboot GRUB shim loads beside itself (grubx64.efi), GRUB's
// grub/grub.cfg (which reads the node's identity and sources the next),
// the per-node grub/node.cfg?mac=…, the GRUB counterpart of /boot.ipxe,
// and the images directory under images/ for GRUB's kernel and initrd.
// Debian's signed netboot GRUB loads over TFTP only, so the TFTP server
// asks Open first; the loaders and the images are also what HTTP serves.
//
// The loaders come from the newest verified image directory of the
// client's architecture (mkbuild put them there and its manifest holds
// their sha256, verified with the kernel), so the signed chain always
// matches the kernels it boots.
package bootfiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/manifest"
	"github.com/razor-mk/razor-mk/server/bootscript"
	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/mkimage"
)

// GRUBConfigPath is the file Debian's netboot GRUB reads first (its
// prefix is /grub on the TFTP server it was loaded from).
const GRUBConfigPath = "grub/grub.cfg"

// Options configures Files.
type Options struct {
	// Logger: default discard.
	Logger *slog.Logger
	// Core renders per-node configurations.
	Core *core.Core
	// Images finds the current image (its loaders) and is the directory
	// served under images/.
	Images *mkimage.Finder
	// Retry is how long an error configuration waits before rebooting.
	Retry time.Duration
}

// Files maps loader file names to content.
type Files struct {
	o    Options
	log  *slog.Logger
	root *os.Root // the images directory
}

// New opens the images directory.
func New(o Options) (*Files, error) {
	if o.Core == nil || o.Images == nil {
		return nil, errors.New("bootfiles: Core and Images are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := os.OpenRoot(o.Images.Dir())
	if err != nil {
		return nil, fmt.Errorf("bootfiles: images directory: %w", err)
	}
	return &Files{o: o, log: log, root: root}, nil
}

// Close releases the images directory.
func (f *Files) Close() error { return f.root.Close() }

// Open returns the file a loader asks for by name (a clean relative
// path, as the TFTP server passes it; a per-node configuration carries
// its query), from peer, with its size. A name it does not make is an
// error wrapping fs.ErrNotExist, so that the caller looks elsewhere (the
// iPXE directory).
func (f *Files) Open(ctx context.Context, name string, peer netip.Addr) (io.ReadCloser, int64, error) {
	switch {
	case name == GRUBConfigPath:
		return text(bootscript.GRUBChain("/"+bootscript.GRUBNodePath, f.o.Retry))
	case name == bootscript.GRUBNodePath || strings.HasPrefix(name, bootscript.GRUBNodePath+"?"):
		_, query, _ := strings.Cut(name, "?")
		return text(f.NodeConfig(ctx, query, peer))
	case strings.HasPrefix(name, "images/"):
		return f.image(strings.TrimPrefix(name, "images/"))
	case !strings.Contains(name, "/"):
		return f.loader(name)
	}
	return nil, 0, fs.ErrNotExist
}

// NodeConfig renders the per-node GRUB configuration for a query
// (mac=…&uuid=…&serial=…&arch=…&platform=…) from peer.
func (f *Files) NodeConfig(ctx context.Context, query string, peer netip.Addr) string {
	// A malformed pair (a serial with a "%" or ";") is dropped; the rest
	// still names the node.
	q, _ := url.ParseQuery(query)
	res := f.o.Core.Boot(ctx, core.BootRequest{
		MAC: q.Get("mac"), UUID: q.Get("uuid"), Serial: q.Get("serial"), Arch: q.Get("arch"), Platform: q.Get("platform"),
		IP: peer, Loader: bootscript.LoaderGRUB,
	})
	return res.Script
}

// loader returns the loader file called name of the newest verified
// image that has one: loader names are per architecture (shimx64.efi,
// shimaa64.efi), so in a mixed images directory each architecture's
// nodes get their own image's chain.
func (f *Files) loader(name string) (io.ReadCloser, int64, error) {
	imgs, err := f.o.Images.Bootable()
	if err != nil {
		return nil, 0, fs.ErrNotExist
	}
	for _, img := range imgs {
		for _, role := range []string{manifest.LoaderShim, manifest.LoaderGRUB} {
			p, ok := img.LoaderPath(role)
			if !ok || path.Base(p) != name {
				continue
			}
			return f.image(path.Join(img.Name, p))
		}
	}
	return nil, 0, fs.ErrNotExist
}

// image opens a regular file under the images directory.
func (f *Files) image(rel string) (io.ReadCloser, int64, error) {
	file, err := f.root.Open(rel)
	if err != nil {
		return nil, 0, err
	}
	st, err := file.Stat()
	if err != nil || !st.Mode().IsRegular() {
		file.Close()
		return nil, 0, fmt.Errorf("bootfiles: images/%s: %w", rel, fs.ErrNotExist)
	}
	return file, st.Size(), nil
}

func text(s string) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader([]byte(s))), int64(len(s)), nil
}
