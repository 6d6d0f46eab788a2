package modprobe

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/razor-mk/razor-mk/kmod"
	"golang.org/x/sys/unix"
)

// LoadFunc inserts one module file into the kernel with the given
// parameters ("key=value key2=value2"). A module that is already loaded
// is not an error.
type LoadFunc func(path, params string) error

// LoadFile is the LoadFunc of a real system. An uncompressed module goes
// to finit_module(2). A compressed one is first offered to the kernel
// (MODULE_INIT_COMPRESSED_FILE, kernels built with MODULE_DECOMPRESS);
// when the kernel cannot decompress it, it is decompressed here and
// passed to init_module(2).
func LoadFile(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("modprobe: %w", err)
	}
	defer f.Close()
	head := make([]byte, kmod.MagicLen)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("modprobe: %s: %w", path, err)
	}
	if kmod.Detect(head[:n]) == kmod.None {
		return loaded(path, unix.FinitModule(int(f.Fd()), params, 0))
	}
	err = unix.FinitModule(int(f.Fd()), params, unix.MODULE_INIT_COMPRESSED_FILE)
	if err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("modprobe: finit_module %s: %w", path, err)
	}
	image, err := kmod.Decompress(f)
	if err != nil {
		return fmt.Errorf("modprobe: %s: %w", path, err)
	}
	return loaded(path, unix.InitModule(image, params))
}

func loaded(path string, err error) error {
	if err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	}
	return fmt.Errorf("modprobe: loading %s: %w", path, err)
}
