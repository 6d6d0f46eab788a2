// Package kmodtest generates kernel-module fixtures for tests: small ELF64
// relocatable files whose only content is a .modinfo section, the part of
// a module that image builds read, laid out in a modules tree like
// /lib/modules/<kver>, optionally compressed as .ko.xz, .ko.zst or .ko.gz.
package kmodtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ELF returns an x86-64 ELF relocatable object with a .modinfo section
// holding the NUL-terminated key=value strings of modinfo, in order.
func ELF(modinfo ...string) []byte {
	var info bytes.Buffer
	for _, kv := range modinfo {
		info.WriteString(kv)
		info.WriteByte(0)
	}
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	infoOff := uint64(ehsize)
	strOff := infoOff + uint64(info.Len())
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	w := func(v any) { _ = binary.Write(&b, le, v) }
	// e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, System V ABI.
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(1))  // e_type: ET_REL
	w(uint16(62)) // e_machine: EM_X86_64
	w(uint32(1))  // e_version
	w(uint64(0))  // e_entry
	w(uint64(0))  // e_phoff
	w(shOff)      // e_shoff
	w(uint32(0))  // e_flags
	w(uint16(ehsize))
	w(uint16(0)) // e_phentsize
	w(uint16(0)) // e_phnum
	w(uint16(shentsize))
	w(uint16(3)) // e_shnum: null, .modinfo, .shstrtab
	w(uint16(2)) // e_shstrndx
	b.Write(info.Bytes())
	b.Write(shstr)
	for uint64(b.Len()) < shOff {
		b.WriteByte(0)
	}
	section := func(name, typ uint32, flags, off, size, align uint64) {
		w(name)
		w(typ)
		w(flags)
		w(uint64(0)) // sh_addr
		w(off)
		w(size)
		w(uint32(0)) // sh_link
		w(uint32(0)) // sh_info
		w(align)
		w(uint64(0)) // sh_entsize
	}
	section(0, 0, 0, 0, 0, 0)
	section(1, 1, 2, infoOff, uint64(info.Len()), 1) // .modinfo: PROGBITS, ALLOC
	section(10, 3, 0, strOff, uint64(len(shstr)), 1) // .shstrtab: STRTAB
	return b.Bytes()
}

// Module describes one fixture module.
type Module struct {
	// Path in the tree, e.g. "kernel/drivers/net/virtio_net.ko.xz"; the
	// suffix selects the compression.
	Path string
	// Modinfo are the key=value strings; a name= is added from the path
	// unless one is given.
	Modinfo []string
}

// WriteTree writes the modules under dir (a /lib/modules/<kver>) and, when
// builtin is not empty, a modules.builtin listing those names.
func WriteTree(dir string, mods []Module, builtin []string) error {
	for _, m := range mods {
		info := m.Modinfo
		hasName := false
		for _, kv := range info {
			hasName = hasName || strings.HasPrefix(kv, "name=")
		}
		if !hasName {
			base := filepath.Base(m.Path)
			base = base[:strings.Index(base, ".ko")]
			info = append([]string{"name=" + strings.ReplaceAll(base, "-", "_")}, info...)
		}
		data, err := Compress(m.Path, ELF(info...))
		if err != nil {
			return err
		}
		p := filepath.Join(dir, m.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	if len(builtin) > 0 {
		var b strings.Builder
		for _, n := range builtin {
			fmt.Fprintf(&b, "kernel/builtin/%s.ko\n", n)
		}
		if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Compress compresses data by the suffix of name (.ko.xz, .ko.zst,
// .ko.gz; anything else is returned as is).
func Compress(name string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	switch {
	case strings.HasSuffix(name, ".xz"):
		w, err := xz.WriterConfig{DictCap: 1 << 16}.NewWriter(&b)
		if err != nil {
			return nil, err
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			return nil, err
		}
	case strings.HasSuffix(name, ".zst"):
		w, err := zstd.NewWriter(&b)
		if err != nil {
			return nil, err
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			return nil, err
		}
	case strings.HasSuffix(name, ".gz"):
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return data, nil
	}
	return b.Bytes(), nil
}

// Sign appends a module signature as the kernel's sign-file frames it
// (signature data, struct module_signature with id_type PKCS#7, the
// magic); the signature data is filler, which is all a presence check
// looks at.
func Sign(data []byte) []byte {
	sig := bytes.Repeat([]byte{0x30}, 64)
	out := append(bytes.Clone(data), sig...)
	info := []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(sig))}
	out = append(out, info...)
	return append(out, "~Module signature appended~\n"...)
}
