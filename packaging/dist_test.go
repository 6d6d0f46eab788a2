package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make dist's tarballs: one per architecture, laid out like /usr, each
// binary for its architecture (the agents for both), every file listed
// in the tarball's SHA256SUMS, and the tarballs in OUTDIR/SHA256SUMS.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary for two architectures")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "packaging/build.sh", "dist", out)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "VERSION=v9.8.7")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh dist: %v\n%s", err, b)
	}
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = out
	if b, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check SHA256SUMS: %v\n%s", err, b)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for arch, machine := range machines {
		name := "razor-mk-v9.8.7-linux-" + arch
		files := readTarGz(t, filepath.Join(out, name+".tar.gz"))
		for _, f := range []string{"bin/razor-netboot", "bin/mkbuild", "bin/mk-agent"} {
			if m := elfMachine(t, files[name+"/"+f]); m != machine {
				t.Errorf("%s: %s is for %v, want %v", name, f, m, machine)
			}
		}
		for a, am := range machines {
			for _, suffix := range []string{"", "-dev"} {
				f := name + "/lib/razor-mk/agent/mk-agent-" + a + suffix
				if m := elfMachine(t, files[f]); m != am {
					t.Errorf("%s is for %v, want %v", f, m, am)
				}
			}
		}
		for _, f := range []string{"lib/systemd/system/razor-netboot.service", "etc/razor/razor-netboot.yaml",
			"share/doc/razor-mk/README.md", "share/doc/razor-mk/operations.md", "share/razor-mk/images/prod.yaml"} {
			if len(files[name+"/"+f]) == 0 {
				t.Errorf("%s lacks %s", name, f)
			}
		}
		sums := string(files[name+"/SHA256SUMS"])
		listed := 0
		for f := range files {
			rel := strings.TrimPrefix(f, name+"/")
			if rel == "SHA256SUMS" {
				continue
			}
			listed++
			if !strings.Contains(sums, "  "+rel+"\n") {
				t.Errorf("%s/SHA256SUMS does not list %s", name, rel)
			}
		}
		t.Logf("%s: %d files", name, listed)
	}
}

func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s owned by %d:%d, want root", path, h.Name, h.Uid, h.Gid)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

func elfMachine(t *testing.T, data []byte) elf.Machine {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return elf.EM_NONE
	}
	return f.Machine
}
