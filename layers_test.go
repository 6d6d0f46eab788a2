// The layering rule of the module, checked on every `go test ./...`:
//
//   - the contracts both sides read (wire, manifest, tcz, kmod, initramfs)
//     import nothing of the project;
//   - builder imports only manifest, tcz, kmod and initramfs; netboot only
//     wire; agent only wire, tcz and kmod; server only wire, manifest and
//     the DHCP lease type it persists (netboot/dhcp/leases);
//   - internal/daemon, the composition root of razor-netboot serve, is the
//     only package that joins server and netboot;
//   - no product package imports the test lab (internal/testlab), a test
//     helper package or e2e/; only tests and the lab programs (the demo,
//     the benchmarks, fixture generators) do, and no test outside e2e/
//     imports e2e/.
//
// Every package may import its own subtree and internal/version.
package razormk_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/razor-mk/razor-mk/"

// layer is what a top-level area may import besides itself.
type layer struct {
	root    string   // "builder", "internal/daemon", …
	allowed []string // roots it may import; "*" anything but test support
}

var layers = []layer{
	{"wire", nil},
	{"manifest", nil},
	{"tcz", nil},
	{"kmod", nil},
	{"initramfs", nil},
	{"builder", []string{"manifest", "tcz", "kmod", "initramfs"}},
	{"netboot", []string{"wire"}},
	{"agent", []string{"wire", "tcz", "kmod"}},
	{"server", []string{"wire", "manifest", "netboot/dhcp/leases"}},
	{"internal/daemon", []string{"server", "netboot", "wire", "manifest"}},
	{"internal/cli", nil},
	{"internal/version", nil},
	{"internal/syncbuf", nil},
	{"internal/testlab", nil},
	{"cmd", []string{"*"}},
	// Lab programs: they run the product on a lab network and may use the
	// test lab and test helpers.
	{"internal/demo", []string{"*", "test"}},
	{"internal/bench", []string{"*", "test"}},
	{"testdata", []string{"*", "test"}},
	{"e2e", []string{"*", "test"}},
	// Release packaging: its tests install the .deb and run it in the lab.
	{"packaging", []string{"*", "test"}},
}

// testSupport reports whether p (module-relative) exists for tests: the
// test lab, e2e/ and the helper packages beside the code they test.
func testSupport(p string) bool {
	if p == "internal/testlab" || p == "e2e" || strings.HasPrefix(p, "e2e/") {
		return true
	}
	last := p[strings.LastIndex(p, "/")+1:]
	return strings.HasSuffix(last, "test") || last == "marker"
}

func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// layerOf returns the most specific layer holding p.
func layerOf(p string) (layer, bool) {
	var best layer
	found := false
	for _, l := range layers {
		if under(p, l.root) && len(l.root) > len(best.root) {
			best, found = l, true
		}
	}
	return best, found
}

// pkg is the part of `go list -json` the rule reads.
type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// violations returns one line per import that breaks the rule.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		l, known := layerOf(from)
		if !known {
			if from != "github.com/razor-mk/razor-mk" {
				out = append(out, fmt.Sprintf("%s: in no layer; add it to layers_test.go", from))
			}
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module)
			if !ok || under(to, l.root) || to == "internal/version" {
				continue
			}
			if testSupport(to) {
				if !slices.Contains(l.allowed, "test") && !testSupport(from) {
					out = append(out, fmt.Sprintf("%s imports %s: only tests and lab programs may import test support", from, to))
				}
				continue
			}
			if slices.Contains(l.allowed, "*") {
				continue
			}
			if !slices.ContainsFunc(l.allowed, func(a string) bool { return under(to, a) }) {
				out = append(out, fmt.Sprintf("%s imports %s: %s may import only %v", from, to, l.root, l.allowed))
			}
		}
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			if to, ok := strings.CutPrefix(imp, module); ok && under(to, "e2e") && !under(from, "e2e") {
				out = append(out, fmt.Sprintf("%s (tests) imports %s: only e2e/ tests may", from, to))
			}
		}
	}
	return out
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; run from the module root", len(pkgs))
	}
	return pkgs
}

func TestLayers(t *testing.T) {
	for _, v := range violations(listPackages(t)) {
		t.Error(v)
	}
}

// The rule catches wrong imports: each of these is one.
func TestLayersCatchWrongImports(t *testing.T) {
	for _, tc := range []struct {
		p    pkg
		want string
	}{
		{pkg{ImportPath: module + "agent/netup", Imports: []string{module + "server/store"}}, "agent/netup imports server/store"},
		{pkg{ImportPath: module + "wire", Imports: []string{module + "manifest"}}, "wire imports manifest"},
		{pkg{ImportPath: module + "server/core", Imports: []string{module + "netboot/dhcp"}}, "server/core imports netboot/dhcp"},
		{pkg{ImportPath: module + "netboot/tftp", Imports: []string{module + "server/metrics"}}, "netboot/tftp imports server/metrics"},
		{pkg{ImportPath: module + "builder/debian", Imports: []string{module + "agent/modprobe"}}, "builder/debian imports agent/modprobe"},
		{pkg{ImportPath: module + "cmd/razor-netboot", Imports: []string{module + "internal/testlab"}}, "only tests and lab programs"},
		{pkg{ImportPath: module + "netboot/dhcp", XTestImports: []string{module + "e2e/harness"}}, "only e2e/ tests may"},
		{pkg{ImportPath: module + "newtop"}, "in no layer"},
	} {
		got := violations([]pkg{tc.p})
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("violations(%s → %v) = %q, want one naming %q", tc.p.ImportPath, tc.p.Imports, got, tc.want)
		}
	}
	ok := []pkg{
		{ImportPath: module + "server/store", Imports: []string{module + "netboot/dhcp/leases", module + "server/store/internal/x"}},
		{ImportPath: module + "internal/daemon", Imports: []string{module + "server/core", module + "netboot/dhcp"}},
		{ImportPath: module + "internal/demo", Imports: []string{module + "internal/testlab"}},
		{ImportPath: module + "kmod", XTestImports: []string{module + "builder/modules", module + "agent/modprobe"}},
	}
	if got := violations(ok); len(got) > 0 {
		t.Errorf("violations(allowed imports) = %q, want none", got)
	}
}
