package kmod

import (
	"bytes"
	"encoding/binary"
)

// SignatureMagic ends a module that carries an appended signature
// (MODULE_SIG_STRING in the kernel's include/linux/module_signature.h).
// The signature is appended to the plain ELF image, before any
// compression: a compressed module is checked after Decompress.
const SignatureMagic = "~Module signature appended~\n"

// sigInfoLen is the size of struct module_signature, which sits between
// the signature data and the magic: algo, hash, id_type, signer_len,
// key_id_len (one byte each), three bytes of padding, and sig_len
// (32-bit big-endian).
const sigInfoLen = 12

// Signature ID types (enum pkey_id_type).
const (
	SigIDPGP   = 0
	SigIDX509  = 1
	SigIDPKCS7 = 2 // what the kernel's sign-file writes, and all the kernel accepts
)

// Signature describes a module's appended signature. It says that a
// signature is there and how it is framed, not that it verifies: only
// the kernel, with its keyring, can tell.
type Signature struct {
	// IDType is SigIDPKCS7 for every signature the kernel can check.
	IDType uint8
	// Len is the length of the signature data (the PKCS#7 message).
	Len int
	// ModuleLen is the length of the module image before the signature.
	ModuleLen int
}

// ReadSignature finds the appended signature of a plain (decompressed)
// module image. It reports false when data does not end with
// SignatureMagic, or when the module_signature before the magic claims
// more signature data than the image holds.
func ReadSignature(data []byte) (Signature, bool) {
	if !bytes.HasSuffix(data, []byte(SignatureMagic)) {
		return Signature{}, false
	}
	end := len(data) - len(SignatureMagic)
	if end < sigInfoLen {
		return Signature{}, false
	}
	info := data[end-sigInfoLen : end]
	sigLen := int64(binary.BigEndian.Uint32(info[8:12]))
	modLen := int64(end-sigInfoLen) - sigLen
	if sigLen == 0 || modLen < 0 {
		return Signature{}, false
	}
	return Signature{IDType: info[2], Len: int(sigLen), ModuleLen: int(modLen)}, true
}

// Signed reports whether a plain module image carries an appended
// signature the kernel would look at (PKCS#7 framing).
func Signed(data []byte) bool {
	s, ok := ReadSignature(data)
	return ok && s.IDType == SigIDPKCS7
}
