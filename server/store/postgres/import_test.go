package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
)

// fill puts one of everything into s.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.CreateTag(ctx, store.Tag{Name: "big", Rule: json.RawMessage(`[">=",["num",["fact","processorcount"]],8]`), Updated: at})
	must(err)
	_, err = s.CreateTag(ctx, store.Tag{Name: "bigdell", Rule: json.RawMessage(`["and",["tag","big"],["=",["fact","manufacturer"],"Dell"]]`), Refs: []string{"big"}, Updated: at})
	must(err)
	_, err = s.CreatePolicy(ctx, store.Policy{Name: "install", Order: 5, Enabled: true, MaxCount: 10, Tags: []string{"big", "cpus_8"},
		Target: store.Target{Kind: store.TargetKernel, Kernel: "http://x/k", Initrd: "http://x/i", Cmdline: "a=b", Once: true}, Updated: at})
	must(err)
	_, err = s.CreatePolicy(ctx, store.Policy{Name: "off", Target: store.Target{Kind: store.TargetPoweroff}, Updated: at})
	must(err)
	var ids []string
	for i := range 5 {
		res, err := s.RegisterNode(ctx, store.Registration{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012X", i+1),
			MACs: []string{fmt.Sprintf("5254000500%02X", i), fmt.Sprintf("5254000501%02X", i)}, LastState: "idle",
			Facts: map[string]string{"processorcount": fmt.Sprint(i * 4), "odd": "a\x00b"}, At: at.Add(time.Duration(i) * time.Second)})
		must(err)
		ids = append(ids, res.Node.ID)
	}
	must(s.DeleteNode(ctx, ids[4]))
	_, err = s.Bind(ctx, ids[2], []string{"install"}, at.Add(time.Minute))
	must(err)
	_, err = s.SetBootState(ctx, ids[2], "install", store.BootBooted, at.Add(2*time.Minute))
	must(err)
	must(s.TouchNodes(ctx, []store.Checkin{{NodeID: ids[1], At: at.Add(3 * time.Minute), LastState: "busy"}}))
	for _, c := range []string{"reboot", "poweroff", "register"} {
		_, err = s.QueueCommand(ctx, ids[0], c, at.Add(4*time.Minute))
		must(err)
	}
	_, err = s.PopCommand(ctx, ids[0], at.Add(5*time.Minute))
	must(err)
	must(s.PutToken(ctx, []string{"525400050000", "00000000-0000-4000-8000-000000000001"}, "tok", at))
	_, err = s.CreateAdminToken(ctx, store.AdminToken{Name: "ci", Role: store.RoleOperator, Hash: store.HashAdminToken("a"), Created: at})
	must(err)
	_, err = s.CreateAdminToken(ctx, store.AdminToken{Name: "old", Role: store.RoleAdmin, Hash: store.HashAdminToken("b"), Created: at})
	must(err)
	_, err = s.RevokeAdminToken(ctx, "old", at.Add(time.Hour))
	must(err)
	for _, sc := range []string{store.ScopeGlobal, store.NodeScope(ids[1]), store.NodeScope(ids[4])} {
		_, err = s.PutBMCCredential(ctx, store.BMCCredential{Scope: sc, Host: "10.5.1.1", Port: 6230, Username: "admin", Sealed: []byte{1, 2, 3}, Updated: at})
		must(err)
	}
	must(s.PutLease(ctx, leases.Lease{MAC: "52:54:00:05:00:00", IP: netip.MustParseAddr("10.5.0.10"), Hostname: "n0", Expires: time.Now().Add(time.Hour).Truncate(time.Microsecond)}))
	must(s.PutLease(ctx, leases.Lease{MAC: "52:54:00:05:00:01", IP: netip.MustParseAddr("10.5.0.11"), Expires: time.Now().Add(-time.Hour).Truncate(time.Microsecond)}))
}

// everything reads all of a store through the interface.
type everything struct {
	Nodes    []store.Node
	Commands map[string][]store.Command
	Tags     []store.Tag
	Policies []store.Policy
	Tokens   []store.Token
	Admin    []store.AdminToken
	Creds    []store.BMCCredential
	Leases   []leases.Lease
}

func readAll(t *testing.T, s store.Store) everything {
	t.Helper()
	ctx := context.Background()
	var e everything
	var err error
	if e.Nodes, err = s.ListNodes(ctx, true); err != nil {
		t.Fatal(err)
	}
	e.Commands = map[string][]store.Command{}
	for _, n := range e.Nodes {
		if e.Commands[n.ID], err = s.ListCommands(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	if e.Tags, err = s.ListTags(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Policies, err = s.ListPolicies(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Tokens, err = s.ListTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Admin, err = s.ListAdminTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Creds, err = s.ListBMCCredentials(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Leases, err = s.ListLeases(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestImportFromSQLite(t *testing.T) {
	ctx := context.Background()
	src, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "razor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fill(t, src)
	dst := openNew(t)
	defer dst.Close()
	st, err := dst.Import(ctx, src, ImportOptions{NodeSeqFloor: 5})
	if err != nil {
		t.Fatalf("Import = %v", err)
	}
	want := ImportStats{Nodes: 4, MACs: 8, Bound: 1, Tags: 2, Policies: 2, Commands: 3, Tokens: 2, Leases: 2, AdminTokens: 2, BMCCredentials: 3}
	if st != want {
		t.Errorf("Import stats = %+v, want %+v", st, want)
	}
	opts := []cmp.Option{cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}
	if diff := cmp.Diff(readAll(t, src), readAll(t, dst), opts...); diff != "" {
		t.Errorf("store after Import differs from the source (-sqlite +postgres):\n%s", diff)
	}
	// New ids continue after the imported ones; the deleted node's id is
	// not reused.
	res, err := dst.RegisterNode(ctx, store.Registration{MACs: []string{"525400059999"}, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Node.ID != "node6" {
		t.Errorf("first node after Import = %s, want node6", res.Node.ID)
	}
	c, err := dst.QueueCommand(ctx, "node1", "reboot", time.Now())
	if err != nil || c.ID != 4 {
		t.Errorf("QueueCommand after Import = id %d, %v; want 4", c.ID, err)
	}
	if _, err := dst.Import(ctx, src, ImportOptions{}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Import into a filled store = %v, want ErrNotEmpty", err)
	}
}
