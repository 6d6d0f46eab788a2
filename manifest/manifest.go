// Package manifest defines manifest.json, the description mkbuild writes
// beside every image (vmlinuz, initrd) and the checkin server reads to pick
// and verify the microkernel it serves.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileName is the manifest's name inside an image directory.
const FileName = "manifest.json"

// SchemaVersion of the manifest format.
const SchemaVersion = 1

// ErrMismatch: an artefact does not match its manifest.
var ErrMismatch = errors.New("manifest: artefact does not match")

// Manifest describes one built image.
type Manifest struct {
	Schema  int    `json:"schema"`
	Name    string `json:"name"`    // image name from the spec
	Version string `json:"version"` // mkbuild version that built it
	Variant string `json:"variant"` // dev or prod
	Base    string `json:"base"`    // debian or tinycore
	Arch    string `json:"arch"`    // amd64, 386, arm64
	// KernelVersion is the uname -r of the kernel.
	KernelVersion string `json:"kernel_version"`
	// Cmdline is the kernel command line the image wants (console, quiet…);
	// the server appends razor.server= and the node token.
	Cmdline     string `json:"cmdline"`
	Compression string `json:"compression"`
	// SourceDateEpoch is the SOURCE_DATE_EPOCH the image was built with.
	SourceDateEpoch int64 `json:"source_date_epoch"`
	// SpecSHA256 is the sha256 of the image spec file.
	SpecSHA256 string   `json:"spec_sha256"`
	Kernel     Artefact `json:"kernel"`
	Initrd     Artefact `json:"initrd"`
	// Loaders are the signed UEFI loaders shipped beside the kernel for
	// nodes with Secure Boot on: shim (signed by Microsoft's UEFI CA),
	// then the netboot GRUB it verifies, which verifies the kernel. Empty
	// for an image without the signed chain (Tiny Core, or a spec that
	// turns it off).
	Loaders []Loader `json:"loaders,omitempty"`
	// UnsignedModules are kernel modules in the initrd without an
	// appended signature: a kernel in lockdown (Secure Boot on) refuses
	// them. Empty when every module is signed.
	UnsignedModules []string `json:"unsigned_modules,omitempty"`
	Sources         []Source `json:"sources"`
	Files           []File   `json:"files"` // every file in the initrd
	Modules         []string `json:"modules,omitempty"`
	Extensions      []string `json:"extensions,omitempty"`
	Sizes           Sizes    `json:"sizes"`
	// BuiltinModules are modules the spec names that the kernel has
	// built in (nothing to ship).
	BuiltinModules []string `json:"builtin_modules,omitempty"`
	// Firmware are the firmware files in the initrd (under /lib/firmware).
	Firmware []string `json:"firmware,omitempty"`
	// MissingFirmware are files the modules declare (firmware=) that no
	// firmware source had: the hardware that needs them will not work.
	MissingFirmware []string `json:"missing_firmware,omitempty"`
	// AgentTags are the build tags the agent was built with ("dev" in
	// the dev variant only).
	AgentTags []string `json:"agent_tags,omitempty"`
	// Notes are remarks about optional inputs (a firmware package apt
	// could not find).
	Notes []string `json:"notes,omitempty"`
}

// Artefact is one output file in the image directory.
type Artefact struct {
	Path   string `json:"path"` // relative to the image directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Loader roles.
const (
	LoaderShim = "shim" // first stage: shimx64.efi, shimaa64.efi
	LoaderGRUB = "grub" // second stage: the netboot GRUB, grubx64.efi
)

// Loader is one signed boot loader file in the image directory. Its
// Path is the name UEFI clients fetch it by (shim fetches the second
// stage as grubx64.efi beside itself).
type Loader struct {
	Role string `json:"role"` // LoaderShim or LoaderGRUB
	Artefact
}

// Loader returns the loader of a role, false if the image has none.
func (m *Manifest) Loader(role string) (Artefact, bool) {
	for _, l := range m.Loaders {
		if l.Role == role {
			return l.Artefact, true
		}
	}
	return Artefact{}, false
}

// SignedChain reports whether the image carries shim and GRUB, the
// loaders a Secure Boot node needs.
func (m *Manifest) SignedChain() bool {
	_, shim := m.Loader(LoaderShim)
	_, grub := m.Loader(LoaderGRUB)
	return shim && grub
}

// Source is one input the image was built from.
type Source struct {
	Kind    string `json:"kind"` // deb, tcz, tinycore-release, file, agent
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	URL     string `json:"url,omitempty"`
	SHA256  string `json:"sha256"`
}

// File is one regular file inside the initrd.
type File struct {
	Path   string `json:"path"` // absolute in the image: /bin/busybox
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Sizes summarises the image.
type Sizes struct {
	Kernel           int64 `json:"kernel"`
	Initrd           int64 `json:"initrd"`
	InitrdUnpacked   int64 `json:"initrd_unpacked"`
	Agent            int64 `json:"agent"`
	ModulesUnpacked  int64 `json:"modules_unpacked"`
	FirmwareUnpacked int64 `json:"firmware_unpacked"`
}

// Load reads dir/manifest.json.
func Load(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %s: %w", filepath.Join(dir, FileName), err)
	}
	if m.Schema != SchemaVersion {
		return nil, fmt.Errorf("manifest: %s: schema %d, want %d", dir, m.Schema, SchemaVersion)
	}
	return &m, nil
}

// Verify checks the kernel, the initrd and the loaders in dir against
// their size and sha256 in m.
func (m *Manifest) Verify(dir string) error {
	arts := []Artefact{m.Kernel, m.Initrd}
	for _, l := range m.Loaders {
		arts = append(arts, l.Artefact)
	}
	for _, a := range arts {
		if a.Path == "" || !filepath.IsLocal(a.Path) {
			return fmt.Errorf("%w: bad path %q", ErrMismatch, a.Path)
		}
		sum, size, err := HashFile(filepath.Join(dir, a.Path))
		if err != nil {
			return err
		}
		if size != a.Size || sum != a.SHA256 {
			return fmt.Errorf("%w: %s: size %d sha256 %s, manifest says %d %s", ErrMismatch, a.Path, size, sum, a.Size, a.SHA256)
		}
	}
	return nil
}

// Encode returns the manifest as indented JSON with a final newline; the
// same manifest always gives the same bytes.
func (m *Manifest) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// HashFile returns the hex sha256 and size of a file.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("manifest: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
