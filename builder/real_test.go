package builder

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/manifest"
)

// realEnv skips unless the host can build the shipped specs: apt (with
// network access to Debian's mirror, which CI has) and the go command.
func realEnv(t *testing.T) (cache string) {
	t.Helper()
	for _, p := range []string{"apt-get", "apt-cache", "go"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed: the real build needs apt and Go", p)
		}
	}
	if c := os.Getenv("RAZOR_CACHE"); c != "" {
		return c
	}
	// Shared with mkbuild: the cache is content-addressed, so a warm
	// cache keeps this test well under a minute.
	return DefaultCacheDir()
}

func buildShipped(t *testing.T, specFile, out, cache string, sde int64, o spec.Options) *manifest.Manifest {
	t.Helper()
	s, err := spec.Load(filepath.Join(repoRoot(t), "images", specFile), o)
	if err != nil {
		t.Fatalf("spec.Load(%s) = %v", specFile, err)
	}
	m, err := Build(context.Background(), Options{Spec: s, OutDir: out, CacheDir: cache, SourceDateEpoch: sde, Version: "test", Commit: "test"})
	if err != nil {
		t.Fatalf("Build(%s) = %v", specFile, err)
	}
	if err := m.Verify(out); err != nil {
		t.Fatalf("Verify(%s) = %v", out, err)
	}
	return m
}

