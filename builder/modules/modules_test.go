package modules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/kmod/kmodtest"
)

var fixture = []kmodtest.Module{
	{Path: "kernel/drivers/net/virtio_net.ko.xz", Modinfo: []string{"depends=virtio_ring,virtio,net_failover", "alias=virtio:d00000001v*"}},
	{Path: "kernel/drivers/net/net_failover.ko", Modinfo: []string{"depends=failover"}},
	{Path: "kernel/net/core/failover.ko.zst", Modinfo: []string{"depends="}},
	{Path: "kernel/drivers/virtio/virtio.ko", Modinfo: []string{"depends=virtio_ring"}},
	{Path: "kernel/drivers/virtio/virtio_ring.ko.gz", Modinfo: []string{"depends="}},
	{Path: "kernel/drivers/virtio/virtio_pci.ko", Modinfo: []string{"depends=virtio,virtio_ring", "alias=pci:v00001AF4d*sv*sd*bc*sc*i*"}},
	{Path: "kernel/drivers/net/ethernet/broadcom/bnx2.ko", Modinfo: []string{"firmware=bnx2/bnx2-mips-09-6.2.1b.fw", "firmware=bnx2/bnx2-rv2p-09-6.0.17.fw", "alias=pci:v000014E4d0000164Asv*sd*bc*sc*i*"}},
	{Path: "kernel/drivers/net/ethernet/broadcom/tg3.ko", Modinfo: []string{"depends=libphy", "firmware=tigon/tg3.bin", "firmware=bnx2/bnx2-mips-09-6.2.1b.fw"}},
	{Path: "kernel/drivers/net/phy/libphy.ko", Modinfo: []string{"depends="}},
	{Path: "kernel/lib/crc-t10dif.ko", Modinfo: []string{"softdep=pre: crct10dif", "depends="}},
	{Path: "kernel/crypto/crct10dif.ko", Modinfo: []string{"depends="}},
	{Path: "kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko", Modinfo: []string{"depends="}},
	{Path: "kernel/drivers/net/ethernet/mellanox/mlx4/mlx4_en.ko", Modinfo: []string{"depends="}},
	{Path: "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko", Modinfo: []string{"depends=", "alias=old"}},
	{Path: "updates/dkms/e1000e.ko", Modinfo: []string{"depends=", "alias=new"}},
	{Path: "kernel/drivers/broken/needs-missing.ko", Modinfo: []string{"depends=nothere"}},
	{Path: "kernel/drivers/broken/wrongname.ko", Modinfo: []string{"name=other"}},
	{Path: "kernel/drivers/broken/uses-builtin.ko", Modinfo: []string{"depends=unix"}},
}

