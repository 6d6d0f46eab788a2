// Command marker is the static program inside the test fixtures'
// marker-bin.tcz extension: it prints one line, "TCZ-MARKER" followed by
// its arguments and the path it runs from (which shows whether the
// extension was loop-mounted under /tmp/tcloop or copied), so that a test
// reading a console or a script's output can tell that an extension's
// install script ran.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	exe, err := os.Executable()
	if err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
	}
	line := fmt.Sprintf("TCZ-MARKER %s exe=%s\n", strings.Join(os.Args[1:], " "), exe)
	if _, err := os.Stdout.WriteString(line); err != nil {
		os.Exit(1)
	}
}
