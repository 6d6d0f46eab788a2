package main

import (
	"bufio"
	"fmt"
	"strconv"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/spf13/cobra"
)

func newInitrdLsCmd() *cobra.Command {
	var namesOnly bool
	cmd := &cobra.Command{
		Use:   "ls FILE",
		Short: "List an initrd's entries: mode, owner, size, name, link target",
		Long: `List every entry of the initrd, sorted by name, one per line:
mode, uid:gid, size (major, minor for device nodes), name, and
"-> target" for a symlink or "link to file" for a hardlink.`,
		Example: `  mkbuild initrd ls out/initrd
  mkbuild initrd ls -1 corepure64.gz | grep ^lib/modules/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := initramfs.ReadFile(args[0])
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			recs := a.Records()
			byName := make(map[string]initramfs.Record, len(recs))
			width, owidth := 1, 1
			for _, r := range recs {
				byName[r.Name] = r
				width = max(width, len(sizeColumn(r)))
				owidth = max(owidth, len(owner(r)))
			}
			for _, r := range recs {
				if namesOnly {
					fmt.Fprintln(w, r.Name)
					continue
				}
				shown := r
				if r.Type == initramfs.TypeHardlink {
					if f, ok := byName[r.Target]; ok {
						shown = f
					}
				}
				fmt.Fprintf(w, "%s %-*s %*s %s", shown.ModeString(), owidth, owner(shown), width, sizeColumn(shown), r.Name)
				switch r.Type {
				case initramfs.TypeSymlink:
					fmt.Fprintf(w, " -> %s", r.Target)
				case initramfs.TypeHardlink:
					fmt.Fprintf(w, " link to %s", r.Target)
				}
				fmt.Fprintln(w)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&namesOnly, "names", "1", false, "print names only")
	return cmd
}

func owner(r initramfs.Record) string { return fmt.Sprintf("%d:%d", r.UID, r.GID) }

func sizeColumn(r initramfs.Record) string {
	if r.Type == initramfs.TypeCharDevice || r.Type == initramfs.TypeBlockDevice {
		return fmt.Sprintf("%d,%d", r.Major, r.Minor)
	}
	return strconv.FormatInt(r.Size(), 10)
}