func openFixture(t *testing.T) *Tree {
	t.Helper()
	dir := t.TempDir()
	if err := kmodtest.WriteTree(dir, fixture, []string{"unix", "crc32c_generic"}); err != nil {
		t.Fatal(err)
	}
	// A symlink out of the tree, as Debian's build/ and source/ are.
	if err := os.Symlink("/usr/src/nowhere", filepath.Join(dir, "build")); err != nil {
		t.Fatal(err)
	}
	tr, err := OpenTree(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestResolve(t *testing.T) {
	tr := openFixture(t)
	if got, want := tr.Len(), len(fixture)-1; got != want {
		t.Errorf("Tree.Len() = %d, want %d", got, want)
	}
	tests := []struct {
		name             string
		include, exclude []string
		want             []string
		builtin          []string
		firmware         []string
	}{
		{"closure over depends", []string{"virtio_net"}, nil,
			[]string{"failover", "net_failover", "virtio", "virtio_net", "virtio_ring"}, nil, nil},
		{"dash and underscore equal", []string{"net-failover"}, nil, []string{"failover", "net_failover"}, nil, nil},
		{"name glob", []string{"mlx*"}, nil, []string{"mlx4_en", "mlx5_core"}, nil, nil},
		{"path glob", []string{"kernel/drivers/virtio/virtio_*"}, nil, []string{"virtio", "virtio_pci", "virtio_ring"}, nil, nil},
		{"directory", []string{"kernel/drivers/net/ethernet/broadcom"}, nil, []string{"bnx2", "libphy", "tg3"}, nil,
			[]string{"bnx2/bnx2-mips-09-6.2.1b.fw", "bnx2/bnx2-rv2p-09-6.0.17.fw", "tigon/tg3.bin"}},
		{"exclude drops a match, not a dependency", []string{"kernel/drivers/net/ethernet/broadcom"}, []string{"libphy", "bnx2"}, []string{"libphy", "tg3"}, nil, []string{"bnx2/bnx2-mips-09-6.2.1b.fw", "tigon/tg3.bin"}},
		{"softdep pulled in", []string{"crc_t10dif"}, nil, []string{"crc_t10dif", "crct10dif"}, nil, nil},
		{"builtin is not an error", []string{"unix", "libphy"}, nil, []string{"libphy"}, []string{"unix"}, nil},
		{"dependency on a builtin", []string{"uses_builtin"}, nil, []string{"uses_builtin"}, nil, nil},
		{"nothing", nil, nil, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tr.Resolve(tt.include, tt.exclude)
			if err != nil {
				t.Fatalf("Resolve(%v, %v) = %v", tt.include, tt.exclude, err)
			}
			if diff := cmp.Diff(tt.want, s.Names(), cmpEmpty); diff != "" {
				t.Errorf("Resolve(%v, %v) names mismatch (-want +got):\n%s", tt.include, tt.exclude, diff)
			}
			if diff := cmp.Diff(tt.builtin, s.Builtin, cmpEmpty); diff != "" {
				t.Errorf("Resolve(%v).Builtin mismatch (-want +got):\n%s", tt.include, diff)
			}
			if diff := cmp.Diff(tt.firmware, s.Firmware, cmpEmpty); diff != "" {
				t.Errorf("Resolve(%v).Firmware mismatch (-want +got):\n%s", tt.include, diff)
			}
			for _, m := range s.Modules {
				if _, err := kmod.ReadInfo(m.Data); err != nil {
					t.Errorf("module %s: Data is not a plain ELF module: %v", m.Name, err)
				}
				if strings.HasSuffix(m.ImagePath, ".xz") || !strings.HasSuffix(m.ImagePath, ".ko") {
					t.Errorf("module %s: ImagePath %q, want a plain .ko", m.Name, m.ImagePath)
				}
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal([]string(a), []string(b))
})

func TestResolveErrors(t *testing.T) {
	tr := openFixture(t)
	tests := []struct {
		include []string
		want    string
	}{
		{[]string{"virtio_nett"}, `"virtio_nett" matches no module file and no built-in module`},
		{[]string{"zz*"}, `"zz*" matches no module`},
		{[]string{"needs_missing"}, "needs_missing depends on nothere"},
		{[]string{"wrongname"}, `.modinfo name "other" does not match the file name`},
	}
	for _, tt := range tests {
		_, err := tr.Resolve(tt.include, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Resolve(%v) = %v, want an error containing %q", tt.include, err, tt.want)
		}
	}
	if _, err := tr.Resolve([]string{"nope"}, nil); !errors.Is(err, ErrNoModule) {
		t.Errorf("Resolve(nope) = %v, want ErrNoModule", err)
	}
}

func TestUpdatesWin(t *testing.T) {
	tr := openFixture(t)
	s, err := tr.Resolve([]string{"e1000e"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.Get("e1000e")
	if m.Path != "updates/dkms/e1000e.ko" || m.Info.Aliases[0] != "new" {
		t.Errorf("Resolve(e1000e) took %s (aliases %v), want updates/dkms/e1000e.ko", m.Path, m.Info.Aliases)
	}
}

func TestIndexFiles(t *testing.T) {
	tr := openFixture(t)
	s, err := tr.Resolve([]string{"virtio_net", "virtio_pci", "crc-t10dif"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDep := `kernel/crypto/crct10dif.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/lib/crc-t10dif.ko:
kernel/net/core/failover.ko:
`
	if diff := cmp.Diff(wantDep, string(s.ModulesDep())); diff != "" {
		t.Errorf("ModulesDep() mismatch (-want +got):\n%s", diff)
	}
	wantAlias := `# Aliases extracted from modules themselves.
alias virtio:d00000001v* virtio_net
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
`
	if diff := cmp.Diff(wantAlias, string(s.ModulesAlias())); diff != "" {
		t.Errorf("ModulesAlias() mismatch (-want +got):\n%s", diff)
	}
	wantSoftdep := `# Soft dependencies extracted from modules themselves.
softdep crc_t10dif pre: crct10dif
`
	if diff := cmp.Diff(wantSoftdep, string(s.ModulesSoftdep())); diff != "" {
		t.Errorf("ModulesSoftdep() mismatch (-want +got):\n%s", diff)
	}
	// Each line, read from its end as modprobe does, loads every module
	// after the modules it depends on.
	for _, line := range strings.Split(strings.TrimSpace(string(s.ModulesDep())), "\n") {
		file, deps, _ := strings.Cut(line, ":")
		list := append(strings.Fields(deps), file)
		loaded := map[string]bool{}
		for i := len(list) - 2; i >= -1; i-- {
			p := file
			if i >= 0 {
				p = list[i]
			}
			m, _ := s.Get(kmod.Name(p))
			for _, d := range m.Info.Depends {
				if !loaded[d] {
					t.Errorf("modules.dep line %q loads %s before its dependency %s", line, m.Name, d)
				}
			}
			loaded[m.Name] = true
		}
	}
}
