package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/postgres"
	"github.com/razor-mk/razor-mk/server/store/sqlite"
)

// Kinds of store.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// ErrStoreSpec: the store value is not sqlite:PATH or postgres://….
var ErrStoreSpec = errors.New("daemon: store: want sqlite:PATH or postgres://…")

// ParseStore splits a store value into its kind and the path or URL.
func ParseStore(spec string) (kind, target string, err error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		p := strings.TrimPrefix(spec, "sqlite:")
		if p == "" {
			return "", "", fmt.Errorf("%w: sqlite: needs a path", ErrStoreSpec)
		}
		return StoreSQLite, p, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		if _, err := url.Parse(spec); err != nil {
			return "", "", fmt.Errorf("%w: bad URL: %v", ErrStoreSpec, err)
		}
		return StorePostgres, spec, nil
	}
	return "", "", fmt.Errorf("%w, got %q", ErrStoreSpec, spec)
}

// StoreOptions tune OpenStore.
type StoreOptions struct {
	// Logger receives the store's warnings; default discard.
	Logger *slog.Logger
	// MustExist refuses to create a new SQLite file (for reading an
	// existing store).
	MustExist bool
}

// OpenStore opens the store a --store value names ("sqlite:PATH": the
// embedded store, one file; "postgres://…" or "postgresql://…": the shared
// store of several replicas). A new SQLite file's directory is
// created unless MustExist.
func OpenStore(ctx context.Context, spec string, o StoreOptions) (store.Store, error) {
	kind, target, err := ParseStore(spec)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch kind {
	case StoreSQLite:
		if o.MustExist {
			fi, err := os.Stat(target)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("daemon: store: no store at %s", target)
			}
			if err != nil {
				return nil, fmt.Errorf("daemon: store: %w", err)
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("daemon: store: %s is not a file", target)
			}
		} else if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, fmt.Errorf("daemon: store: store directory: %w", err)
		}
		return sqlite.Open(ctx, target, sqlite.Options{Logger: o.Logger})
	default:
		return postgres.Open(ctx, target, postgres.Options{Logger: o.Logger})
	}
}
