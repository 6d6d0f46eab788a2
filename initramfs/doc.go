// Package initramfs reads, edits and writes Linux initramfs images: cpio
// archives in the "newc" format (magic 070701), plain or compressed, as the
// kernel unpacks them at boot (Documentation/driver-api/early-userspace/
// buffer-format.rst).
//
// An [Archive] is an ordered set of [Record]s, each path at most once. Images
// are built by adding files, directories, symlinks, hardlinks and device
// nodes (from memory, from files on disk or whole directory trees), by
// merging overlays over a base ([Archive.Merge]: a later entry replaces an
// earlier one, as the kernel does when it unpacks concatenated archives) and
// by explicit removals. [Archive.Write] is deterministic: entries sorted by
// name, missing parent directories created (0755, root), every mtime set to
// the SOURCE_DATE_EPOCH given in [WriteOptions], owners root unless a record
// says otherwise, inode numbers assigned in sorted order, and compressors
// whose output does not depend on timing or the number of CPUs. The same
// inputs give the same bytes.
//
// [Read] takes what boot loaders hand the kernel: gzip, zstd, xz, lz4 (frame
// and the kernel's legacy format), bzip2, lzma or plain cpio, detected by
// magic; several archives one after another (a Tiny Core core.gz is
// rootfs.gz followed by modules.gz; an uncompressed early-microcode archive
// is followed by a compressed one), each ended by TRAILER!!! and separated by
// zero padding. Later entries replace earlier ones. Bad input (bad magic,
// truncation, malformed headers, names that are absolute, contain "..", or
// are longer than PATH_MAX, absurd sizes) is refused with an error that names
// the entry and its offset. Memory use follows the data actually present, not
// the sizes that headers claim.
//
// The newc codec is our own (newc.go, read.go, write.go) rather than
// github.com/cavaliergopher/cpio or github.com/u-root/u-root/pkg/cpio:
// cavaliergopher/cpio neither reads nor writes the device numbers of device
// nodes (rdevmajor/rdevminor), ignores malformed hex digits, and stops at the
// first TRAILER!!!; u-root's reader needs an io.ReaderAt over the whole
// uncompressed stream (file contents are read lazily, which fails or forces
// buffering when the input is a decompressor), allocates name buffers of
// whatever size a header claims (up to 4 GiB), silently rewrites absolute and
// ".." names instead of refusing them, and registers its formats in init().
// Compression uses github.com/klauspost/compress (gzip, zstd),
// github.com/klauspost/pgzip (parallel gzip), github.com/ulikunitz/xz (xz,
// lzma) and github.com/pierrec/lz4/v4 (lz4, read only).
package initramfs
