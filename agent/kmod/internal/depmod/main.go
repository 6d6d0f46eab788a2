// Command depmod writes modules.dep and modules.alias for a modules
// directory from the modules' own .modinfo sections, like
// `depmod -b ROOT RELEASE` does for the text indexes. It is a development
// and test helper: `go run ./agent/kmod/internal/depmod DIR`.
package main

import (
	"fmt"
	"os"

	"github.com/razor-mk/razor-mk/agent/kmod/modinfo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: depmod /lib/modules/RELEASE")
		os.Exit(2)
	}
	if err := modinfo.WriteIndexes(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
