package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/razor-mk/razor-mk/netboot/dhcp"
	"github.com/razor-mk/razor-mk/netboot/ipxe"
	"github.com/razor-mk/razor-mk/netboot/ra"
	"github.com/razor-mk/razor-mk/netboot/tftp"
	"github.com/razor-mk/razor-mk/server/bootfiles"
)

// netServices builds the DHCP, router-advertisement and TFTP services the
// configuration asks for, to run beside HTTP under the daemon's errgroup.
// Everything is validated here, before anything listens, so a bad setting
// stops start-up with the field named.
func netServices(cfg Config, d *Daemon, log *slog.Logger) ([]Service, error) {
	var services []Service
	dc, err := cfg.DHCPConfig()
	if err != nil {
		return nil, fmt.Errorf("--dhcp: %w", err)
	}
	if err := checkNetConfig(cfg); err != nil {
		return nil, err
	}
	// Sockets bound here are closed by their service's run; on an error
	// before Run nothing runs them, so close what was bound.
	var cleanup []func()
	ok := false
	defer func() {
		if !ok {
			for _, f := range cleanup {
				f()
			}
		}
	}()
	if mode := dc.Mode; mode != dhcp.Off {
		dc.HTTPPort = cfg.HTTPPort()
		dc.LogDropped = func(event string) { d.Metrics().Suppressed(event) }
		dc.OnExchange = d.OnDHCP
		if cfg.AdvertiseIP != "" {
			ip, err := netip.ParseAddr(cfg.AdvertiseIP)
			if err != nil {
				return nil, fmt.Errorf("--advertise-ip %q: %w", cfg.AdvertiseIP, err)
			}
			dc.ServerIP = ip
		}
		if dc.HTTPPort == 0 {
			if ap, err := netip.ParseAddrPort(d.Addr().String()); err == nil {
				dc.HTTPPort = int(ap.Port())
			}
		}
		dc.Logger = log.With("svc", "dhcp")
		dc.Who = d.core.NodeByMAC
		dc.SignedChain = d.signedChain
		srv, err := dhcp.New(dc, d.Store())
		if err != nil {
			return nil, fmt.Errorf("--dhcp %s: %w", mode, cfg.dhcpKeyError(err))
		}
		run, err := srv.Listen()
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = run(ctx)
		})
		d.AddListener("dhcp", dhcpListenerName(mode, cfg.DHCPInterface))
		services = append(services, run)
		if cfg.DHCPInterface != "" {
			// iPXE waits ~13 s for IPv6 autoconfiguration unless a router
			// answers its solicitation; answer it (no route, no prefix).
			rs, err := ra.New(ra.Options{Interface: cfg.DHCPInterface, Logger: log.With("svc", "ra")})
			if err != nil {
				return nil, fmt.Errorf("router advertisements on %s: %w", cfg.DHCPInterface, err)
			}
			services = append(services, rs.Serve)
		}
	}
	if cfg.TFTP != "off" {
		// The signed UEFI path (shim, GRUB, grub.cfg, the per-node
		// configuration, GRUB's kernel and initrd) first, then the iPXE
		// directory.
		bf, err := bootfiles.New(bootfiles.Options{Core: d.core, Images: d.images, Retry: cfg.BootRetry, Logger: log.With("svc", "tftp")})
		if err != nil {
			return nil, fmt.Errorf("--tftp %s: %w", cfg.TFTP, err)
		}
		cleanup = append(cleanup, func() { bf.Close() })
		ts, err := tftp.New(tftp.Options{
			Files: bf.Open,
			Root:  cfg.IPXEDir, MaxTransfers: cfg.TFTPMaxTransfers, MaxPerAddr: cfg.TFTPMaxPerIP,
			OnRefuse:   func(reason string) { d.Metrics().Refused("tftp", reason) },
			LogDropped: func(event string) { d.Metrics().Suppressed(event) },
			OnTransfer: d.OnTFTP,
			Who:        d.who,
			Logger:     log.With("svc", "tftp"),
		})
		if err != nil {
			return nil, fmt.Errorf("--tftp %s (root --ipxe-dir %s): %w", cfg.TFTP, cfg.IPXEDir, err)
		}
		conn, err := net.ListenPacket("udp", cfg.TFTP)
		if err != nil {
			ts.Close()
			return nil, fmt.Errorf("--tftp %s: %w", cfg.TFTP, err)
		}
		cleanup = append(cleanup, func() { conn.Close(); ts.Close() })
		d.AddListener("tftp", conn.LocalAddr().String())
		services = append(services, func(ctx context.Context) error {
			defer bf.Close()
			defer ts.Close()
			return ts.Serve(ctx, conn)
		})
	}
	ok = true
	return services, nil
}

// signedChain reports whether the signed chain can be served to a client
// of firmware fw: TFTP is on and the newest image of its architecture
// carries shim and GRUB (uefi_loader auto then sends UEFI PXE clients to
// shim).
func (d *Daemon) signedChain(fw ipxe.Firmware) bool {
	if d.cfg.TFTP == "off" || fw.Arch() == "" {
		return false
	}
	img, err := d.images.CurrentFor(fw.Arch())
	return err == nil && img.Manifest.SignedChain()
}

func dhcpListenerName(mode dhcp.Mode, iface string) string {
	if iface == "" {
		iface = "all interfaces"
	}
	if mode == dhcp.Proxy {
		return iface + " ports 67, 4011"
	}
	return iface + " port 67"
}
