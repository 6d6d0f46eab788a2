package initsys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestMountFirmware(t *testing.T) {
	tests := []struct {
		name      string
		efi       bool
		mountErr  map[string]error // by fstype
		loadErr   error
		wantCalls []string
		wantErr   string // "" for none
	}{
		{"bios", false, nil, nil, []string{"mount securityfs kernel/security"}, ""},
		{"uefi", true, nil, nil, []string{"mount securityfs kernel/security", "load efivarfs", "mount efivarfs firmware/efi/efivars ro"}, ""},
		{"uefi, already mounted", true, map[string]error{"securityfs": unix.EBUSY, "efivarfs": unix.EBUSY}, nil,
			[]string{"mount securityfs kernel/security", "load efivarfs", "mount efivarfs firmware/efi/efivars ro"}, ""},
		// efivarfs built in without modules.builtin saying so: the
		// module is not found, the mount works, nothing to report.
		{"uefi, efivarfs built in", true, nil, errors.New("no module efivarfs"),
			[]string{"mount securityfs kernel/security", "load efivarfs", "mount efivarfs firmware/efi/efivars ro"}, ""},
		{"uefi, no efivarfs at all", true, map[string]error{"efivarfs": unix.ENODEV}, errors.New("no module efivarfs"),
			[]string{"mount securityfs kernel/security", "load efivarfs", "mount efivarfs firmware/efi/efivars ro"},
			"initsys: loading efivarfs: no module efivarfs\ninitsys: mount efivarfs on SYS/firmware/efi/efivars: no such device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			if tt.efi {
				os.MkdirAll(filepath.Join(sys, "firmware/efi/efivars"), 0o755)
			}
			var calls []string
			mount := func(source, target, fstype string, flags uintptr, data string) error {
				c := "mount " + fstype + " " + strings.TrimPrefix(target, sys+"/")
				if flags&unix.MS_RDONLY != 0 {
					c += " ro"
				}
				if flags&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) != unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC {
					t.Errorf("%s mounted without nosuid,nodev,noexec", fstype)
				}
				calls = append(calls, c)
				return tt.mountErr[fstype]
			}
			load := func(name string) error {
				calls = append(calls, "load "+name)
				return tt.loadErr
			}
			err := MountFirmware(sys, mount, load)
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("MountFirmware calls mismatch (-want +got):\n%s", diff)
			}
			got := ""
			if err != nil {
				got = strings.ReplaceAll(err.Error(), sys, "SYS")
			}
			if got != tt.wantErr {
				t.Errorf("MountFirmware() = %q, want %q", got, tt.wantErr)
			}
		})
	}
	// Without a module index (load nil) efivarfs is still mounted.
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "firmware/efi"), 0o755)
	var fstypes []string
	err := MountFirmware(sys, func(_, _, fstype string, _ uintptr, _ string) error {
		fstypes = append(fstypes, fstype)
		return nil
	}, nil)
	if err != nil || !cmp.Equal(fstypes, []string{"securityfs", "efivarfs"}) {
		t.Errorf("MountFirmware(no prober) = %v, mounted %v", err, fstypes)
	}
}
