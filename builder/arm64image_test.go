package builder

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/builder/debian"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/manifest"
)

// arm64Env skips unless the host can build the arm64 specs: what realEnv
// needs, apt able to get arm64 packages (dpkg's arm64 architecture, which
// scripts/deps.sh adds) and, on another host, qemu-aarch64-static.
func arm64Env(t *testing.T) (cache string) {
	t.Helper()
	cache = realEnv(t)
	if runtime.GOARCH != "arm64" {
		out, err := exec.Command("dpkg", "--print-foreign-architectures").Output()
		if err != nil || !slices.Contains(strings.Fields(string(out)), "arm64") {
			t.Skipf("apt cannot get arm64 packages: dpkg has no arm64 architecture (dpkg --print-foreign-architectures: %q, %v); scripts/deps.sh adds it", strings.TrimSpace(string(out)), err)
		}
		emu := debian.Emulators[elf.EM_AARCH64]
		if _, err := exec.LookPath(emu); err != nil {
			t.Skipf("%s not installed (package %s): the arm64 busybox cannot list its applets here; scripts/deps.sh installs it", emu, debian.EmulatorPackage)
		}
	}
	if out, err := exec.Command("apt-cache", "show", "--no-all-versions", "linux-image-arm64:arm64").CombinedOutput(); err != nil {
		t.Skipf("apt cannot get arm64 packages (apt-cache show linux-image-arm64:arm64: %v: %s); run apt-get update", err, bytes.TrimSpace(out))
	}
	return cache
}