// extractAgent writes the image's /bin/mk-agent to a file for the ELF and
// build-information checks.
func extractAgent(t *testing.T, a *initramfs.Archive) string {
	t.Helper()
	r, ok := a.Get(AgentPath)
	if !ok || r.Type != initramfs.TypeFile {
		t.Fatalf("initrd has no /%s", AgentPath)
	}
	data, err := r.Content()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mk-agent")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRealBuild builds images/prod.yaml (twice, to compare bytes) and
// images/dev.yaml from Debian's real packages and the real agent, and
// inspects what they contain.
func TestRealBuild(t *testing.T) {
	cache := realEnv(t)
	dir := t.TempDir()
	const sde = 1700000000
	prodA, prodB := filepath.Join(dir, "prod-a"), filepath.Join(dir, "prod-b")
	m := buildShipped(t, "prod.yaml", prodA, cache, sde, spec.Options{})
	buildShipped(t, "prod.yaml", prodB, cache, sde, spec.Options{})
	for _, f := range []string{InitrdFile, manifest.FileName, KernelFile, "shimx64.efi", "grubx64.efi"} {
		a, _ := os.ReadFile(filepath.Join(prodA, f))
		b, _ := os.ReadFile(filepath.Join(prodB, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of images/prod.yaml with one SOURCE_DATE_EPOCH", f)
		}
	}

	t.Run("kernel", func(t *testing.T) {
		k, err := os.ReadFile(filepath.Join(prodA, KernelFile))
		if err != nil || len(k) < 0x210 || string(k[0x202:0x206]) != "HdrS" {
			t.Errorf("vmlinuz is not an x86 bzImage (no HdrS at 0x202)")
		}
		if !strings.HasPrefix(m.KernelVersion, "6.") || !strings.HasSuffix(m.KernelVersion, "-amd64") {
			t.Errorf("KernelVersion = %q, want Debian's 6.x-amd64", m.KernelVersion)
		}
		if m.Sources[0].Name != "linux-image-"+m.KernelVersion || len(m.Sources[0].SHA256) != 64 || m.Sources[0].URL == "" {
			t.Errorf("first source = %+v, want the versioned kernel package with checksum and URL", m.Sources[0])
		}
	})

	t.Run("secure boot", func(t *testing.T) {
		// Debian's shim, netboot GRUB and kernel are all Authenticode
		// signed, and every module Debian ships carries its signature.
		for _, l := range m.Loaders {
			if signed, err := peSigned(filepath.Join(prodA, l.Path)); err != nil || !signed {
				t.Errorf("loader %s (%s): signed %v, %v", l.Path, l.Role, signed, err)
			}
		}
		if !m.SignedChain() || m.Loaders[0].Path != "shimx64.efi" || m.Loaders[1].Path != "grubx64.efi" {
			t.Errorf("Loaders = %+v, want shimx64.efi and grubx64.efi", m.Loaders)
		}
		if signed, err := peSigned(filepath.Join(prodA, KernelFile)); err != nil || !signed {
			t.Errorf("vmlinuz signed = %v, %v; want Debian's signed kernel", signed, err)
		}
		if len(m.UnsignedModules) != 0 || !slices.Contains(m.Modules, "efivarfs") {
			t.Errorf("UnsignedModules = %v, efivarfs in modules %v; want none unsigned, efivarfs shipped", m.UnsignedModules, slices.Contains(m.Modules, "efivarfs"))
		}
		if line, warn := SecureBootSummary(m); warn || !strings.HasPrefix(line, "shim ") {
			t.Errorf("SecureBootSummary = %q, %v", line, warn)
		}
	})

	a, err := initramfs.ReadFile(filepath.Join(prodA, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("size", func(t *testing.T) {
		if m.Initrd.Size >= 25e6 {
			t.Errorf("prod initrd is %s, the aim is under 25 MB", Size(m.Initrd.Size))
		}
	})
	t.Run("userland", func(t *testing.T) {
		for _, l := range []string{"bin/sh", "bin/mount", "sbin/ip", "usr/bin/awk", "sbin/modprobe"} {
			if r, ok := a.Get(l); !ok || r.Type != initramfs.TypeSymlink || r.Target != "/bin/busybox" {
				t.Errorf("/%s = %+v, want a link to /bin/busybox", l, r)
			}
		}
		if r, ok := a.Get(InitPath); !ok || r.Target != "/"+AgentPath {
			t.Errorf("/init = %+v, want a link to /%s", r, AgentPath)
		}
		r, _ := a.Get("bin/busybox")
		bb, _ := r.Content()
		if f, err := elf.NewFile(bytes.NewReader(bb)); err != nil || slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
			t.Errorf("/bin/busybox is not a static ELF: %v", err)
		}
	})
	t.Run("modules", func(t *testing.T) {
		kdir := "lib/modules/" + m.KernelVersion + "/"
		for _, n := range spec.DefaultModules {
			if !slices.Contains(m.Modules, n) {
				t.Errorf("module %s is not in the image", n)
			}
		}
		depRec, ok := a.Get(kdir + "modules.dep")
		if !ok {
			t.Fatal("no modules.dep")
		}
		dep, _ := depRec.Content()
		lines := strings.Split(strings.TrimSpace(string(dep)), "\n")
		if len(lines) != len(m.Modules) {
			t.Errorf("modules.dep has %d lines for %d modules", len(lines), len(m.Modules))
		}
		for _, l := range lines {
			file, deps, _ := strings.Cut(l, ":")
			for _, p := range append(strings.Fields(deps), file) {
				r, ok := a.Get(kdir + p)
				if !ok {
					t.Errorf("modules.dep names %s, which the image lacks", p)
					continue
				}
				data, _ := r.Content()
				in, err := kmod.ReadInfo(data)
				if err != nil {
					t.Errorf("%s: %v", p, err)
					continue
				}
				if !strings.HasPrefix(in.Vermagic, m.KernelVersion+" ") {
					t.Errorf("%s: vermagic %q, kernel %s", p, in.Vermagic, m.KernelVersion)
				}
				for _, d := range in.Depends {
					if !slices.Contains(m.Modules, d) {
						t.Errorf("%s depends on %s, which the image lacks", p, d)
					}
				}
			}
		}
		aliasRec, _ := a.Get(kdir + "modules.alias")
		alias, _ := aliasRec.Content()
		for _, want := range []string{
			"alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci",
			"alias virtio:d00000001v* virtio_net",
			"alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000",
		} {
			if !strings.Contains(string(alias), want+"\n") {
				t.Errorf("modules.alias lacks %q", want)
			}
		}
	})
	t.Run("prod has no SSH and no password login", func(t *testing.T) {
		if err := CheckProd(a); err != nil {
			t.Error(err)
		}
		for _, r := range a.Records() {
			b := filepath.Base(r.Name)
			if strings.Contains(b, "ssh") || strings.Contains(b, "dropbear") || b == "authorized_keys" {
				t.Errorf("prod initrd has /%s", r.Name)
			}
		}
		shadowRec, _ := a.Get("etc/shadow")
		shadow, _ := shadowRec.Content()
		if !strings.HasPrefix(string(shadow), "root:*:") {
			t.Errorf("/etc/shadow = %q, want root locked", shadow)
		}
		agent := extractAgent(t, a)
		info, err := buildinfo.ReadFile(agent)
		if err != nil {
			t.Fatal(err)
		}
		if tags := BuildTags(info); slices.Contains(tags, "dev") {
			t.Errorf("prod agent built with tags %v", tags)
		}
		for _, d := range info.Deps {
			if strings.HasPrefix(d.Path, "golang.org/x/crypto/ssh") {
				t.Errorf("prod agent depends on %s", d.Path)
			}
		}
		if code, _ := SSHCode(agent); code != "" {
			t.Errorf("prod agent contains %s code", code)
		}
		out, err := exec.Command("go", "version", "-m", agent).CombinedOutput()
		if err != nil {
			t.Fatalf("go version -m: %v\n%s", err, out)
		}
		for _, bad := range []string{"-tags=dev", "golang.org/x/crypto/ssh", "devssh"} {
			if strings.Contains(string(out), bad) {
				t.Errorf("go version -m on the prod agent shows %q:\n%s", bad, out)
			}
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("go version -m on the prod agent lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("dev", func(t *testing.T) {
		keys := filepath.Join(t.TempDir(), "k.pub")
		if err := os.WriteFile(keys, []byte(testKey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "dev")
		dm := buildShipped(t, "dev.yaml", out, cache, sde, spec.Options{AuthorizedKeysFiles: []string{keys}, Home: t.TempDir()})
		if dm.Variant != "dev" || !slices.Contains(dm.AgentTags, "dev") {
			t.Errorf("dev manifest variant %q tags %v", dm.Variant, dm.AgentTags)
		}
		d, err := initramfs.ReadFile(filepath.Join(out, InitrdFile))
		if err != nil {
			t.Fatal(err)
		}
		r, ok := d.Get(AuthorizedKeysPath)
		if got, _ := r.Content(); !ok || string(got) != testKey+"\n" {
			t.Errorf("dev /%s = %q", AuthorizedKeysPath, got)
		}
		if code, _ := SSHCode(extractAgent(t, d)); code == "" {
			t.Errorf("dev agent has no SSH server code")
		}
	})
}
