package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/razor-mk/razor-mk/netboot/ipxe"
)

// checkNetConfig refuses a configuration the network services cannot
// serve, saying what is wrong and how to fix it: an interface that does
// not exist, or TFTP on with an iPXE directory that lacks the boot files
// DHCP hands out.
func checkNetConfig(cfg Config) error {
	if cfg.DHCP != "off" && cfg.DHCPInterface != "" {
		if _, err := net.InterfaceByName(cfg.DHCPInterface); err != nil {
			return fmt.Errorf("dhcp_interface %q: no such network interface on this host (it has: %s); fix --dhcp-interface / RAZOR_DHCP_INTERFACE", cfg.DHCPInterface, interfaceNames())
		}
	}
	if cfg.TFTP == "off" {
		if l, _ := ipxe.ParseLoader(cfg.UEFILoader); l == ipxe.LoaderShim && cfg.DHCP != "off" {
			return fmt.Errorf("uefi_loader shim needs TFTP (shim, GRUB and GRUB's kernel and initrd go over TFTP), but tftp is off; turn TFTP on (--tftp :69) or choose uefi_loader auto or ipxe")
		}
		return nil
	}
	files := ipxe.DefaultFiles
	var missing []string
	for _, f := range []string{files.BIOS, files.EFIX86_64} {
		st, err := os.Stat(filepath.Join(cfg.IPXEDir, f))
		if err != nil || !st.Mode().IsRegular() {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		why := "lacks " + strings.Join(missing, " and ")
		if _, err := os.Stat(cfg.IPXEDir); errors.Is(err, fs.ErrNotExist) {
			why = "does not exist"
		}
		return fmt.Errorf("tftp is on (%s) but ipxe_dir %s %s, the boot files DHCP hands out; install Debian's ipxe package (apt-get install ipxe: /usr/lib/ipxe), point --ipxe-dir / RAZOR_IPXE_DIR at a directory holding them, or turn TFTP off (--tftp off) if every node boots iPXE already", cfg.TFTP, cfg.IPXEDir, why)
	}
	return nil
}

func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "unknown: " + err.Error()
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return strings.Join(names, ", ")
}
