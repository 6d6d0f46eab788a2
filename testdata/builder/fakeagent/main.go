// Command fakeagent stands in for mk-agent in the image builder's tests:
// a static Go binary whose build information (tags, dependencies) the
// builder's variant checks read. Built with -tags sshcode it links an SSH
// package, which the prod checks must refuse.
package main

import (
	"fmt"
	"os"
)

// extra is set by the sshcode build.
var extra func() string

func main() {
	fmt.Println("fake mk-agent", os.Args[1:])
	if extra != nil && len(os.Args) > 99 {
		fmt.Println(extra())
	}
}
