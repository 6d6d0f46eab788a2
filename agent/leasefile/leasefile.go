// Package leasefile records what DHCP told the microkernel, one JSON file
// per interface, so that `mk-agent init` (which runs DHCP) and `mk-agent run`
// (which needs the Razor server options 224/225/226 and next-server) share
// it without a second DHCP exchange. Files are written atomically.
package leasefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is where init writes lease files inside the microkernel.
const Dir = "/run/razor/dhcp"

// Info is one interface's DHCP lease.
type Info struct {
	Interface  string   `json:"interface"`
	MAC        string   `json:"mac"`                   // aa:bb:cc:dd:ee:ff
	Address    string   `json:"address"`               // CIDR, e.g. 10.0.2.15/24
	Gateway    string   `json:"gateway,omitempty"`     // option 3
	DNS        []string `json:"dns,omitempty"`         // option 6
	Domain     string   `json:"domain,omitempty"`      // option 15
	ServerID   string   `json:"server_id,omitempty"`   // option 54
	NextServer string   `json:"next_server,omitempty"` // siaddr
	// Razor/Hanlon options: 224 server IP, 225 port, 226 base URI.
	RazorServerIP string    `json:"razor_server_ip,omitempty"`
	RazorPort     int       `json:"razor_port,omitempty"`
	RazorBaseURI  string    `json:"razor_base_uri,omitempty"`
	LeaseSeconds  int       `json:"lease_seconds,omitempty"`
	Obtained      time.Time `json:"obtained"`
}

// Write stores info as dir/<interface>.json, atomically (temp file, fsync,
// rename).
func Write(dir string, info Info) error {
	if info.Interface == "" || strings.ContainsAny(info.Interface, "/\x00") || info.Interface == "." || info.Interface == ".." {
		return fmt.Errorf("leasefile: bad interface name %q", info.Interface)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("leasefile: %w", err)
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("leasefile: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+info.Interface+".*")
	if err != nil {
		return fmt.Errorf("leasefile: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("leasefile: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("leasefile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("leasefile: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, info.Interface+".json")); err != nil {
		return fmt.Errorf("leasefile: %w", err)
	}
	return nil
}

// ReadAll returns every lease in dir, oldest first (the first lease
// obtained comes first). A missing dir gives no leases and no error;
// unreadable files are skipped and reported in the joined error.
func ReadAll(dir string) ([]Info, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("leasefile: %w", err)
	}
	var out []Info
	var errs []error
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var in Info
		if err := json.Unmarshal(data, &in); err != nil {
			errs = append(errs, fmt.Errorf("leasefile: %s: %w", n, err))
			continue
		}
		out = append(out, in)
	}
	slices.SortStableFunc(out, func(a, b Info) int { return a.Obtained.Compare(b.Obtained) })
	return out, errors.Join(errs...)
}
