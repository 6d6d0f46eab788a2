package postgres

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"

	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/pgtest"
	"github.com/razor-mk/razor-mk/server/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openNew(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.NewDatabase(t), Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openNew(t) })
}

// Replicas starting together on an empty database: each Open migrates
// or waits for the one that does; the schema is applied once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	const replicas = 6
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, url, Options{MaxConns: 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d = %v", i, err)
		}
		defer stores[i].Close()
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	for i, s := range stores {
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != len(names) {
			t.Errorf("store %d: SchemaVersion() = %d, %v; want %d", i, v, err, len(names))
		}
	}
	var rows int
	if err := stores[0].Pool().QueryRow(ctx, "SELECT count(*) FROM razor_schema").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(names) {
		t.Errorf("razor_schema has %d rows, want %d (one per migration)", rows, len(names))
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "INSERT INTO razor_schema (version, name) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, url, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Errorf("Open(schema 999) = %v, want an error saying it is newer", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{"", "mysql://x", "postgres://127.0.0.1:1/none?connect_timeout=1&sslmode=disable"} {
		if s, err := Open(ctx, url, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil error", url)
		}
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openNew(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close twice = %v", err)
	}
	if _, err := s.ListNodes(ctx, false); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ListNodes after Close = %v, want ErrClosed", err)
	}
	if _, err := s.RegisterNode(ctx, store.Registration{MACs: []string{"525400000001"}, At: time.Now()}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("RegisterNode after Close = %v, want ErrClosed", err)
	}
}

// Text PostgreSQL cannot hold (NUL, invalid UTF-8) is stored with U+FFFD
// instead of failing the write; facts keep it, escaped in their JSON.
func TestUnstorableText(t *testing.T) {
	ctx := context.Background()
	s := openNew(t)
	defer s.Close()
	res, err := s.RegisterNode(ctx, store.Registration{MACs: []string{"525400000001"}, LastState: "id\x00le\xff",
		Facts: map[string]string{"odd": "a\x00b", "bad\xffkey": "v"}, At: time.Now()})
	if err != nil {
		t.Fatalf("RegisterNode(NUL and invalid UTF-8) = %v", err)
	}
	n, err := s.GetNode(ctx, res.Node.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"odd": "a\x00b", "bad\uFFFDkey": "v"}
	if n.LastState != "id\uFFFDle\uFFFD" || !maps.Equal(n.Facts, want) {
		t.Errorf("GetNode = last_state %q facts %q; want %q and %q", n.LastState, n.Facts, "id\uFFFDle\uFFFD", want)
	}
	if err := s.TouchNodes(ctx, []store.Checkin{{NodeID: res.Node.ID, At: time.Now(), LastState: "\x00"}}); err != nil {
		t.Errorf("TouchNodes(NUL state) = %v", err)
	}
	l := leases.Lease{MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.0.0.5"), Hostname: "h\x00st", Expires: time.Now().Add(time.Hour)}
	if err := s.PutLease(ctx, l); err != nil {
		t.Fatalf("PutLease(NUL hostname) = %v", err)
	}
	if got, err := s.GetLease(ctx, l.MAC); err != nil || got.Hostname != "h\uFFFDst" {
		t.Errorf("GetLease = %q, %v; want hostname %q", got.Hostname, err, "h\uFFFDst")
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"idle", "idle"}, {"ünï", "ünï"}, {"a\x00b", "a\uFFFDb"}, {"a\xffb", "a\uFFFDb"}, {"\x00\xfe\xff", "\uFFFD\uFFFD"},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLockKeys(t *testing.T) {
	a := lockKeys("node", "mac:B", "mac:A", "uuid:X", "mac:A", "")
	if len(a) != 3 || !slices.IsSorted(a) {
		t.Errorf("lockKeys = %v, want 3 sorted distinct keys", a)
	}
	if b := lockKeys("node", "uuid:X", "mac:A", "mac:B"); !slices.Equal(a, b) {
		t.Errorf("lockKeys depends on argument order: %v vs %v", a, b)
	}
	if c := lockKeys("tag", "mac:A"); slices.Contains(a, c[0]) {
		t.Errorf("lockKeys namespaces collide: %v in %v", c, a)
	}
}
