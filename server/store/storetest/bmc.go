package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/server/store"
)

// testBMCCredentials: credentials put (created, then replaced), got,
// listed by scope, deleted; bad ones refused without a write; deleting a
// node or a policy deletes its credential.
func testBMCCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	if l, err := s.ListBMCCredentials(ctx); err != nil || len(l) != 0 {
		t.Fatalf("ListBMCCredentials(empty) = %v, %v", l, err)
	}
	n := mustRegister(t, s, reg("", 1, nil, "525400000001")).Node
	if _, err := s.CreatePolicy(ctx, store.Policy{Name: "install", Enabled: true, Target: store.Target{Kind: store.TargetLocal}, Updated: at(1)}); err != nil {
		t.Fatal(err)
	}
	global := store.BMCCredential{Scope: store.ScopeGlobal, Username: "ADMIN", Sealed: []byte{1, 0, 2, 255}, Updated: at(2)}
	node := store.BMCCredential{Scope: store.NodeScope(n.ID), Host: "10.1.2.3", Port: 6230, Username: "root", Sealed: []byte("sealed-node"), Updated: at(3)}
	pol := store.BMCCredential{Scope: store.PolicyScope("install"), Username: "ops", Sealed: []byte("sealed-policy"), Updated: at(4)}
	for _, c := range []store.BMCCredential{global, node, pol} {
		got, err := s.PutBMCCredential(ctx, c)
		if err != nil {
			t.Fatalf("PutBMCCredential(%s) = %v", c.Scope, err)
		}
		if diff := cmp.Diff(c, got, timeEq); diff != "" {
			t.Errorf("PutBMCCredential(%s) (-want +got):\n%s", c.Scope, diff)
		}
	}
	// Put replaces.
	node.Username, node.Sealed, node.Host, node.Port, node.Updated = "root2", []byte("resealed"), "", 0, at(5)
	if _, err := s.PutBMCCredential(ctx, node); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBMCCredential(ctx, node.Scope)
	if diff := cmp.Diff(node, got, timeEq); err != nil || diff != "" {
		t.Errorf("GetBMCCredential(%s) = %v (-want +got):\n%s", node.Scope, err, diff)
	}
	if _, err := s.GetBMCCredential(ctx, store.NodeScope("node999")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetBMCCredential(unknown) = %v, want ErrNotFound", err)
	}
	for _, bad := range []store.BMCCredential{
		{Scope: "nodes:x", Username: "u", Sealed: []byte{1}},
		{Scope: "", Username: "u", Sealed: []byte{1}},
		{Scope: store.ScopeGlobal, Username: "", Sealed: []byte{1}},
		{Scope: store.ScopeGlobal, Username: "seventeen-bytes!!", Sealed: []byte{1}},
		{Scope: store.ScopeGlobal, Username: "u\x00", Sealed: []byte{1}},
		{Scope: store.ScopeGlobal, Username: "u", Sealed: nil},
		{Scope: store.ScopeGlobal, Username: "u", Port: 65536, Sealed: []byte{1}},
		{Scope: store.ScopeGlobal, Username: "u", Host: "a\nb", Sealed: []byte{1}},
	} {
		if _, err := s.PutBMCCredential(ctx, bad); err == nil {
			t.Errorf("PutBMCCredential(%+v) accepted", bad)
		}
	}
	l, err := s.ListBMCCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.BMCCredential{global, node, pol}, l, timeEq); diff != "" {
		t.Errorf("ListBMCCredentials (-want +got):\n%s", diff)
	}
	if err := s.DeleteBMCCredential(ctx, store.ScopeGlobal); err != nil {
		t.Errorf("DeleteBMCCredential(global) = %v", err)
	}
	if err := s.DeleteBMCCredential(ctx, store.ScopeGlobal); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteBMCCredential(global) again = %v, want ErrNotFound", err)
	}
	if err := s.DeleteNode(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePolicy(ctx, "install"); err != nil {
		t.Fatal(err)
	}
	if l, err := s.ListBMCCredentials(ctx); err != nil || len(l) != 0 {
		t.Errorf("ListBMCCredentials after deleting the node and the policy = %+v, %v; want none", l, err)
	}
}
