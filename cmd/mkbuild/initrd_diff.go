package main

import (
	"bufio"
	"errors"
	"fmt"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/spf13/cobra"
)

// errDiffer is returned by `initrd diff --exit-code` when the initrds differ.
var errDiffer = errors.New("mkbuild: initrds differ")

func newInitrdDiffCmd() *cobra.Command {
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show the paths added, removed and changed between two initrds",
		Long: `Compare two initrds path by path. Each line is "+ path" (only in NEW),
"- path" (only in OLD) or "~ path: what changed" where what changed lists
type, mode, owner, size, content, target (of a symlink or hardlink) and
device. A summary line follows.`,
		Example: `  mkbuild initrd diff old/initrd new/initrd
  mkbuild initrd diff --exit-code a.gz b.gz && echo identical`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := initramfs.ReadFile(args[0])
			if err != nil {
				return err
			}
			new, err := initramfs.ReadFile(args[1])
			if err != nil {
				return err
			}
			changes := initramfs.Diff(old, new)
			w := bufio.NewWriter(cmd.OutOrStdout())
			counts := make(map[initramfs.ChangeKind]int)
			for _, c := range changes {
				counts[c.Kind]++
				fmt.Fprintln(w, c.String())
			}
			fmt.Fprintf(w, "%d added, %d removed, %d changed\n", counts[initramfs.Added], counts[initramfs.Removed], counts[initramfs.Changed])
			if err := w.Flush(); err != nil {
				return err
			}
			if exitCode && len(changes) > 0 {
				cmd.SilenceErrors = true
				return errDiffer
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit with status 1 when the initrds differ")
	return cmd
}
