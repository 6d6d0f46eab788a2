package facts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBootFacts(t *testing.T) {
	const guid = "-8be4df61-93ca-11d2-aa0d-00e098032b8c"
	vars := "sys/firmware/efi/efivars/"
	tests := []struct {
		name    string
		files   map[string]string // path → content; "/" at the end: a directory
		want    map[string]string
		wantErr string
	}{
		{"no sysfs firmware", nil, map[string]string{}, ""},
		{"bios", map[string]string{"sys/firmware/acpi/": ""}, map[string]string{"boot_mode": "bios"}, ""},
		{"bios in lockdown", map[string]string{"sys/firmware/acpi/": "", "sys/kernel/security/lockdown": "none integrity [confidentiality]\n"},
			map[string]string{"boot_mode": "bios", "lockdown": "confidentiality"}, ""},
		{"uefi secure boot on", map[string]string{
			vars + "SecureBoot" + guid: "\x06\x00\x00\x00\x01", vars + "SetupMode" + guid: "\x06\x00\x00\x00\x00",
			"sys/kernel/security/lockdown": "none [integrity] confidentiality\n",
		}, map[string]string{"boot_mode": "uefi", "secure_boot": "true", "secure_boot_setup_mode": "false", "lockdown": "integrity"}, ""},
		{"uefi secure boot off, setup mode", map[string]string{
			vars + "SecureBoot" + guid: "\x06\x00\x00\x00\x00", vars + "SetupMode" + guid: "\x06\x00\x00\x00\x01",
			"sys/kernel/security/lockdown": "[none] integrity confidentiality\n",
		}, map[string]string{"boot_mode": "uefi", "secure_boot": "false", "secure_boot_setup_mode": "true", "lockdown": "none"}, ""},
		{"uefi without secure boot support", map[string]string{vars + "BootOrder" + guid: "\x07\x00\x00\x00\x01\x00"},
			map[string]string{"boot_mode": "uefi", "secure_boot": "false"}, ""},
		{"uefi, efivarfs not mounted", map[string]string{vars: ""},
			map[string]string{"boot_mode": "uefi"}, "efivarfs not mounted"},
		{"uefi, bad variable", map[string]string{vars + "SecureBoot" + guid: "\x06\x00\x00\x00"},
			map[string]string{"boot_mode": "uefi"}, "EFI variable SecureBoot: 4 bytes"},
		{"bad lockdown file", map[string]string{"sys/firmware/acpi/": "", "sys/kernel/security/lockdown": "integrity\n"},
			map[string]string{"boot_mode": "bios"}, "no [mode]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tt.files {
				full := filepath.Join(root, p)
				if strings.HasSuffix(p, "/") {
					os.MkdirAll(full, 0o755)
					continue
				}
				os.MkdirAll(filepath.Dir(full), 0o755)
				if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tr, err := openTree(root)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			g := newGatherer(tr, Options{Root: root})
			err = g.bootFacts()
			if diff := cmp.Diff(tt.want, g.facts); diff != "" {
				t.Errorf("bootFacts mismatch (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("bootFacts() = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("bootFacts() = %v, want an error containing %q", err, tt.wantErr)
			}
			// A capture replays the same boot facts.
			dir := filepath.Join(t.TempDir(), "capture")
			captured, err := Capture(context.Background(), Options{Root: root}, dir)
			if err != nil {
				t.Fatal(err)
			}
			replayed := Gather(context.Background(), Options{Root: dir})
			for _, k := range []string{"boot_mode", "secure_boot", "secure_boot_setup_mode", "lockdown"} {
				if captured.Facts[k] != replayed.Facts[k] {
					t.Errorf("replayed %s = %q, captured %q", k, replayed.Facts[k], captured.Facts[k])
				}
			}
		})
	}
}

func FuzzBootParsers(f *testing.F) {
	f.Add([]byte("none [integrity] confidentiality\n"))
	f.Add([]byte("\x06\x00\x00\x00\x01"))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if mode, ok := parseLockdown(string(data)); ok && (mode == "" || strings.ContainsAny(mode, "[] \n")) {
			t.Fatalf("parseLockdown(%q) = %q", data, mode)
		}
		if v, err := parseEFIBool("X", data); err == nil && v != "true" && v != "false" {
			t.Fatalf("parseEFIBool(%q) = %q", data, v)
		}
	})
}
