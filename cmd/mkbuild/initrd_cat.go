package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/razor-mk/razor-mk/initramfs"
	"github.com/spf13/cobra"
)

func newInitrdCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat FILE PATH",
		Short: "Print the content of one file in an initrd",
		Long: `Print the content of the regular file PATH in the initrd FILE. Symlinks
inside the initrd are followed (as they would be once it is unpacked);
hardlinks print their file's content.`,
		Example: `  mkbuild initrd cat out/initrd etc/os-release
  mkbuild initrd cat corepure64.gz /etc/init.d/tc-config | less`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := initramfs.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := resolve(a, args[1])
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			b, err := r.Content()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}

// maxHops bounds symlink resolution, as the kernel's MAXSYMLINKS does.
const maxHops = 40

// resolve finds the regular file that name denotes in a, following
// symlinks (in every path element) and hardlinks.
func resolve(a *initramfs.Archive, name string) (initramfs.Record, error) {
	p := path.Clean("/" + name)
	for hops := 0; ; hops++ {
		if hops > maxHops {
			return initramfs.Record{}, fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		// Find the first element of p that is a symlink.
		els := strings.Split(strings.TrimPrefix(p, "/"), "/")
		redirected := false
		for i := range els {
			prefix := strings.Join(els[:i+1], "/")
			r, ok := a.Get(prefix)
			if !ok {
				if prefix == "" {
					break
				}
				return initramfs.Record{}, fmt.Errorf("%s: no such entry", name)
			}
			if r.Type == initramfs.TypeSymlink {
				t := r.Target
				if !path.IsAbs(t) {
					t = path.Join("/", path.Dir(prefix), t)
				}
				p = path.Clean(path.Join(t, strings.Join(els[i+1:], "/")))
				redirected = true
				break
			}
			if i < len(els)-1 && r.Type != initramfs.TypeDir {
				return initramfs.Record{}, fmt.Errorf("%s: %s is a %s, not a directory", name, prefix, r.Type)
			}
		}
		if redirected {
			continue
		}
		r, ok := a.Get(p)
		if !ok {
			return initramfs.Record{}, fmt.Errorf("%s: no such entry", name)
		}
		switch r.Type {
		case initramfs.TypeHardlink:
			f, ok := a.Get(r.Target)
			if !ok {
				return initramfs.Record{}, fmt.Errorf("%s: hardlink to missing %s", name, r.Target)
			}
			return f, nil
		case initramfs.TypeFile:
			return r, nil
		}
		return initramfs.Record{}, fmt.Errorf("%s is a %s, not a regular file", name, r.Type)
	}
}
