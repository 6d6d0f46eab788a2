package modinfo

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/agent/kmod"
)

// makeModule builds a minimal ELF64 relocatable object, like a .ko, whose
// .modinfo section holds fields (NUL-terminated key=value strings).
func makeModule(fields ...string) []byte {
	var modinfo bytes.Buffer
	for _, f := range fields {
		modinfo.WriteString(f)
		modinfo.WriteByte(0)
	}
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(modinfo.Len())
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&b, le, hdr)
	b.Write(modinfo.Bytes())
	b.Write(shstr)
	b.Write(make([]byte, shOff-uint64(b.Len())))
	binary.Write(&b, le, elf.Section64{})
	binary.Write(&b, le, elf.Section64{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: modOff, Size: uint64(modinfo.Len()), Addralign: 1})
	binary.Write(&b, le, elf.Section64{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstr)), Addralign: 1})
	return b.Bytes()
}

func TestParse(t *testing.T) {
	img := makeModule("alias=virtio:d00000001v*", "depends=virtio_ring,virtio,net_failover", "license=GPL", "name=virtio_net", "firmware=x.bin", "vermagic=6.1.0 SMP mod_unload")
	got, err := Parse(img)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := Info{
		Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"},
		Aliases: []string{"virtio:d00000001v*"}, Firmware: []string{"x.bin"},
		Fields: []string{"alias=virtio:d00000001v*", "depends=virtio_ring,virtio,net_failover", "license=GPL", "name=virtio_net", "firmware=x.bin", "vermagic=6.1.0 SMP mod_unload"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	if _, err := Parse([]byte("not an elf")); err == nil {
		t.Errorf("Parse(garbage) = nil, want an error")
	}
}

func TestWriteIndexes(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(makeModule("name=virtio_net", "depends=virtio_ring,virtio,net_failover", "alias=virtio:d00000001v*"))
	zw.Close()
	write("kernel/drivers/net/virtio_net.ko.gz", gz.Bytes())
	write("kernel/drivers/net/net_failover.ko", makeModule("name=net_failover", "depends=failover"))
	write("kernel/net/core/failover.ko", makeModule("name=failover", "depends="))
	write("kernel/drivers/virtio/virtio.ko", makeModule("name=virtio", "depends="))
	write("kernel/drivers/virtio/virtio_ring.ko", makeModule("name=virtio_ring", "depends="))
	write("kernel/drivers/virtio/virtio_pci.ko", makeModule("name=virtio_pci", "depends=virtio_ring,virtio", "alias=pci:v00001AF4d*sv*sd*bc*sc*i*"))
	if err := WriteIndexes(dir); err != nil {
		t.Fatalf("WriteIndexes = %v", err)
	}
	dep, _ := os.ReadFile(filepath.Join(dir, "modules.dep"))
	wantDep := `kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko.gz: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/net/core/failover.ko:
`
	if diff := cmp.Diff(wantDep, string(dep)); diff != "" {
		t.Errorf("modules.dep mismatch (-want +got):\n%s", diff)
	}
	// The indexes round-trip through the agent's parser and give a valid
	// load order.
	deps, err := kmod.ParseDep(bytes.NewReader(dep))
	if err != nil {
		t.Fatal(err)
	}
	order, err := kmod.LoadOrder(deps, "virtio_net")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range order {
		got = append(got, m.Name)
	}
	if diff := cmp.Diff([]string{"virtio_ring", "virtio", "failover", "net_failover", "virtio_net"}, got); diff != "" {
		t.Errorf("LoadOrder(virtio_net) mismatch (-want +got):\n%s", diff)
	}
	alias, _ := os.ReadFile(filepath.Join(dir, "modules.alias"))
	if want := "alias virtio:d00000001v* virtio_net\nalias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n"; string(alias) != want {
		t.Errorf("modules.alias = %q, want %q", alias, want)
	}

	write("kernel/extra/broken.ko", makeModule("name=broken", "depends=absent"))
	if err := WriteIndexes(dir); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("WriteIndexes(missing dependency) = %v, want an error naming it", err)
	}
}

func TestNoModinfo(t *testing.T) {
	img := makeModule()
	// Rename the section so that it is not found.
	i := bytes.Index(img, []byte(".modinfo"))
	copy(img[i:], ".notinfo")
	if _, err := Parse(img); !errors.Is(err, ErrNoModinfo) {
		t.Errorf("Parse(no .modinfo) = %v, want ErrNoModinfo", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(makeModule("name=x", "alias=a*"))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, in []byte) {
		info, err := Parse(in)
		if err == nil && len(info.Fields) < len(info.Aliases) {
			t.Errorf("Parse: more aliases than fields")
		}
	})
}
