// Package nstest helps netboot's tests run real sockets inside network
// namespaces: Do runs Go code (socket creation) inside a namespace
// created with e2e/harness, and Veth links two namespaces.
package nstest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/razor-mk/razor-mk/e2e/harness"
	"github.com/razor-mk/razor-mk/internal/pxelab"
)

// Do runs fn on a fresh OS thread that has entered the network namespace
// ns (as `ip netns add` names it). Sockets fn opens stay in ns after Do
// returns, usable from any goroutine. The thread returns to its own
// namespace afterwards, so no other goroutine ever runs in ns by accident.
func Do(ns string, fn func() error) error {
	return pxelab.InNetns(ns, fn)
}

// Veth creates a veth pair, end a in namespace na and end b in nb, each
// up with its address (CIDR, "" for none) and IPv6 duplicate address
// detection off so that link-local addresses are usable at once.
func Veth(t testing.TB, na *harness.Netns, a, cidrA string, nb *harness.Netns, b, cidrB string) {
	t.Helper()
	NoDAD(t, na)
	NoDAD(t, nb)
	na.MustIP("link", "add", a, "type", "veth", "peer", "name", b, "netns", nb.Name)
	for _, e := range []struct {
		ns   *harness.Netns
		name string
		cidr string
	}{{na, a, cidrA}, {nb, b, cidrB}} {
		if e.cidr != "" {
			e.ns.MustIP("addr", "add", e.cidr, "dev", e.name)
		}
		e.ns.MustIP("link", "set", e.name, "up")
	}
}

// NoDAD turns IPv6 duplicate address detection off for interfaces
// created in ns from now on.
func NoDAD(t testing.TB, ns *harness.Netns) {
	t.Helper()
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		if out, err := exec.Command("ip", "netns", "exec", ns.Name, "sysctl", "-qw", k).CombinedOutput(); err != nil {
			t.Fatalf("sysctl %s in %s: %v: %s", k, ns.Name, err, strings.TrimSpace(string(out)))
		}
	}
}

// Require skips t unless namespaces, root and the named programs exist.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	harness.RequireNetns(t)
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s (installed by scripts/deps.sh): %v", p, err)
		}
	}
}
