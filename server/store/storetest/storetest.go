// Package storetest is the conformance suite every store.Store
// implementation passes: identity resolution and MAC uniqueness, tags,
// policies, atomic binding under concurrency, commands, boot tokens,
// admin tokens and DHCP leases. An implementation's test calls Run with a function that opens a
// fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
)

// Run runs the whole suite; open must return a new empty store, which Run
// closes.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RegisterCreatesAndUpdates", testRegister},
		{"IdentityUUIDFirst", testIdentityUUID},
		{"IdentityMACMerge", testIdentityMACMerge},
		{"DuplicateRemoved", testDuplicateRemoved},
		{"FindGetListDelete", testFindGetListDelete},
		{"TouchNodes", testTouch},
		{"Tags", testTags},
		{"Policies", testPolicies},
		{"Bind", testBind},
		{"BindConcurrentMaxCount", testBindConcurrent},
		{"RegisterConcurrentMACUnique", testRegisterConcurrent},
		{"Commands", testCommands},
		{"ListNodesFacts", testListNodesFacts},
		{"Tokens", testTokens},
		{"AdminTokens", testAdminTokens},
		{"BMCCredentials", testBMCCredentials},
		{"Leases", testLeases},
		{"LeasesConcurrent", testLeasesConcurrent},
		{"CommandsCancelExpire", testCommandsCancelExpire},
		{"Events", testEvents},
		{"EventsRetention", testEventsRetention},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// base is the suite's clock; microsecond precision, as stores promise.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

var timeEq = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// ignoreRev leaves revisions out of node comparisons (checked separately).
var ignoreRev = cmpopts.IgnoreFields(store.Node{}, "Rev")

func reg(uuid string, sec int, facts map[string]string, macs ...string) store.Registration {
	return store.Registration{UUID: uuid, MACs: macs, Facts: facts, LastState: "idle", At: at(sec)}
}

func mustRegister(t *testing.T, s store.Store, r store.Registration) store.RegisterResult {
	t.Helper()
	res, err := s.RegisterNode(context.Background(), r)
	if err != nil {
		t.Fatalf("RegisterNode(%+v) = %v", r, err)
	}
	return res
}

const (
	macA  = "525400000001"
	macB  = "525400000002"
	macC  = "525400000003"
	macD  = "525400000004"
	uuid1 = "4C4C4544-0031-3510-8036-B7C04F335331"
	uuid2 = "4C4C4544-0031-3510-8036-B7C04F335332"
)

