package kmod_test

import (
	"bytes"
	"testing"

	"github.com/razor-mk/razor-mk/kmod"
	"github.com/razor-mk/razor-mk/kmod/kmodtest"
)

func TestReadSignature(t *testing.T) {
	plain := kmodtest.ELF("name=x", "depends=")
	signed := kmodtest.Sign(plain)
	s, ok := kmod.ReadSignature(signed)
	if !ok || s.IDType != kmod.SigIDPKCS7 || s.Len != 64 || s.ModuleLen != len(plain) {
		t.Errorf("ReadSignature(signed) = %+v, %v; want PKCS#7, 64 bytes, module %d", s, ok, len(plain))
	}
	if !kmod.Signed(signed) {
		t.Errorf("Signed(signed) = false")
	}
	// sig_len larger than the image: framing broken, not a signature.
	broken := bytes.Clone(signed)
	broken[len(broken)-len(kmod.SignatureMagic)-1] = 0xff
	broken[len(broken)-len(kmod.SignatureMagic)-3] = 0xff
	for name, data := range map[string][]byte{
		"plain":       plain,
		"magic only":  []byte(kmod.SignatureMagic),
		"broken len":  broken,
		"empty":       nil,
		"truncated":   signed[:len(signed)-1],
		"zero sigLen": append(make([]byte, 12), kmod.SignatureMagic...),
	} {
		if _, ok := kmod.ReadSignature(data); ok {
			t.Errorf("ReadSignature(%s) = true, want false", name)
		}
		if kmod.Signed(data) {
			t.Errorf("Signed(%s) = true, want false", name)
		}
	}
	// A PGP-framed signature is a signature, but not one the kernel checks.
	pgp := bytes.Clone(signed)
	pgp[len(pgp)-len(kmod.SignatureMagic)-10] = kmod.SigIDPGP
	if s, ok := kmod.ReadSignature(pgp); !ok || s.IDType != kmod.SigIDPGP || kmod.Signed(pgp) {
		t.Errorf("ReadSignature(pgp) = %+v, %v, Signed = %v; want found, PGP, not Signed", s, ok, kmod.Signed(pgp))
	}
}

// Compressed modules carry the signature inside: it is found only after
// decompression, and decompression returns it intact.
func TestSignatureCompressed(t *testing.T) {
	signed := kmodtest.Sign(kmodtest.ELF("name=x"))
	for _, name := range []string{"x.ko.xz", "x.ko.zst", "x.ko.gz"} {
		t.Run(name, func(t *testing.T) {
			c, err := kmodtest.Compress(name, signed)
			if err != nil {
				t.Fatal(err)
			}
			if kmod.Signed(c) {
				t.Errorf("Signed(compressed %s) = true; the magic cannot show through compression", name)
			}
			d, err := kmod.Decompress(bytes.NewReader(c))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d, signed) || !kmod.Signed(d) {
				t.Errorf("Decompress(%s) lost the signature (signed %v)", name, kmod.Signed(d))
			}
		})
	}
}

func FuzzReadSignature(f *testing.F) {
	f.Add(kmodtest.Sign(kmodtest.ELF("name=x")))
	f.Add([]byte(kmod.SignatureMagic))
	f.Add(append(bytes.Repeat([]byte{0xff}, 12), kmod.SignatureMagic...))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ok := kmod.ReadSignature(data)
		if !ok {
			return
		}
		if s.Len <= 0 || s.ModuleLen < 0 || s.ModuleLen+s.Len+12+len(kmod.SignatureMagic) != len(data) {
			t.Fatalf("ReadSignature = %+v for %d bytes: framing does not add up", s, len(data))
		}
	})
}
