// Package version holds the build's version stamp. The Makefile sets the
// variables with -ldflags "-X" from `git describe`; a plain `go build` leaves
// the defaults.
package version

import (
	"fmt"
	"runtime"
)

// Set at link time by the Makefile.
var (
	// Version is the release, from `git describe --tags --always --dirty`.
	Version = "dev"
	// Commit is the full commit hash the binary was built from.
	Commit = "unknown"
)

// String returns a one-line description: program, version, commit, Go version.
func String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s %s/%s)", program, Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