func testRegister(t *testing.T, s store.Store) {
	ctx := context.Background()
	res := mustRegister(t, s, reg("", 0, map[string]string{"processorcount": "2"}, macB, macA))
	if !res.Created || res.Node.ID == "" {
		t.Fatalf("RegisterNode(new) = created %v id %q, want created with an id", res.Created, res.Node.ID)
	}
	want := store.Node{
		ID: res.Node.ID, MACs: []string{macA, macB}, Facts: map[string]string{"processorcount": "2"},
		LastState: "idle", Created: at(0), Registered: at(0),
	}
	if diff := cmp.Diff(want, res.Node, timeEq, ignoreRev, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("RegisterNode(new) node mismatch (-want +got):\n%s", diff)
	}
	back, err := s.GetNode(context.Background(), res.Node.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(back, res.Node, timeEq); diff != "" {
		t.Errorf("RegisterNode(new) returned a node other than the stored one (-stored +returned):\n%s", diff)
	}
	rev0 := res.Node.Rev
	res2 := mustRegister(t, s, reg("", 10, map[string]string{"processorcount": "4", "memorysize": "2 GB"}, macA))
	if res2.Created || res2.Node.ID != res.Node.ID {
		t.Fatalf("RegisterNode(same MAC) = created %v id %q, want update of %q", res2.Created, res2.Node.ID, res.Node.ID)
	}
	want.Facts = map[string]string{"processorcount": "4", "memorysize": "2 GB"}
	want.Registered = at(10)
	if diff := cmp.Diff(want, res2.Node, timeEq, ignoreRev, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("RegisterNode(again) node mismatch (-want +got):\n%s", diff)
	}
	if res2.Node.Rev <= rev0 {
		t.Errorf("RegisterNode(again).Rev = %d, want > %d", res2.Node.Rev, rev0)
	}
	got, err := s.GetNode(ctx, res.Node.ID)
	if err != nil {
		t.Fatalf("GetNode(%s) = %v", res.Node.ID, err)
	}
	if diff := cmp.Diff(res2.Node, got, timeEq, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("GetNode(%s) mismatch (-register +get):\n%s", res.Node.ID, diff)
	}
	other := mustRegister(t, s, reg("", 20, map[string]string{"x": "y"}, macC))
	if !other.Created || other.Node.ID == res.Node.ID {
		t.Errorf("RegisterNode(other MAC) = created %v id %q, want a new node", other.Created, other.Node.ID)
	}
	if _, err := s.RegisterNode(ctx, store.Registration{Facts: map[string]string{"a": "b"}, At: at(1)}); err == nil {
		t.Errorf("RegisterNode(no uuid, no MAC) = nil error, want one")
	}
}

func testIdentityUUID(t *testing.T, s store.Store) {
	n1 := mustRegister(t, s, reg(uuid1, 0, map[string]string{"a": "1"}, macA)).Node
	// Same SMBIOS UUID, NICs replaced: the same node, MACs merged.
	r := mustRegister(t, s, reg(uuid1, 1, map[string]string{"a": "2"}, macC))
	if r.Created || r.Node.ID != n1.ID {
		t.Fatalf("RegisterNode(same uuid, new MAC) = created %v id %s, want node %s", r.Created, r.Node.ID, n1.ID)
	}
	if diff := cmp.Diff([]string{macA, macC}, r.Node.MACs); diff != "" {
		t.Errorf("MACs after merge (-want +got):\n%s", diff)
	}
	// A different UUID with a MAC of n1: the NIC moved to another machine.
	r2 := mustRegister(t, s, reg(uuid2, 2, map[string]string{"a": "3"}, macA))
	if !r2.Created || r2.Node.ID == n1.ID {
		t.Fatalf("RegisterNode(other uuid, n1's MAC) = created %v id %s, want a new node", r2.Created, r2.Node.ID)
	}
	if len(r2.Changed) != 1 || r2.Changed[0].ID != n1.ID || !slices.Equal(r2.Changed[0].MACs, []string{macC}) {
		t.Errorf("RegisterNode(moved MAC).Changed = %+v, want node %s left with [%s]", r2.Changed, n1.ID, macC)
	}
	got, err := s.GetNode(context.Background(), n1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.MACs, []string{macC}) || got.UUID != uuid1 {
		t.Errorf("GetNode(%s) = MACs %v uuid %s, want [%s] %s", n1.ID, got.MACs, got.UUID, macC, uuid1)
	}
	if got.Rev <= r.Node.Rev {
		t.Errorf("GetNode(%s).Rev = %d after losing a MAC, want > %d", n1.ID, got.Rev, r.Node.Rev)
	}
	// A node first seen without UUID adopts one.
	n3 := mustRegister(t, s, reg("", 3, map[string]string{"a": "4"}, macD)).Node
	r3 := mustRegister(t, s, reg("4C4C4544-0031-3510-8036-B7C04F335333", 4, map[string]string{"a": "5"}, macD))
	if r3.Created || r3.Node.ID != n3.ID || r3.Node.UUID != "4C4C4544-0031-3510-8036-B7C04F335333" {
		t.Errorf("RegisterNode(uuid for MAC-only node) = created %v id %s uuid %q, want node %s with the uuid", r3.Created, r3.Node.ID, r3.Node.UUID, n3.ID)
	}
	// A registration without UUID keeps the node's UUID.
	r4 := mustRegister(t, s, reg("", 5, map[string]string{"a": "6"}, macD))
	if r4.Node.UUID != "4C4C4544-0031-3510-8036-B7C04F335333" {
		t.Errorf("RegisterNode(no uuid) dropped the node's uuid: %q", r4.Node.UUID)
	}
}

func testIdentityMACMerge(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustRegister(t, s, reg("", 0, map[string]string{"n": "a"}, macA)).Node
	b := mustRegister(t, s, reg("", 1, map[string]string{"n": "b"}, macB, macC)).Node
	// A registration with MACs of both: the oldest node wins and takes
	// them; b keeps what was not claimed.
	r := mustRegister(t, s, reg("", 2, map[string]string{"n": "ab"}, macA, macB))
	if r.Node.ID != a.ID {
		t.Fatalf("RegisterNode(overlapping two nodes).ID = %s, want the oldest %s", r.Node.ID, a.ID)
	}
	if !slices.Equal(r.Node.MACs, []string{macA, macB}) {
		t.Errorf("MACs = %v, want [%s %s]", r.Node.MACs, macA, macB)
	}
	gb, err := s.GetNode(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gb.MACs, []string{macC}) {
		t.Errorf("GetNode(%s).MACs = %v, want [%s]", b.ID, gb.MACs, macC)
	}
	assertMACsUnique(t, s)
}

func testDuplicateRemoved(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustRegister(t, s, reg("", 0, map[string]string{"n": "a"}, macA)).Node
	b := mustRegister(t, s, reg("", 1, map[string]string{"n": "b"}, macB)).Node
	r := mustRegister(t, s, reg("", 2, map[string]string{"n": "ab"}, macA, macB))
	if r.Node.ID != a.ID || !slices.Equal(r.Deleted, []string{b.ID}) {
		t.Fatalf("RegisterNode(a+b) = id %s deleted %v, want %s and [%s]", r.Node.ID, r.Deleted, a.ID, b.ID)
	}
	if _, err := s.GetNode(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetNode(deleted duplicate) = %v, want ErrNotFound", err)
	}
	// A bound node is never removed, even with no MAC left.
	mustTag(t, s, "all", `["=", 1, 1]`)
	mustPolicy(t, s, store.Policy{Name: "p", Enabled: true, Tags: []string{"all"}, Target: store.Target{Kind: store.TargetLocal}})
	c := mustRegister(t, s, reg("", 3, map[string]string{"n": "c"}, macC)).Node
	if _, err := s.Bind(ctx, c.ID, []string{"p"}, at(4)); err != nil {
		t.Fatal(err)
	}
	r = mustRegister(t, s, reg("", 5, map[string]string{"n": "ac"}, macA, macC))
	if len(r.Deleted) != 0 || len(r.Changed) != 1 || r.Changed[0].ID != c.ID || len(r.Changed[0].MACs) != 0 {
		t.Errorf("RegisterNode(takes bound node's MAC) = deleted %v changed %+v, want %s changed with no MACs", r.Deleted, r.Changed, c.ID)
	}
}

func testFindGetListDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustRegister(t, s, reg(uuid1, 0, map[string]string{"n": "a"}, macA)).Node
	b := mustRegister(t, s, reg("", 1, map[string]string{"n": "b"}, macB, macC)).Node
	for _, tc := range []struct {
		uuid string
		macs []string
		want string
	}{
		{uuid1, nil, a.ID},
		{uuid1, []string{macB}, a.ID}, // UUID first
		{"", []string{macC}, b.ID},
		{"", []string{macD, macB}, b.ID},
		{uuid2, []string{macA}, ""}, // a's MAC but another machine
		{"", []string{macD}, ""},
	} {
		got, err := s.FindNode(ctx, tc.uuid, tc.macs)
		if tc.want == "" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindNode(%q, %v) = %s, %v; want ErrNotFound", tc.uuid, tc.macs, got.ID, err)
			}
			continue
		}
		if err != nil || got.ID != tc.want || got.Facts == nil {
			t.Errorf("FindNode(%q, %v) = %s (facts %v), %v; want %s with facts", tc.uuid, tc.macs, got.ID, got.Facts, err, tc.want)
		}
	}
	for _, id := range []string{"", "bogus", "node0", "node999999", "node-1"} {
		if _, err := s.GetNode(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNode(%q) = %v, want ErrNotFound", id, err)
		}
	}
	list, err := s.ListNodes(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID || list[0].Facts != nil {
		t.Errorf("ListNodes(false) = %+v, want [%s %s] without facts", list, a.ID, b.ID)
	}
	list, err = s.ListNodes(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Facts["n"] != "b" {
		t.Errorf("ListNodes(true) = %+v, want facts", list)
	}
	if _, err := s.QueueCommand(ctx, a.ID, "reboot", at(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNode(ctx, a.ID); err != nil {
		t.Fatalf("DeleteNode(%s) = %v", a.ID, err)
	}
	if err := s.DeleteNode(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteNode(%s) twice = %v, want ErrNotFound", a.ID, err)
	}
	if _, err := s.FindNode(ctx, uuid1, []string{macA}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindNode(deleted) = %v, want ErrNotFound", err)
	}
	if _, err := s.ListCommands(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ListCommands(deleted) = %v, want ErrNotFound", err)
	}
	// Its MAC is free again; a new node gets a new id.
	n := mustRegister(t, s, reg("", 3, map[string]string{"n": "new"}, macA)).Node
	if n.ID == a.ID {
		t.Errorf("RegisterNode after delete reused id %s", n.ID)
	}
}

func testTouch(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustRegister(t, s, reg("", 0, map[string]string{"n": "a"}, macA)).Node
	b := mustRegister(t, s, reg("", 0, map[string]string{"n": "b"}, macB)).Node
	err := s.TouchNodes(ctx, []store.Checkin{
		{NodeID: a.ID, At: at(30), LastState: "idle"},
		{NodeID: b.ID, At: at(20), LastState: "busy"},
		{NodeID: "node987654", At: at(20), LastState: "idle"},
		{NodeID: "garbage", At: at(20), LastState: "idle"},
	})
	if err != nil {
		t.Fatalf("TouchNodes = %v", err)
	}
	if err := s.TouchNodes(ctx, []store.Checkin{{NodeID: a.ID, At: at(10), LastState: "old"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchNodes(ctx, nil); err != nil {
		t.Errorf("TouchNodes(nil) = %v", err)
	}
	ga, _ := s.GetNode(ctx, a.ID)
	gb, _ := s.GetNode(ctx, b.ID)
	if !ga.LastCheckin.Equal(at(30)) || ga.LastState != "idle" || !gb.LastCheckin.Equal(at(20)) || gb.LastState != "busy" {
		t.Errorf("after TouchNodes: a %v %q, b %v %q; want %v idle, %v busy", ga.LastCheckin, ga.LastState, gb.LastCheckin, gb.LastState, at(30), at(20))
	}
}

func mustTag(t *testing.T, s store.Store, name, rule string, refs ...string) store.Tag {
	t.Helper()
	tag, err := s.CreateTag(context.Background(), store.Tag{Name: name, Rule: json.RawMessage(rule), Refs: refs, Updated: at(0)})
	if err != nil {
		t.Fatalf("CreateTag(%s) = %v", name, err)
	}
	return tag
}

func mustPolicy(t *testing.T, s store.Store, p store.Policy) store.Policy {
	t.Helper()
	if p.Updated.IsZero() {
		p.Updated = at(0)
	}
	got, err := s.CreatePolicy(context.Background(), p)
	if err != nil {
		t.Fatalf("CreatePolicy(%s) = %v", p.Name, err)
	}
	return got
}

func testTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	got := mustTag(t, s, "big", `[">=",["num",["fact","processorcount"]],8]`)
	want := store.Tag{Name: "big", Rule: json.RawMessage(`[">=",["num",["fact","processorcount"]],8]`), Refs: []string{}, Created: at(0), Updated: at(0)}
	if diff := cmp.Diff(want, got, timeEq, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("CreateTag mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.CreateTag(ctx, store.Tag{Name: "big", Rule: json.RawMessage(`true`)}); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateTag(duplicate) = %v, want ErrExists", err)
	}
	if _, err := s.CreateTag(ctx, store.Tag{Name: "x", Rule: json.RawMessage(`["tag","nope"]`), Refs: []string{"nope"}}); !errors.Is(err, store.ErrUnknownRef) {
		t.Errorf("CreateTag(unknown ref) = %v, want ErrUnknownRef", err)
	}
	if _, err := s.GetTag(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTag(x) after failed create = %v, want ErrNotFound", err)
	}
	mustTag(t, s, "bigdell", `["and",["tag","big"],["like",["fact","manufacturer"],"Dell.*"]]`, "big")
	mustTag(t, s, "alpha", `["=",1,1]`)
	list, err := s.ListTags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range list {
		names = append(names, tg.Name)
	}
	if diff := cmp.Diff([]string{"alpha", "big", "bigdell"}, names); diff != "" {
		t.Errorf("ListTags names (-want +got):\n%s", diff)
	}
	if !slices.Equal(list[2].Refs, []string{"big"}) {
		t.Errorf("ListTags()[2].Refs = %v, want [big]", list[2].Refs)
	}
	up, err := s.UpdateTag(ctx, store.Tag{Name: "big", Rule: json.RawMessage(`[">=",["num",["fact","processorcount"]],16]`), Updated: at(5)})
	if err != nil {
		t.Fatalf("UpdateTag = %v", err)
	}
	if string(up.Rule) != `[">=",["num",["fact","processorcount"]],16]` || !up.Created.Equal(at(0)) || !up.Updated.Equal(at(5)) {
		t.Errorf("UpdateTag = %+v, want new rule, created %v, updated %v", up, at(0), at(5))
	}
	if _, err := s.UpdateTag(ctx, store.Tag{Name: "missing", Rule: json.RawMessage(`true`)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTag(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteTag(ctx, "big"); !errors.Is(err, store.ErrInUse) {
		t.Errorf("DeleteTag(referenced by a tag) = %v, want ErrInUse", err)
	}
	mustPolicy(t, s, store.Policy{Name: "p", Enabled: true, Tags: []string{"alpha"}, Target: store.Target{Kind: store.TargetLocal}})
	if err := s.DeleteTag(ctx, "alpha"); !errors.Is(err, store.ErrInUse) {
		t.Errorf("DeleteTag(required by a policy) = %v, want ErrInUse", err)
	}
	if err := s.DeleteTag(ctx, "bigdell"); err != nil {
		t.Errorf("DeleteTag(bigdell) = %v", err)
	}
	if err := s.DeleteTag(ctx, "big"); err != nil {
		t.Errorf("DeleteTag(big) once unreferenced = %v", err)
	}
	if err := s.DeleteTag(ctx, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteTag(big) twice = %v, want ErrNotFound", err)
	}
}

func testPolicies(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustTag(t, s, "t1", `true`)
	mustTag(t, s, "t2", `false`)
	target := store.Target{Kind: store.TargetKernel, Kernel: "http://x/vmlinuz", Initrd: "http://x/initrd", Cmdline: "console=ttyS0 node={{.Node}}"}
	got := mustPolicy(t, s, store.Policy{Name: "install", Order: 10, Enabled: true, Tags: []string{"t2", "t1"}, MaxCount: 3, Target: target})
	want := store.Policy{Name: "install", Order: 10, Enabled: true, Tags: []string{"t1", "t2"}, MaxCount: 3, Target: target, Created: at(0), Updated: at(0)}
	if diff := cmp.Diff(want, got, timeEq); diff != "" {
		t.Errorf("CreatePolicy mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.CreatePolicy(ctx, store.Policy{Name: "install", Target: target}); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreatePolicy(duplicate) = %v, want ErrExists", err)
	}
	// A policy may require system tags, which are not stored.
	if p, err := s.CreatePolicy(ctx, store.Policy{Name: "sys", Order: 20, Tags: []string{"cpus_2", "t1"}, Target: target, Updated: at(0)}); err != nil || !slices.Equal(p.Tags, []string{"cpus_2", "t1"}) {
		t.Errorf("CreatePolicy(system tag) = %+v, %v", p, err)
	}
	if err := s.DeleteTag(ctx, "t1"); !errors.Is(err, store.ErrInUse) {
		t.Errorf("DeleteTag(t1 required by policies) = %v, want ErrInUse", err)
	}
	if err := s.DeletePolicy(ctx, "sys"); err != nil {
		t.Fatal(err)
	}
	mustPolicy(t, s, store.Policy{Name: "b-first", Order: 1, Target: store.Target{Kind: store.TargetPoweroff}})
	mustPolicy(t, s, store.Policy{Name: "a-tie", Order: 10, Target: store.Target{Kind: store.TargetLocal, Local: "sanboot"}})
	list, err := s.ListPolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"b-first", "a-tie", "install"}, names); diff != "" {
		t.Errorf("ListPolicies order (-want +got):\n%s", diff)
	}
	want.Order, want.Enabled, want.Tags, want.MaxCount, want.Updated = 0, false, []string{"t1"}, 0, at(9)
	want.Target = store.Target{Kind: store.TargetIPXE, Script: "#!ipxe\nexit\n"}
	up, err := s.UpdatePolicy(ctx, want)
	if err != nil {
		t.Fatalf("UpdatePolicy = %v", err)
	}
	if diff := cmp.Diff(want, up, timeEq); diff != "" {
		t.Errorf("UpdatePolicy mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.UpdatePolicy(ctx, store.Policy{Name: "missing", Target: target}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdatePolicy(missing) = %v, want ErrNotFound", err)
	}
	if g, _ := s.GetPolicy(ctx, "install"); !slices.Equal(g.Tags, []string{"t1"}) {
		t.Errorf("GetPolicy after update: tags %v, want [t1]", g.Tags)
	}
	if err := s.DeletePolicy(ctx, "a-tie"); err != nil {
		t.Errorf("DeletePolicy = %v", err)
	}
	if err := s.DeletePolicy(ctx, "a-tie"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePolicy twice = %v, want ErrNotFound", err)
	}
}

func testBind(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustTag(t, s, "t", `true`)
	mustPolicy(t, s, store.Policy{Name: "off", Order: 1, Enabled: false, Target: store.Target{Kind: store.TargetLocal}})
	mustPolicy(t, s, store.Policy{Name: "one", Order: 2, Enabled: true, MaxCount: 1, Tags: []string{"t"}, Target: store.Target{Kind: store.TargetLocal}})
	mustPolicy(t, s, store.Policy{Name: "any", Order: 3, Enabled: true, Target: store.Target{Kind: store.TargetPoweroff}})
	a := mustRegister(t, s, reg("", 0, map[string]string{"n": "a"}, macA)).Node
	b := mustRegister(t, s, reg("", 0, map[string]string{"n": "b"}, macB)).Node
	c := mustRegister(t, s, reg("", 0, map[string]string{"n": "c"}, macC)).Node

	n, err := s.Bind(ctx, a.ID, []string{"gone", "off", "one", "any"}, at(1))
	if err != nil || n.Policy != "one" || !n.BoundAt.Equal(at(1)) || n.BootState != store.BootPending {
		t.Fatalf("Bind(a) = %+v, %v; want bound to one at %v", n, err, at(1))
	}
	if n.Rev <= a.Rev {
		t.Errorf("Bind(a).Rev = %d, want > %d", n.Rev, a.Rev)
	}
	if _, err := s.Bind(ctx, a.ID, []string{"any"}, at(2)); !errors.Is(err, store.ErrBound) {
		t.Errorf("Bind(bound node) = %v, want ErrBound", err)
	}
	if _, err := s.Bind(ctx, b.ID, []string{"off", "one"}, at(2)); !errors.Is(err, store.ErrNoRoom) {
		t.Errorf("Bind(b, full and disabled) = %v, want ErrNoRoom", err)
	}
	if _, err := s.Bind(ctx, "node999999", []string{"any"}, at(2)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Bind(unknown node) = %v, want ErrNotFound", err)
	}
	if n, err := s.Bind(ctx, b.ID, []string{"one", "any"}, at(3)); err != nil || n.Policy != "any" {
		t.Errorf("Bind(b) = %q, %v; want any", n.Policy, err)
	}
	p, _ := s.GetPolicy(ctx, "one")
	if p.Count != 1 {
		t.Errorf("GetPolicy(one).Count = %d, want 1", p.Count)
	}
	if err := s.DeletePolicy(ctx, "one"); !errors.Is(err, store.ErrInUse) {
		t.Errorf("DeletePolicy(with bound node) = %v, want ErrInUse", err)
	}
	// Boot state follows the binding.
	if _, err := s.SetBootState(ctx, a.ID, "any", store.BootBooted, at(4)); !errors.Is(err, store.ErrStale) {
		t.Errorf("SetBootState(wrong policy) = %v, want ErrStale", err)
	}
	if _, err := s.SetBootState(ctx, c.ID, "one", store.BootBooted, at(4)); !errors.Is(err, store.ErrStale) {
		t.Errorf("SetBootState(unbound node) = %v, want ErrStale", err)
	}
	n, err = s.SetBootState(ctx, a.ID, "one", store.BootBooted, at(4))
	if err != nil || n.BootState != store.BootBooted || !n.BootStateAt.Equal(at(4)) {
		t.Errorf("SetBootState(booted) = %+v, %v", n, err)
	}
	n, err = s.SetBootState(ctx, a.ID, "one", store.BootFailed, at(5))
	if err != nil || n.BootState != store.BootFailed {
		t.Errorf("SetBootState(failed) = %+v, %v", n, err)
	}
	n, err = s.Unbind(ctx, a.ID)
	if err != nil || n.Policy != "" || n.BootState != store.BootPending || !n.BoundAt.IsZero() {
		t.Errorf("Unbind(a) = %+v, %v; want unbound", n, err)
	}
	if _, err := s.Unbind(ctx, a.ID); err != nil {
		t.Errorf("Unbind(unbound) = %v, want nil", err)
	}
	if _, err := s.Unbind(ctx, "node999999"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Unbind(unknown) = %v, want ErrNotFound", err)
	}
	// Room again: c takes the freed slot.
	if n, err := s.Bind(ctx, c.ID, []string{"one"}, at(6)); err != nil || n.Policy != "one" {
		t.Errorf("Bind(c) after unbind = %q, %v; want one", n.Policy, err)
	}
	// Deleting a bound node frees its slot.
	if err := s.DeleteNode(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.GetPolicy(ctx, "one"); p.Count != 0 {
		t.Errorf("GetPolicy(one).Count after deleting its node = %d, want 0", p.Count)
	}
}

func testBindConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustTag(t, s, "t", `true`)
	const max, nodes = 5, 40
	mustPolicy(t, s, store.Policy{Name: "few", Order: 1, Enabled: true, MaxCount: max, Tags: []string{"t"}, Target: store.Target{Kind: store.TargetLocal}})
	mustPolicy(t, s, store.Policy{Name: "three", Order: 2, Enabled: true, MaxCount: 3, Target: store.Target{Kind: store.TargetLocal}})
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = mustRegister(t, s, reg("", i, map[string]string{"i": fmt.Sprint(i)}, fmt.Sprintf("5254000100%02X", i))).Node.ID
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	bound := map[string]int{}
	errs := map[string]int{}
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Bind(ctx, id, []string{"few", "three"}, at(100))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				bound[n.Policy]++
			case errors.Is(err, store.ErrNoRoom):
				errs["noroom"]++
			default:
				errs[err.Error()]++
			}
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"few": max, "three": 3}, bound); diff != "" {
		t.Errorf("concurrent Bind: bound per policy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"noroom": nodes - max - 3}, errs); diff != "" {
		t.Errorf("concurrent Bind: errors (-want +got):\n%s", diff)
	}
	for name, want := range map[string]int{"few": max, "three": 3} {
		if p, _ := s.GetPolicy(ctx, name); p.Count != want {
			t.Errorf("GetPolicy(%s).Count = %d, want %d", name, p.Count, want)
		}
	}
}

func testRegisterConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Many machines (different UUIDs) claim overlapping MACs at once: at
	// the end every MAC is on exactly one node.
	const workers, rounds = 16, 10
	shared := []string{"52540002FF01", "52540002FF02", "52540002FF03"}
	var wg sync.WaitGroup
	errc := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uuid := fmt.Sprintf("00000000-0000-4000-8000-%012X", w+1)
			own := fmt.Sprintf("5254000200%02X", w)
			for r := range rounds {
				macs := []string{own, shared[(w+r)%len(shared)]}
				_, err := s.RegisterNode(ctx, store.Registration{UUID: uuid, MACs: macs, Facts: map[string]string{"w": fmt.Sprint(w)}, LastState: "idle", At: at(r)})
				if err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("RegisterNode (concurrent) = %v", err)
	}
	nodes := assertMACsUnique(t, s)
	if len(nodes) != workers {
		t.Errorf("ListNodes() = %d nodes, want %d (one per UUID)", len(nodes), workers)
	}
	for _, n := range nodes {
		if !slices.ContainsFunc(n.MACs, func(m string) bool { return m[:10] == "5254000200" }) {
			t.Errorf("node %s (%s) lost its own MAC: %v", n.ID, n.UUID, n.MACs)
		}
	}
}

// assertMACsUnique fails if a MAC is held by two nodes; it returns the
// nodes.
func assertMACsUnique(t *testing.T, s store.Store) []store.Node {
	t.Helper()
	nodes, err := s.ListNodes(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, n := range nodes {
		if !slices.IsSorted(n.MACs) {
			t.Errorf("node %s MACs not sorted: %v", n.ID, n.MACs)
		}
		for _, m := range n.MACs {
			if o, ok := owner[m]; ok {
				t.Errorf("MAC %s held by %s and %s", m, o, n.ID)
			}
			owner[m] = n.ID
		}
	}
	return nodes
}

func testCommands(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustRegister(t, s, reg("", 0, map[string]string{"n": "a"}, macA)).Node
	if _, err := s.PopCommand(ctx, a.ID, at(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PopCommand(empty) = %v, want ErrNotFound", err)
	}
	c1, err := s.QueueCommand(ctx, a.ID, "reboot", at(1))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.QueueCommand(ctx, a.ID, "poweroff", at(2))
	if err != nil {
		t.Fatal(err)
	}
	if c1.ID == 0 || c2.ID <= c1.ID || c1.NodeID != a.ID || c1.Name != "reboot" || !c1.Queued.Equal(at(1)) {
		t.Errorf("QueueCommand = %+v, %+v", c1, c2)
	}
	if _, err := s.QueueCommand(ctx, "node999999", "reboot", at(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueueCommand(unknown node) = %v, want ErrNotFound", err)
	}
	if n, _ := s.GetNode(ctx, a.ID); n.Pending != 2 {
		t.Errorf("GetNode().Pending = %d, want 2", n.Pending)
	}
	got, err := s.PopCommand(ctx, a.ID, at(3))
	if err != nil || got.ID != c1.ID || got.Name != "reboot" || !got.Delivered.Equal(at(3)) {
		t.Errorf("PopCommand = %+v, %v; want reboot delivered at %v", got, err, at(3))
	}
	list, err := s.ListCommands(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Command{
		{ID: c1.ID, NodeID: a.ID, Name: "reboot", Queued: at(1), Delivered: at(3)},
		{ID: c2.ID, NodeID: a.ID, Name: "poweroff", Queued: at(2)},
	}
	if diff := cmp.Diff(want, list, timeEq); diff != "" {
		t.Errorf("ListCommands (-want +got):\n%s", diff)
	}
	if got, err := s.PopCommand(ctx, a.ID, at(4)); err != nil || got.Name != "poweroff" {
		t.Errorf("PopCommand = %+v, %v; want poweroff", got, err)
	}
	if _, err := s.PopCommand(ctx, a.ID, at(5)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PopCommand(drained) = %v, want ErrNotFound", err)
	}
	if n, _ := s.GetNode(ctx, a.ID); n.Pending != 0 {
		t.Errorf("GetNode().Pending = %d, want 0", n.Pending)
	}
	// Concurrent pops deliver each command once.
	for i := range 20 {
		if _, err := s.QueueCommand(ctx, a.ID, "reboot", at(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := s.PopCommand(ctx, a.ID, at(50))
				if err != nil {
					return
				}
				mu.Lock()
				seen[c.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("concurrent PopCommand delivered %d distinct commands, want 20", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("command %d delivered %d times", id, n)
		}
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetToken(ctx, []string{macA}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken(none) = %v, want ErrNotFound", err)
	}
	if err := s.PutToken(ctx, []string{macA, uuid1}, "tok1", at(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, []string{macB}, "tok2", at(2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{macA}, "tok1"},
		{[]string{uuid1}, "tok1"},
		{[]string{macA, macB}, "tok2"}, // newest wins
		{[]string{macC, uuid1}, "tok1"},
	} {
		got, err := s.GetToken(ctx, tc.keys)
		if err != nil || got.Token != tc.want {
			t.Errorf("GetToken(%v) = %+v, %v; want %s", tc.keys, got, err, tc.want)
		}
	}
	if err := s.PutToken(ctx, []string{macA}, "tok3", at(3)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetToken(ctx, []string{macA, macB}); got.Token != "tok3" || got.Key != macA || !got.Issued.Equal(at(3)) {
		t.Errorf("GetToken after replace = %+v, want tok3 under %s at %v", got, macA, at(3))
	}
	all, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Token{{Key: uuid1, Token: "tok1", Issued: at(1)}, {Key: macA, Token: "tok3", Issued: at(3)}, {Key: macB, Token: "tok2", Issued: at(2)}}
	sortTok := cmpopts.SortSlices(func(a, b store.Token) bool { return a.Key < b.Key })
	if diff := cmp.Diff(want, all, timeEq, sortTok); diff != "" {
		t.Errorf("ListTokens (-want +got):\n%s", diff)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	l1 := leases.Lease{MAC: "52:54:00:00:00:01", IP: ip("10.9.0.20"), Hostname: "n1", Expires: now.Add(time.Hour)}
	l2 := leases.Lease{MAC: "52:54:00:00:00:02", IP: ip("10.9.0.3"), Hostname: "", Expires: now.Add(time.Hour)}
	if _, err := s.GetLease(ctx, l1.MAC); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("GetLease(none) = %v, want leases.ErrNotFound", err)
	}
	for _, l := range []leases.Lease{l1, l2} {
		if err := s.PutLease(ctx, l); err != nil {
			t.Fatalf("PutLease(%+v) = %v", l, err)
		}
	}
	got, err := s.GetLease(ctx, l1.MAC)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l1, got, timeEq, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("GetLease (-want +got):\n%s", diff)
	}
	// Another MAC may not take an unexpired lease's address.
	steal := leases.Lease{MAC: "52:54:00:00:00:03", IP: l1.IP, Expires: now.Add(time.Hour)}
	if err := s.PutLease(ctx, steal); !errors.Is(err, leases.ErrConflict) {
		t.Errorf("PutLease(held address) = %v, want leases.ErrConflict", err)
	}
	// Renewal by the holder, moving to a new address, is fine.
	l1.IP, l1.Expires = ip("10.9.0.21"), now.Add(2*time.Hour)
	if err := s.PutLease(ctx, l1); err != nil {
		t.Errorf("PutLease(renew to new address) = %v", err)
	}
	// An expired lease's address can be taken, and the old holder loses it.
	exp := leases.Lease{MAC: "52:54:00:00:00:04", IP: ip("10.9.0.50"), Expires: now.Add(-time.Minute)}
	if err := s.PutLease(ctx, exp); err != nil {
		t.Fatal(err)
	}
	take := leases.Lease{MAC: "52:54:00:00:00:05", IP: exp.IP, Expires: now.Add(time.Hour)}
	if err := s.PutLease(ctx, take); err != nil {
		t.Errorf("PutLease(expired holder's address) = %v", err)
	}
	if _, err := s.GetLease(ctx, exp.MAC); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("GetLease(displaced expired holder) = %v, want ErrNotFound", err)
	}
	list, err := s.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, l := range list {
		addrs = append(addrs, l.IP.String())
	}
	if diff := cmp.Diff([]string{"10.9.0.3", "10.9.0.21", "10.9.0.50"}, addrs); diff != "" {
		t.Errorf("ListLeases addresses (-want +got):\n%s", diff)
	}
	if err := s.DeleteLease(ctx, l2.MAC); err != nil {
		t.Errorf("DeleteLease = %v", err)
	}
	if err := s.DeleteLease(ctx, l2.MAC); err != nil {
		t.Errorf("DeleteLease(missing) = %v, want nil", err)
	}
	if _, err := s.GetLease(ctx, l2.MAC); !errors.Is(err, leases.ErrNotFound) {
		t.Errorf("GetLease(deleted) = %v, want ErrNotFound", err)
	}
}

func testLeasesConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	addr := netip.MustParseAddr("10.9.1.1")
	exp := time.Now().Add(time.Hour)
	const n = 24
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.PutLease(ctx, leases.Lease{MAC: fmt.Sprintf("52:54:00:00:10:%02X", i), IP: addr, Expires: exp})
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, leases.ErrConflict):
				t.Errorf("PutLease = %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("concurrent PutLease of one address: %d winners, want 1", won)
	}
}

// testListNodesFacts: every node with just the named facts, values
// intact (quotes, unicode, numbers as text), missing ones absent.
func testListNodesFacts(t *testing.T, s store.Store) {
	fl, ok := s.(store.FactLister)
	if !ok {
		t.Skip("this store does not implement store.FactLister (optional)")
	}
	ctx := context.Background()
	facts := []map[string]string{
		{"a": `say "hi"`, "b": "ünï\ncode", "c": "42", "weird key.$": "v"},
		{"a": "2"},
	}
	var ids []string
	for i, f := range facts {
		r := mustRegister(t, s, reg("", i, f, fmt.Sprintf("52540000f00%d", i)))
		ids = append(ids, r.Node.ID)
	}
	ns, err := fl.ListNodesFacts(ctx, []string{"a", "c", "weird key.$", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Node
	for _, n := range ns {
		got = append(got, store.Node{ID: n.ID, Facts: n.Facts})
	}
	want := []store.Node{{ID: ids[0], Facts: map[string]string{"a": `say "hi"`, "c": "42", "weird key.$": "v"}}, {ID: ids[1], Facts: map[string]string{"a": "2"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListNodesFacts (-want +got):\n%s", diff)
	}
	for _, n := range ns {
		full, err := s.GetNode(ctx, n.ID)
		if err != nil || full.Rev != n.Rev {
			t.Errorf("ListNodesFacts rev of %s = %d, GetNode = %d, %v", n.ID, n.Rev, full.Rev, err)
		}
	}
	ns, err = fl.ListNodesFacts(ctx, nil)
	if err != nil || len(ns) != 2 || len(ns[0].Facts) != 0 {
		t.Errorf("ListNodesFacts(none) = %v, %v; want two nodes without facts", ns, err)
	}
}
