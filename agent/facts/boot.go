package facts

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// The EFI global variable GUID (UEFI spec §3.3, EFI_GLOBAL_VARIABLE):
// SecureBoot, SetupMode and the boot entries live under it.
const efiGlobalGUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"

// Paths of the boot facts' sources.
const (
	sysFirmware  = "sys/firmware"
	sysEFI       = "sys/firmware/efi"
	efivarsDir   = "sys/firmware/efi/efivars"
	lockdownFile = "sys/kernel/security/lockdown"
)

// errNoEfivars: the machine booted through UEFI but efivarfs is not
// mounted, so whether Secure Boot is on cannot be told.
var errNoEfivars = errors.New("efivarfs not mounted on /sys/firmware/efi/efivars: secure_boot unknown")

// bootFacts reports how the node booted: boot_mode (uefi or bios),
// secure_boot and secure_boot_setup_mode (UEFI only, from the EFI
// variables), and lockdown (the kernel's lockdown mode, from securityfs).
func (g *gatherer) bootFacts() error {
	var errs []error
	if lock, err := g.t.ReadFile(lockdownFile); err == nil {
		if mode, ok := parseLockdown(string(lock)); ok {
			g.set("lockdown", mode)
		} else {
			errs = append(errs, fmt.Errorf("%s: no [mode] in %q", lockdownFile, strings.TrimSpace(string(lock))))
		}
	}
	if _, err := g.t.Stat(sysFirmware); err != nil {
		// No /sys/firmware at all (a partial tree, sysfs not mounted):
		// the boot mode cannot be told.
		return errors.Join(errs...)
	}
	if _, err := g.t.Stat(sysEFI); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return errors.Join(append(errs, err)...)
		}
		g.set("boot_mode", "bios")
		return errors.Join(errs...)
	}
	g.set("boot_mode", "uefi")
	sb, err := g.efiBool("SecureBoot")
	switch {
	case err == nil:
		g.set("secure_boot", sb)
	case errors.Is(err, fs.ErrNotExist):
		// Firmware without Secure Boot support has no SecureBoot
		// variable: off, if efivarfs is there to say so.
		if g.efivarsMounted() {
			g.set("secure_boot", "false")
		} else {
			errs = append(errs, errNoEfivars)
		}
	default:
		errs = append(errs, err)
	}
	if setup, err := g.efiBool("SetupMode"); err == nil {
		g.set("secure_boot_setup_mode", setup)
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// efiBool reads a one-byte boolean EFI global variable from efivarfs: 4
// bytes of attributes, then the value (0 or 1).
func (g *gatherer) efiBool(name string) (string, error) {
	p := path.Join(efivarsDir, name+"-"+efiGlobalGUID)
	b, err := g.t.ReadFile(p)
	if err != nil {
		return "", err
	}
	return parseEFIBool(name, b)
}

func parseEFIBool(name string, b []byte) (string, error) {
	if len(b) != 5 {
		return "", fmt.Errorf("EFI variable %s: %d bytes, want 4 of attributes and 1 of value", name, len(b))
	}
	switch b[4] {
	case 0:
		return "false", nil
	case 1:
		return "true", nil
	}
	return "", fmt.Errorf("EFI variable %s: value %d, want 0 or 1", name, b[4])
}

// efivarsMounted reports whether efivarfs shows any variable. The first
// one is stat'ed so that a capture keeps it and replays the same answer.
func (g *gatherer) efivarsMounted() bool {
	ents, err := g.t.ReadDir(efivarsDir)
	if err != nil || len(ents) == 0 {
		return false
	}
	_, err = g.t.Stat(path.Join(efivarsDir, ents[0].Name()))
	return err == nil
}

// parseLockdown returns the selected mode of /sys/kernel/security/lockdown
// ("none [integrity] confidentiality" → "integrity").
func parseLockdown(s string) (string, bool) {
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' && !strings.ContainsAny(f[1:len(f)-1], "[]") {
			return f[1 : len(f)-1], true
		}
	}
	return "", false
}
