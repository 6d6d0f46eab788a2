package main

import (
	"github.com/spf13/cobra"
)

// newInitrdCmd groups the operator's initrd tools.
func newInitrdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "initrd",
		Short: "Inspect and pack initrds: ls, cat, extract, diff, pack",
		Long: `Inspect initrds (cpio newc archives, plain or compressed with gzip, zstd,
xz, lz4, bzip2 or lzma, several concatenated as boot loaders and Tiny Core's
core.gz have them) and pack directories into reproducible ones.

Later entries replace earlier ones, as when the kernel unpacks them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newInitrdLsCmd(), newInitrdCatCmd(), newInitrdExtractCmd(), newInitrdDiffCmd(), newInitrdPackCmd())
	return cmd
}
