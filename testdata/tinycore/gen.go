//go:build ignore

// gen writes the Tiny Core-shaped fixture mirror the tests generate for
// themselves (builder/tinycore/tctest) to a directory, for looking at it
// or serving it by hand:
//
//	go run ./testdata/tinycore/gen.go -out /tmp/tc-mirror [-marker] [-kernel FILE]
//	mkbuild build --mirror ... (tinycore.mirror: /tmp/tc-mirror)
//
// Nothing it writes is committed: the .tcz files are squashfs images made
// with mksquashfs (squashfs-tools) at generation time.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/razor-mk/razor-mk/builder/tinycore/tctest"
)

func main() {
	out := flag.String("out", "", "directory to write the mirror to (required)")
	build := flag.String("build", tctest.DefaultBuild, "build directory: x86_64 or x86")
	kernel := flag.String("kernel", "", "a kernel image to publish as vmlinuz64/vmlinuz (default: a stand-in)")
	marker := flag.Bool("marker", false, "ship the static marker program (built with go) instead of a shell script")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -out DIR is required")
		os.Exit(2)
	}
	o := tctest.Options{Build: *build, Kernel: *kernel}
	if *marker {
		tmp, err := os.MkdirTemp("", "tc-marker-*")
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(tmp)
		goarch := "amd64"
		if *build == "x86" {
			goarch = "386"
		}
		if o.Marker, err = tctest.BuildMarker(tmp, goarch); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
	f, err := tctest.Generate(*out, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(f.Extensions))
	for n := range f.Extensions {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("mirror %s: release %s (%s, kernel %s), %d extensions under %s/tcz:\n", f.Dir, f.Version, f.Build, f.KernelVersion, len(names), f.Repo)
	for _, n := range names {
		fmt.Println("  " + n)
	}
}
