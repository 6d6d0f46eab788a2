package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
	"github.com/razor-mk/razor-mk/internal/testlab"
	"github.com/razor-mk/razor-mk/manifest"
)

// realBootlocal is the test's /opt/bootlocal.sh (Tiny Core runs it at the
// end of the boot): it runs programs of the built-in extensions, then
// waits for the agent to install coreutils from the image's own mirror
// and runs one of its programs (factor needs gmp, a dependency).
const realBootlocal = `#!/bin/sh
echo "REAL-TC bash $(/usr/local/bin/bash -c 'echo $BASH_VERSION')" >/dev/console
# dmidecode 2.x prints a "# SMBIOS … newer than" remark on QEMU's SMBIOS.
echo "REAL-TC dmidecode $(/usr/local/sbin/dmidecode -s system-manufacturer 2>/dev/null | grep -v '^#')" >/dev/console
i=0
while [ ! -e /usr/local/tce.installed/coreutils ] && [ $i -lt 300 ]; do sleep 1; i=$((i+1)); done
echo "REAL-TC factor $(/usr/local/bin/factor 91 2>&1)" >/dev/console
`

// TestTinycoreRealRelease builds an image from the real Tiny Core 4.4 x86
// release (../shared/tinycore-real laid out as a mirror) and boots the
// real 3.0.21 kernel with it in QEMU (qemu-system-i386) with the
// manifest's command line only: Tiny Core's init runs, the built-in
// bash and dmidecode (unpacked at build time: the release has no loop or
// squashfs driver) run, the agent starts and, the machine claiming to be
// VMware, installs coreutils with its real dependency chain from the
// image's own TCE mirror by reading the squashfs images in Go. No network.
func TestTinycoreRealRelease(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-i386"); err != nil {
		t.Skip("qemu-system-i386 not installed (make deps installs qemu-system-x86)")
	}
	f, err := tctest.RealMirror(t.TempDir())
	if errors.Is(err, tctest.ErrNoRealRelease) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootlocal.sh"), []byte(realBootlocal), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := `name: razor-mk-tc-real
variant: prod
arch: i386
base: tinycore
tinycore:
  version: "4.x"
  build: x86
  mirror: ` + f.Dir + `
extensions:
  builtin: [bash.tcz, dmidecode.tcz]
  mirror: [coreutils.tcz]
kernel:
  cmdline: console=ttyS0,115200n8 panic=10
files:
  - src: bootlocal.sh
    dst: /opt/bootlocal.sh
    mode: 0755
`
	p := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	start := time.Now()
	// mkbuild builds the agent itself: GOARCH=386 for this spec.
	cmd := exec.Command(testlab.Binary(t, "mkbuild"), "build", p, "--out", out, "--source-date-epoch", "1700000000")
	cmd.Dir = testlab.ModuleRoot(t)
	summary, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mkbuild: %v\n%s", err, summary)
	}
	t.Logf("mkbuild took %v", time.Since(start).Round(time.Second))
	for _, want := range []string{"kernel 3.0.21-tinycore", "nozswap", "unpacked into the initrd", "minimum 3.0"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("build summary lacks %q:\n%s", want, summary)
		}
	}
	m, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range m.Sources {
		if src.Kind == "agent" && strings.HasPrefix(src.Version, "unknown") {
			t.Errorf("manifest: agent version %q, want the version mkbuild built it with", src.Version)
		}
	}
	if m.KernelVersion != tctest.RealKernelVersion || !slices.Contains(strings.Fields(m.Cmdline), "nozswap") {
		t.Errorf("manifest: kernel %q, cmdline %q; want %s and nozswap", m.KernelVersion, m.Cmdline, tctest.RealKernelVersion)
	}

	vm := testlab.StartVM(t, testlab.VMOptions{
		Name:   "tc-real",
		QEMU:   "qemu-system-i386",
		Accel:  "tcg",
		Memory: 512,
		Kernel: filepath.Join(out, "vmlinuz"),
		Initrd: filepath.Join(out, "initrd"),
		Append: m.Cmdline,
		// QEMU's option syntax doubles a comma inside a value.
		SMBIOS: []string{"type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform,serial=REAL-TC-0001"},
	})
	ctx := context.Background()
	for _, step := range []struct {
		what string
		re   string
		wait time.Duration
	}{
		{"Tiny Core's init", `Booting .*Core 4\.4`, 3 * time.Minute},
		{"bash from a built-in extension", `REAL-TC bash 4\.\d+\.\d+`, 2 * time.Minute},
		{"dmidecode from a built-in extension", `REAL-TC dmidecode VMware, Inc\.`, time.Minute},
		{"the agent", `Microkernel Controller starting`, time.Minute},
		{"coreutils from the image's mirror", `extension installed.*extension=coreutils\.tcz unpacked=true`, 3 * time.Minute},
		{"a coreutils program", `REAL-TC factor 91: 7 13`, time.Minute},
	} {
		// Each step may show before the previous one (bootlocal.sh and the
		// agent run side by side), so each searches from the start.
		l, _, err := vm.WaitFor(ctx, 0, regexp.MustCompile(step.re), step.wait)
		if err != nil {
			t.Fatalf("%s: %q did not show: %v", step.what, step.re, err)
		}
		t.Logf("%s at %v: %s", step.what, l.At.Round(100*time.Millisecond), strings.TrimSpace(l.Text))
	}
	if l, _, err := vm.WaitFor(ctx, 0, regexp.MustCompile(`extensions done.*failed=""`), 30*time.Second); err != nil {
		t.Errorf("extensions did not finish without failures: %v", err)
	} else {
		t.Logf("%s", l.Text)
	}
}
