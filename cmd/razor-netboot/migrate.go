package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/razor-mk/razor-mk/internal/daemon"
	"github.com/razor-mk/razor-mk/server/store/postgres"
)

func newMigrateCmd() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate --from sqlite:PATH --to postgres://…",
		Short: "Copy a store (the embedded SQLite one) into PostgreSQL",
		Long: `migrate copies everything a store holds — nodes with their facts, MACs,
bindings and boot states, tags, policies, queued and delivered commands, boot
tokens and DHCP leases — into a PostgreSQL database, keeping node ids, so that
several razor-netboot replicas can share it (serve --store postgres://…).

Stop the razor-netboot that uses the source first. The target database must be
empty (its schema is created if missing): the copy is one transaction, so a
failed or repeated migrate changes nothing there.`,
		Example: `  razor-netboot migrate --from sqlite:/var/lib/razor-netboot/razor.db \
    --to 'postgres://razor:secret@db.example.net/razor?sslmode=require'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if from == "" || to == "" {
				return errors.New("migrate: --from and --to are both required")
			}
			fromKind, fromPath, err := daemon.ParseStore(from)
			if err != nil {
				return fmt.Errorf("migrate: --from: %w", err)
			}
			if kind, _, err := daemon.ParseStore(to); err != nil || kind != daemon.StorePostgres {
				return fmt.Errorf("migrate: --to: want postgres://…, got %q", redactURL(to))
			}
			src, err := daemon.OpenStore(ctx, from, daemon.StoreOptions{MustExist: true})
			if err != nil {
				return fmt.Errorf("migrate: --from: %w", err)
			}
			defer src.Close()
			var opts postgres.ImportOptions
			if fromKind == daemon.StoreSQLite {
				if opts, err = sqliteSequences(ctx, fromPath); err != nil {
					return err
				}
			}
			dst, err := postgres.Open(ctx, to, postgres.Options{})
			if err != nil {
				return fmt.Errorf("migrate: --to: %w", err)
			}
			defer dst.Close()
			st, err := dst.Import(ctx, src, opts)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(),
				"copied %d nodes (%d MACs, %d bound), %d tags, %d policies, %d commands, %d boot tokens, %d leases, %d admin tokens, %d BMC credentials into %s\n",
				st.Nodes, st.MACs, st.Bound, st.Tags, st.Policies, st.Commands, st.Tokens, st.Leases, st.AdminTokens, st.BMCCredentials, redactURL(to))
			return err
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "source store: sqlite:PATH (or postgres://…)")
	cmd.Flags().StringVar(&to, "to", "", "target PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?…]")
	return cmd
}

// sqliteSequences reads the highest node and command ids an SQLite store
// ever assigned (its AUTOINCREMENT counters), so that PostgreSQL does not
// give a deleted node's id to a new one.
func sqliteSequences(ctx context.Context, path string) (postgres.ImportOptions, error) {
	var o postgres.ImportOptions
	// The driver is registered by the embedded store's package.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return o, fmt.Errorf("migrate: --from: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT name, seq FROM sqlite_sequence WHERE name IN ('nodes', 'commands')")
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return o, nil // nothing was ever inserted
		}
		return o, fmt.Errorf("migrate: --from %s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return o, fmt.Errorf("migrate: --from %s: %w", path, err)
		}
		if name == "nodes" {
			o.NodeSeqFloor = seq
		} else {
			o.CommandIDFloor = seq
		}
	}
	if err := rows.Err(); err != nil {
		return o, fmt.Errorf("migrate: --from %s: %w", path, err)
	}
	return o, nil
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
