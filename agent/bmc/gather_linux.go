package bmc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/razor-mk/razor-mk/agent/modprobe"
)

// Options configure Gather. Zero values take the defaults named.
type Options struct {
	// Device is the IPMI device (default DefaultDevice).
	Device string
	// Sys is the sysfs root (default /sys).
	Sys string
	// ModulesDir holds modules.dep (default /lib/modules/<release>).
	ModulesDir string
	// Logger: default discard.
	Logger *slog.Logger
}

// ErrNoBMC: the machine has no IPMI interface (no BMC, or no driver for
// it): not an error for a fact source, just nothing to report.
var ErrNoBMC = errors.New("bmc: no IPMI interface")

// Gather returns the BMC's facts. When the kernel found a system
// interface (ipmi_si is loaded) but /dev/ipmi0 is missing, it loads
// ipmi_devintf first. No BMC is ErrNoBMC and no facts.
func Gather(ctx context.Context, o Options) (map[string]string, error) {
	dev := o.Device
	if dev == "" {
		dev = DefaultDevice
	}
	sys := o.Sys
	if sys == "" {
		sys = "/sys"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(dev); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(sys, "module", "ipmi_si")); err != nil {
			return nil, ErrNoBMC
		}
		if err := loadDevintf(o.ModulesDir, log); err != nil {
			return nil, fmt.Errorf("bmc: ipmi_devintf: %w", err)
		}
		for i := 0; i < 40; i++ { // devtmpfs makes the node at once; allow for a slow boot
			if _, err := os.Stat(dev); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c, err := Open(dev)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	info, err := Query(ctx, c)
	if err != nil {
		return nil, err
	}
	log.Info("bmc", "ipmi", info.Device.IPMIVersion, "manufacturer", info.Device.ManufacturerID, "firmware", info.Device.Firmware, "lan", info.LAN != nil)
	return Facts(info), nil
}

func loadDevintf(dir string, log *slog.Logger) error {
	if dir == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		dir = fmt.Sprintf(modprobe.DefaultDir, unix.ByteSliceToString(u.Release[:]))
	}
	p, err := modprobe.NewProber(modprobe.Options{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	_, err = p.Probe("ipmi_devintf", "")
	return err
}
