package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/razor-mk/razor-mk/server/store/pgtest"
	"github.com/razor-mk/razor-mk/server/store/postgres"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestParseStore(t *testing.T) {
	for _, tc := range []struct {
		spec, kind, target string
		ok                 bool
	}{
		{"sqlite:/var/lib/razor/razor.db", StoreSQLite, "/var/lib/razor/razor.db", true},
		{"sqlite:rel.db", StoreSQLite, "rel.db", true},
		{"postgres://razor@db/razor", StorePostgres, "postgres://razor@db/razor", true},
		{"postgresql://razor@db:5433/razor?sslmode=require", StorePostgres, "postgresql://razor@db:5433/razor?sslmode=require", true},
		{"sqlite:", "", "", false},
		{"/var/lib/razor.db", "", "", false},
		{"mysql://x", "", "", false},
		{"postgres://[::1", "", "", false},
		{"", "", "", false},
	} {
		kind, target, err := ParseStore(tc.spec)
		if (err == nil) != tc.ok || kind != tc.kind || target != tc.target {
			t.Errorf("ParseStore(%q) = %q, %q, %v; want %q, %q, ok %v", tc.spec, kind, target, err, tc.kind, tc.target, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrStoreSpec) {
			t.Errorf("ParseStore(%q) error %v is not ErrStoreSpec", tc.spec, err)
		}
	}
}

func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "razor.db")
	if _, err := OpenStore(ctx, "sqlite:"+path, StoreOptions{MustExist: true}); err == nil {
		t.Errorf("OpenStore(missing file, MustExist) = nil error")
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("OpenStore(MustExist) created %s", path)
	}
	if _, err := OpenStore(ctx, "sqlite:"+dir, StoreOptions{MustExist: true}); err == nil {
		t.Errorf("OpenStore(directory, MustExist) = nil error")
	}
	s, err := OpenStore(ctx, "sqlite:"+path, StoreOptions{})
	if err != nil {
		t.Fatalf("OpenStore(sqlite) = %v", err)
	}
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("OpenStore(sqlite) = %T", s)
	}
	s.Close()
	if s, err = OpenStore(ctx, "sqlite:"+path, StoreOptions{MustExist: true}); err != nil {
		t.Fatalf("OpenStore(existing, MustExist) = %v", err)
	}
	s.Close()
	s, err = OpenStore(ctx, pgtest.NewDatabase(t), StoreOptions{})
	if err != nil {
		t.Fatalf("OpenStore(postgres) = %v", err)
	}
	if _, ok := s.(*postgres.Store); !ok {
		t.Errorf("OpenStore(postgres) = %T", s)
	}
	s.Close()
}
