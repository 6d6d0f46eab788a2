package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/spf13/cobra"
)

func newInitrdPackCmd() *cobra.Command {
	var (
		compression string
		level       int
		base        []string
	)
	cmd := &cobra.Command{
		Use:   "pack DIR OUT",
		Short: "Pack a directory into a reproducible initrd",
		Long: `Pack the directory tree DIR into the initrd OUT: entries sorted, owners
root, mtimes from the SOURCE_DATE_EPOCH environment variable (default 0),
inode numbers in name order, so that the same tree gives the same bytes.
With --base, DIR is laid over existing initrds (later entries win), whose
owners and device nodes are kept.`,
		Example: `  mkbuild initrd pack rootfs/ out/initrd
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) mkbuild initrd pack -c zstd rootfs/ initrd.zst
  mkbuild initrd pack --base corepure64.gz overlay/ remastered.gz`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := initramfs.ParseCompression(compression)
			if err != nil {
				return fmt.Errorf("--compression: %w", err)
			}
			epoch, err := initramfs.ParseSourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
			if err != nil {
				return err
			}
			a := initramfs.New()
			for _, b := range base {
				ba, err := initramfs.ReadFile(b)
				if err != nil {
					return fmt.Errorf("--base: %w", err)
				}
				a.Merge(ba)
			}
			overlay := initramfs.New()
			if err := overlay.AddTree(args[0], ""); err != nil {
				return err
			}
			a.Merge(overlay)
			return writeFileAtomic(args[1], func(f *os.File) error {
				return a.Write(f, initramfs.WriteOptions{Compression: c, Level: level, SourceDateEpoch: epoch})
			})
		},
	}
	cmd.Flags().StringVarP(&compression, "compression", "c", "gzip", "none, gzip, zstd or xz")
	cmd.Flags().IntVarP(&level, "level", "l", 0, fmt.Sprintf("compression level (0: gzip %d, zstd %d)", initramfs.DefaultGzipLevel, initramfs.DefaultZstdLevel))
	cmd.Flags().StringArrayVar(&base, "base", nil, "initrd to lay DIR over (repeatable, in order)")
	return cmd
}

// writeFileAtomic writes path through a temporary file in the same
// directory, renamed into place only when write succeeds.
func writeFileAtomic(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
