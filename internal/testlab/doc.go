// Package testlab is the one test lab of the project: a provisioning
// network on one machine. It makes network namespaces with bridges, veth
// pairs and tap devices; runs programs inside them (razor-netboot,
// dnsmasq, kea, DHCP clients, QEMU) with their output read line by line
// and timed; boots QEMU nodes from the network or from a kernel; probes
// whether KVM works; builds the project's binaries once per test run; and
// reads razor-netboot's log lines as a per-node timeline.
//
// Two layers share one implementation. The plain layer returns errors and
// is what `make demo` (internal/demo) and the boot benchmark
// (internal/bench/boot) use: OpenNetns, StartProc, LaunchVM. The test
// layer (testing.go) wraps it for tests: NewNetns, Start, StartVM fail the
// test on error, skip it with a reason when the machine lacks what it
// needs, and undo everything with t.Cleanup, also when the test fails.
//
// Only tests and the lab programs (demo, benchmarks) import this package;
// the layering test at the module root enforces it.
package testlab
