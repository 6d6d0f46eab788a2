package main

import (
	"github.com/razor-mk/razor-mk/internal/cli"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mkbuild",
		Short: "Build and inspect Razor microkernel images",
		Long: `mkbuild builds the Razor microkernel: a Linux kernel (vmlinuz) and a cpio
initrd with mk-agent inside, in a dev variant (SSH access with your keys) or
a prod variant (no SSH, no password login), from Debian's kernel and
busybox or from a Tiny Core Linux release. Each build writes vmlinuz,
initrd and manifest.json (every file with its size and sha256, the sources
and their checksums), byte-for-byte reproducible for the same inputs and
SOURCE_DATE_EPOCH.

It also inspects initrds (gzip, zstd, xz, lz4 or plain cpio, concatenated
archives too): mkbuild initrd ls|cat|extract|diff.`,
	}
	root.AddCommand(newBuildCmd(), newInitrdCmd(), cli.VersionCmd("mkbuild"))
	return root
}
