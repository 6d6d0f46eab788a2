package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/razor-mk/razor-mk/server/store"
)

// testAdminTokens: named tokens stored by hash, found by hash, listed,
// revoked (kept, with the first revocation time), names and hashes unique,
// bad names and roles refused without a write.
func testAdminTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	if l, err := s.ListAdminTokens(ctx); err != nil || len(l) != 0 {
		t.Fatalf("ListAdminTokens(empty) = %v, %v", l, err)
	}
	ci := store.AdminToken{Name: "ci", Role: store.RoleOperator, Hash: store.HashAdminToken("secret-ci"), Created: at(1)}
	view := store.AdminToken{Name: "dashboard", Role: store.RoleViewer, Hash: store.HashAdminToken("secret-view"), Created: at(2)}
	for _, tok := range []store.AdminToken{ci, view} {
		got, err := s.CreateAdminToken(ctx, tok)
		if err != nil {
			t.Fatalf("CreateAdminToken(%s) = %v", tok.Name, err)
		}
		if diff := cmp.Diff(tok, got, timeEq); diff != "" {
			t.Errorf("CreateAdminToken(%s) (-want +got):\n%s", tok.Name, diff)
		}
	}
	dupName := ci
	dupName.Hash = store.HashAdminToken("other")
	dupHash := view
	dupHash.Name = "other"
	for _, tok := range []store.AdminToken{dupName, dupHash} {
		if _, err := s.CreateAdminToken(ctx, tok); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateAdminToken(duplicate %s) = %v, want ErrExists", tok.Name, err)
		}
	}
	for _, tok := range []store.AdminToken{
		{Name: "", Role: store.RoleAdmin, Hash: store.HashAdminToken("x1"), Created: at(3)},
		{Name: "bad name", Role: store.RoleAdmin, Hash: store.HashAdminToken("x2"), Created: at(3)},
		{Name: "root", Role: "superuser", Hash: store.HashAdminToken("x3"), Created: at(3)},
	} {
		if _, err := s.CreateAdminToken(ctx, tok); err == nil {
			t.Errorf("CreateAdminToken(%q, %q) accepted", tok.Name, tok.Role)
		}
	}
	got, err := s.AdminTokenByHash(ctx, store.HashAdminToken("secret-view"))
	if err != nil || got.Name != "dashboard" || got.Role != store.RoleViewer {
		t.Errorf("AdminTokenByHash(view) = %+v, %v", got, err)
	}
	if _, err := s.AdminTokenByHash(ctx, store.HashAdminToken("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AdminTokenByHash(unknown) = %v, want ErrNotFound", err)
	}

	rev, err := s.RevokeAdminToken(ctx, "ci", at(10))
	if err != nil || !rev.Revoked.Equal(at(10)) {
		t.Fatalf("RevokeAdminToken(ci) = %+v, %v", rev, err)
	}
	again, err := s.RevokeAdminToken(ctx, "ci", at(20))
	if err != nil || !again.Revoked.Equal(at(10)) {
		t.Errorf("RevokeAdminToken(ci) again = %+v, %v; want the first time kept", again, err)
	}
	if _, err := s.RevokeAdminToken(ctx, "nobody", at(10)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeAdminToken(unknown) = %v, want ErrNotFound", err)
	}
	got, err = s.AdminTokenByHash(ctx, store.HashAdminToken("secret-ci"))
	if err != nil || !got.Revoked.Equal(at(10)) {
		t.Errorf("AdminTokenByHash(revoked) = %+v, %v; want it, marked revoked", got, err)
	}
	ci.Revoked = at(10)
	l, err := s.ListAdminTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.AdminToken{ci, view}, l, timeEq); diff != "" {
		t.Errorf("ListAdminTokens (-want +got):\n%s", diff)
	}
	// The name of a revoked token stays taken.
	reuse := store.AdminToken{Name: "ci", Role: store.RoleViewer, Hash: store.HashAdminToken("fresh"), Created: at(30)}
	if _, err := s.CreateAdminToken(ctx, reuse); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateAdminToken(name of a revoked token) = %v, want ErrExists", err)
	}
}
