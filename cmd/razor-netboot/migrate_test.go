package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/pgtest"
	"github.com/razor-mk/razor-mk/server/store/postgres"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
)

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "razor.db")
	src, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		res, err := src.RegisterNode(ctx, store.Registration{MACs: []string{fmt.Sprintf("5254000600%02X", i)},
			Facts: map[string]string{"i": fmt.Sprint(i)}, LastState: "idle", At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Node.ID)
	}
	if err := src.DeleteNode(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := src.QueueCommand(ctx, ids[0], "reboot", time.Now()); err != nil {
		t.Fatal(err)
	}
	src.Close()

	srv := pgtest.New(t, pgtest.Options{})
	url, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	migrate := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"migrate"}, args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := migrate("--from", "sqlite:"+path, "--to", url)
	if err != nil {
		t.Fatalf("migrate = %v\n%s", err, out)
	}
	if want := "copied 2 nodes (2 MACs, 0 bound), 0 tags, 0 policies, 1 commands, 0 boot tokens, 0 leases"; !strings.Contains(out, want) {
		t.Errorf("migrate output = %q, want it to say %q", out, want)
	}
	dst, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	n, err := dst.GetNode(ctx, ids[1])
	if err != nil || n.Facts["i"] != "1" {
		t.Errorf("GetNode(%s) after migrate = %+v, %v", ids[1], n, err)
	}
	res, err := dst.RegisterNode(ctx, store.Registration{MACs: []string{"525400069999"}, At: time.Now()})
	if err != nil || res.Node.ID != "node4" {
		t.Errorf("new node after migrate = %s, %v; want node4 (node3 was deleted before and is not reused)", res.Node.ID, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "sqlite:" + path, "--to", url}, "import copies into an empty database only"},
		{[]string{"--from", "sqlite:" + path + ".missing", "--to", url}, "no store at"},
		{[]string{"--from", "sqlite:" + path, "--to", "sqlite:/tmp/x.db"}, "--to: want postgres://"},
		{[]string{"--from", path, "--to", url}, "--from: daemon: store: want sqlite:PATH"},
		{[]string{"--from", "sqlite:" + path}, "--from and --to are both required"},
		{[]string{"--from", "sqlite:" + path, "--to", "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1"}, "--to"},
	} {
		out, err := migrate(tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("migrate %v = %v, output %q; want an error saying %q", tc.args, err, out, tc.want)
		}
		if strings.Contains(out, "secret") {
			t.Errorf("migrate %v printed the password: %q", tc.args, out)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://razor:pw@db/razor":   "postgres://razor:xxxxx@db/razor",
		"postgres://razor@db/razor":      "postgres://razor@db/razor",
		"postgres://db/razor?sslmode=on": "postgres://db/razor?sslmode=on",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
