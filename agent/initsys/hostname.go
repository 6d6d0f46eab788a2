package initsys

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Hostname is the microkernel's host name for the NIC with hardware
// address mac: "mk" and the MAC's hex digits without colons, as the
// original Razor microkernel named nodes ('mk' + macaddress_eth0 without
// ':'). The original took busybox ifconfig's upper-case spelling; host
// names are case-insensitive and conventionally lower-case, so this is
// lower-case (mk525400123456).
func Hostname(mac net.HardwareAddr) string {
	return "mk" + strings.ReplaceAll(mac.String(), ":", "")
}

// HostsFile renders /etc/hosts for name.
func HostsFile(name string) []byte {
	return []byte("127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

// WriteHostname writes root/etc/hostname and root/etc/hosts for name.
func WriteHostname(root, name string) error {
	etc := filepath.Join(root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return fmt.Errorf("initsys: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(etc, "hostname"), []byte(name+"\n")); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(etc, "hosts"), HostsFile(name))
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("initsys: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("initsys: writing %s: %w", path, err)
	}
	return nil
}
