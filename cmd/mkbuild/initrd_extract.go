package main

import (
	"fmt"
	"log/slog"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/spf13/cobra"
)

func newInitrdExtractCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "extract FILE DIR",
		Short: "Unpack an initrd into a directory",
		Long: `Unpack the initrd FILE into DIR (created if missing), as the kernel would:
files, directories, symlinks, hardlinks, device nodes and fifos, with their
modes, and their owners when run as root. Nothing is written outside DIR:
entries reaching out through symlinks are refused. Without root, device
nodes are skipped with a warning.`,
		Example: `  mkbuild initrd extract out/initrd /tmp/initrd-root
  sudo mkbuild initrd extract corepure64.gz /tmp/tc`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := initramfs.ReadFile(args[0])
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			if err := a.ExtractWith(args[1], initramfs.ExtractOptions{Logger: log}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "extracted %d entries to %s\n", a.Len(), args[1])
			return err
		},
	}
}
