package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { Main(m) }

func query(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		t.Fatalf("%s: no rows", sql)
	}
	return string(res[0].Rows[0][0])
}

func TestSharedDatabases(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("NewDatabase twice = %s both times", a)
	}
	if got := query(t, a, "SELECT current_database()"); !strings.HasSuffix(a, "/"+got+"?sslmode=disable") {
		t.Errorf("current_database() on %s = %s", a, got)
	}
	if got := query(t, a, "SHOW server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %s, want UTF8", got)
	}
	if Shared(t) != Shared(t) {
		t.Errorf("Shared() returned two servers")
	}
}

func TestRestart(t *testing.T) {
	s := New(t, Options{})
	ctx := context.Background()
	if err := s.Exec(ctx, "postgres", "CREATE TABLE x (v int); INSERT INTO x VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart() = %v", err)
	}
	if got := query(t, s.URL("postgres"), "SELECT v FROM x"); got != "42" {
		t.Errorf("after Restart: SELECT v = %s, want 42", got)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Errorf("Running() after Kill = true")
	}
	if _, err := pgconn.Connect(ctx, s.URL("postgres")+"&connect_timeout=2"); err == nil {
		t.Errorf("connect after Kill succeeded")
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start() after Kill = %v", err)
	}
	if got := query(t, s.URL("postgres"), "SELECT v FROM x"); got != "42" {
		t.Errorf("after crash recovery: SELECT v = %s, want 42", got)
	}
}
