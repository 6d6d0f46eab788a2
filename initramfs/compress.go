package initramfs

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

// Compression names an initrd compression.
type Compression string

// The compressions. All are read; Lz4, Bzip2 and Lzma are read only.
const (
	None  Compression = "none"
	Gzip  Compression = "gzip"
	Zstd  Compression = "zstd"
	Xz    Compression = "xz"
	Lz4   Compression = "lz4"
	Bzip2 Compression = "bzip2"
	Lzma  Compression = "lzma"
)

// Default levels, used when WriteOptions.Level is 0, chosen with
// scripts/bench/10-initramfs.sh on a 200 MB tree on two cores. Parallel
// gzip level 7 writes within 2% of GNU gzip -9's size about three times
// faster; klauspost's levels 8 and 9 gain under 1% more and cost two to
// three times the time (level 9 is slower than GNU gzip -9). zstd level 3
// (as the zstd tool's default) is smaller than gzip -9 and faster still.
const (
	DefaultGzipLevel = 7
	DefaultZstdLevel = 3
)

// ParseCompression parses a compression name for writing: "none" (or ""),
// "gzip" ("gz"), "zstd" ("zst"), "xz".
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "cpio":
		return None, nil
	case "gzip", "gz":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	case "xz":
		return Xz, nil
	case "lz4", "bzip2", "lzma":
		return "", fmt.Errorf("%w: compression %q can be read but not written; write gzip, zstd, xz or none", ErrUnsupported, s)
	}
	return "", fmt.Errorf("%w: compression %q; want none, gzip, zstd or xz", ErrUnsupported, s)
}

// WriteOptions control [Archive.Write].
type WriteOptions struct {
	// Compression of the output; "" means None.
	Compression Compression
	// Level is the compression level: gzip 1–9 (default DefaultGzipLevel),
	// zstd 1–22 as the zstd tool counts (default DefaultZstdLevel, mapped
	// onto klauspost/compress's four encoder levels). Ignored for xz
	// (single-threaded and slow: a few MB/s) and none.
	Level int
	// SourceDateEpoch is the mtime of every entry, in seconds since
	// 1970 (default 0). It must fit the format's 32 bits.
	SourceDateEpoch int64
	// Concurrency is how many blocks gzip and zstd compress in parallel;
	// 0 means GOMAXPROCS. The output does not depend on it.
	Concurrency int
}

// gzipBlock is pgzip's block size. Output depends on it (each block is
// compressed separately, with the previous block's tail as dictionary), so
// it is fixed.
const gzipBlock = 1 << 20

// compressor returns a WriteCloser that compresses into w. Closing it
// flushes the compressed stream but does not close w.
func compressor(w io.Writer, opts WriteOptions) (io.WriteCloser, error) {
	conc := opts.Concurrency
	if conc <= 0 {
		conc = runtime.GOMAXPROCS(0)
	}
	switch opts.Compression {
	case "", None:
		return nopCloser{w}, nil
	case Gzip:
		level := opts.Level
		if level == 0 {
			level = DefaultGzipLevel
		}
		if level < 1 || level > 9 {
			return nil, fmt.Errorf("initramfs: gzip level %d out of range 1-9", level)
		}
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("initramfs: gzip: %w", err)
		}
		// A fixed header: mtime 0, no name, OS "Unix" as GNU gzip writes.
		zw.ModTime = time.Unix(0, 0)
		zw.OS = 3
		if err := zw.SetConcurrency(gzipBlock, 2*conc); err != nil {
			return nil, fmt.Errorf("initramfs: gzip: %w", err)
		}
		return zw, nil
	case Zstd:
		level := opts.Level
		if level == 0 {
			level = DefaultZstdLevel
		}
		if level < 1 || level > 22 {
			return nil, fmt.Errorf("initramfs: zstd level %d out of range 1-22", level)
		}
		// Job-based parallel compression splits the input at fixed
		// offsets whatever the concurrency, so the output is the same on
		// every machine; it needs a concurrency of at least 2 to engage.
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(max(conc, 2)),
			zstd.WithConcurrentBlocks(true),
			zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("initramfs: zstd: %w", err)
		}
		return zw, nil
	case Xz:
		// As the kernel's docs advise (xz --check=crc32 --lzma2=dict=1MiB):
		// its decoder checks CRC32 (CRC64 only when configured), and a
		// 1 MiB dictionary keeps its memory small. Here the small
		// dictionary also makes ulikunitz/xz's single-threaded encoder
		// about 2.5 times faster, at no cost in size on initrd data.
		zw, err := xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}.NewWriter(w)
		if err != nil {
			return nil, fmt.Errorf("initramfs: xz: %w", err)
		}
		return zw, nil
	case Lz4, Bzip2, Lzma:
		return nil, fmt.Errorf("%w: %s can be read but not written", ErrUnsupported, opts.Compression)
	}
	return nil, fmt.Errorf("%w: compression %q", ErrUnsupported, opts.Compression)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// ParseSourceDateEpoch parses a SOURCE_DATE_EPOCH value
// (reproducible-builds.org: decimal seconds since 1970); "" means 0.
func ParseSourceDateEpoch(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > math.MaxUint32 {
		return 0, fmt.Errorf("initramfs: SOURCE_DATE_EPOCH %q: want decimal seconds from 0 to %d", s, uint32(math.MaxUint32))
	}
	return v, nil
}