// TestRealBuildArm64 builds images/prod-arm64.yaml twice from Debian's
// real arm64 packages and compares the bytes, inspects the image (an
// arm64 kernel, busybox and agent; the arm64 signed loaders; arm64
// modules) and builds images/dev-arm64.yaml.
func TestRealBuildArm64(t *testing.T) {
	cache := arm64Env(t)
	dir := t.TempDir()
	const sde = 1700000000
	a, b := filepath.Join(dir, "prod-a"), filepath.Join(dir, "prod-b")
	start := time.Now()
	m := buildShipped(t, "prod-arm64.yaml", a, cache, sde, spec.Options{})
	t.Logf("prod-arm64 built in %v (cache %s); initrd %s, %s unpacked", time.Since(start).Round(time.Millisecond), cache, Size(m.Initrd.Size), Size(m.Sizes.InitrdUnpacked))
	buildShipped(t, "prod-arm64.yaml", b, cache, sde, spec.Options{})
	for _, f := range []string{InitrdFile, manifest.FileName, KernelFile, "shimaa64.efi", "grubaa64.efi"} {
		x, errA := os.ReadFile(filepath.Join(a, f))
		y, errB := os.ReadFile(filepath.Join(b, f))
		if errA != nil || errB != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of images/prod-arm64.yaml with one SOURCE_DATE_EPOCH (%v, %v)", f, errA, errB)
		}
	}

	t.Run("kernel", func(t *testing.T) {
		if m.Arch != "arm64" || !strings.HasSuffix(m.KernelVersion, "-arm64") {
			t.Errorf("manifest arch %q kernel %q, want arm64 and Debian's -arm64 kernel", m.Arch, m.KernelVersion)
		}
		// Debian's arm64 vmlinuz is the uncompressed Image with the EFI
		// stub: a PE file ("MZ") with the arm64 boot header's magic
		// "ARM\x64" at 0x38.
		k, err := os.ReadFile(filepath.Join(a, KernelFile))
		if err != nil || len(k) < 0x40 || string(k[:2]) != "MZ" || string(k[0x38:0x3c]) != "ARMd" {
			t.Errorf("vmlinuz is not an arm64 EFI-stub Image (%v)", err)
		}
		if signed, err := peSigned(filepath.Join(a, KernelFile)); err != nil || !signed {
			t.Errorf("vmlinuz signed = %v, %v; want Debian's signed kernel", signed, err)
		}
	})

	t.Run("secure boot", func(t *testing.T) {
		if !m.SignedChain() || len(m.Loaders) != 2 || m.Loaders[0].Path != "shimaa64.efi" || m.Loaders[1].Path != "grubaa64.efi" {
			t.Fatalf("Loaders = %+v, want shimaa64.efi and grubaa64.efi", m.Loaders)
		}
		for _, l := range m.Loaders {
			p := filepath.Join(a, l.Path)
			f, err := pe.Open(p)
			if err != nil {
				t.Errorf("loader %s: %v", l.Path, err)
				continue
			}
			if f.Machine != pe.IMAGE_FILE_MACHINE_ARM64 {
				t.Errorf("loader %s machine %#x, want arm64", l.Path, f.Machine)
			}
			f.Close()
			if signed, err := peSigned(p); err != nil || !signed {
				t.Errorf("loader %s: signed %v, %v", l.Path, signed, err)
			}
		}
		if len(m.UnsignedModules) != 0 {
			t.Errorf("UnsignedModules = %v, want none", m.UnsignedModules)
		}
	})

	img, err := initramfs.ReadFile(filepath.Join(a, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("binaries", func(t *testing.T) {
		if m.Initrd.Size >= 25e6 {
			t.Errorf("prod-arm64 initrd is %s, the aim is under 25 MB", Size(m.Initrd.Size))
		}
		r, _ := img.Get("bin/busybox")
		bb, _ := r.Content()
		f, err := elf.NewFile(bytes.NewReader(bb))
		if err != nil || f.Machine != elf.EM_AARCH64 || slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
			t.Errorf("/bin/busybox is not a static aarch64 ELF: %v", err)
		}
		for _, l := range []string{"bin/sh", "bin/mount", "sbin/ip", "sbin/modprobe"} {
			if r, ok := img.Get(l); !ok || r.Target != "/bin/busybox" {
				t.Errorf("/%s = %+v, want a link to /bin/busybox (applets listed through the emulator)", l, r)
			}
		}
		agent := extractAgent(t, img)
		af, err := elf.Open(agent)
		if err != nil || af.Machine != elf.EM_AARCH64 {
			t.Fatalf("/bin/mk-agent is not an aarch64 ELF: %v", err)
		}
		af.Close()
		info, err := buildinfo.ReadFile(agent)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool { return s.Key == "GOARCH" && s.Value == "arm64" }) {
			t.Errorf("agent build settings %v lack GOARCH=arm64", info.Settings)
		}
		if err := CheckProd(img); err != nil {
			t.Error(err)
		}
	})

	t.Run("modules", func(t *testing.T) {
		for _, n := range spec.DefaultModulesArm64 {
			if !slices.Contains(m.Modules, n) && !slices.Contains(m.BuiltinModules, n) {
				t.Errorf("module %s is neither in the image nor built in", n)
			}
		}
		kdir := "lib/modules/" + m.KernelVersion + "/"
		rec, ok := img.Get(kdir + "modules.dep")
		if !ok {
			t.Fatal("no modules.dep")
		}
		dep, _ := rec.Content()
		files := map[string]string{} // module name → path in modules.dep
		for _, l := range strings.Split(strings.TrimSpace(string(dep)), "\n") {
			f, _, _ := strings.Cut(l, ":")
			files[strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".ko"), "-", "_")] = f
		}
		for _, n := range m.Modules {
			file := files[n]
			r, ok := img.Get(kdir + file)
			if file == "" || !ok {
				t.Errorf("module %s: not in modules.dep or the image", n)
				continue
			}
			data, _ := r.Content()
			in, err := kmod.ReadInfo(data)
			if err != nil || !strings.HasPrefix(in.Vermagic, m.KernelVersion+" ") || !strings.Contains(in.Vermagic, "aarch64") {
				t.Errorf("%s: vermagic %q (%v), want %s … aarch64", file, in.Vermagic, err, m.KernelVersion)
			}
		}
		rec, _ = img.Get(kdir + "modules.alias")
		alias, _ := rec.Content()
		for _, want := range []string{"alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci", "alias virtio:d00000001v* virtio_net"} {
			if !strings.Contains(string(alias), want+"\n") {
				t.Errorf("modules.alias lacks %q", want)
			}
		}
	})

	t.Run("dev", func(t *testing.T) {
		keys := filepath.Join(t.TempDir(), "k.pub")
		if err := os.WriteFile(keys, []byte(testKey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "dev")
		dm := buildShipped(t, "dev-arm64.yaml", out, cache, sde, spec.Options{AuthorizedKeysFiles: []string{keys}, Home: t.TempDir()})
		if dm.Arch != "arm64" || dm.Variant != "dev" || !slices.Contains(dm.AgentTags, "dev") || dm.Cmdline != spec.DefaultCmdlineArm64+" cryptomgr.notests" {
			t.Errorf("dev-arm64 manifest arch %q variant %q tags %v cmdline %q", dm.Arch, dm.Variant, dm.AgentTags, dm.Cmdline)
		}
		d, err := initramfs.ReadFile(filepath.Join(out, InitrdFile))
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := SSHCode(extractAgent(t, d)); code == "" {
			t.Errorf("dev-arm64 agent has no SSH server code")
		}
	})
}
