package open

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

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec, kind, target string
		ok                 bool
	}{
		{"sqlite:/var/lib/razor/razor.db", SQLite, "/var/lib/razor/razor.db", true},
		{"sqlite:rel.db", SQLite, "rel.db", true},
		{"postgres://razor@db/razor", Postgres, "postgres://razor@db/razor", true},
		{"postgresql://razor@db:5433/razor?sslmode=require", Postgres, "postgresql://razor@db:5433/razor?sslmode=require", true},
		{"sqlite:", "", "", false},
		{"/var/lib/razor.db", "", "", false},
		{"mysql://x", "", "", false},
		{"postgres://[::1", "", "", false},
		{"", "", "", false},
	} {
		kind, target, err := Parse(tc.spec)
		if (err == nil) != tc.ok || kind != tc.kind || target != tc.target {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q, ok %v", tc.spec, kind, target, err, tc.kind, tc.target, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q) error %v is not ErrSpec", tc.spec, err)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "razor.db")
	if _, err := Open(ctx, "sqlite:"+path, Options{MustExist: true}); err == nil {
		t.Errorf("Open(missing file, MustExist) = nil error")
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("Open(MustExist) created %s", path)
	}
	if _, err := Open(ctx, "sqlite:"+dir, Options{MustExist: true}); err == nil {
		t.Errorf("Open(directory, MustExist) = nil error")
	}
	s, err := Open(ctx, "sqlite:"+path, Options{})
	if err != nil {
		t.Fatalf("Open(sqlite) = %v", err)
	}
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("Open(sqlite) = %T", s)
	}
	s.Close()
	if s, err = Open(ctx, "sqlite:"+path, Options{MustExist: true}); err != nil {
		t.Fatalf("Open(existing, MustExist) = %v", err)
	}
	s.Close()
	s, err = Open(ctx, pgtest.NewDatabase(t), Options{})
	if err != nil {
		t.Fatalf("Open(postgres) = %v", err)
	}
	if _, ok := s.(*postgres.Store); !ok {
		t.Errorf("Open(postgres) = %T", s)
	}
	s.Close()
}
