// Package sqlite is the embedded store of the checkin server: one SQLite
// file (pure Go, modernc.org/sqlite, no cgo) in WAL mode, with the schema
// migrations embedded.
//
// Durability: synchronous=FULL, so a transaction is on disk (the WAL is
// fsynced) before a write returns. An fsync costs about a millisecond, so
// writes go through a single writer goroutine that commits whatever
// writes are waiting as one transaction (group commit), each inside its
// own SAVEPOINT so that one failing write does not take the others down
// (a lease write, which leaves nothing behind when refused, needs none).
// DHCP lease writes are committed first, in a transaction of their own,
// and the other writes at most restPerCommit to a transaction, so that
// an ACK waits for lease writes only, not for event rows. Reads use a
// separate pool of read-only connections, which WAL lets run beside the
// writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
	"github.com/razor-mk/razor-mk/server/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds the writes committed together.
const maxBatch = 256

// Options tune Open. The zero value is the default.
type Options struct {
	// Logger receives warnings; default discard.
	Logger *slog.Logger
	// Now is the clock for lease expiry; default time.Now.
	Now func() time.Time
	// BusyTimeout is how long a connection waits for a lock another
	// process holds; default 10 s.
	BusyTimeout time.Duration
	// Readers is the size of the read-only connection pool; default 4.
	Readers int
}

// Store is the SQLite store. Open creates it; it is safe for concurrent
// use.
type Store struct {
	w, r *sql.DB
	log  *slog.Logger
	now  func() time.Time

	mu      sync.RWMutex // guards closed against sends on ops
	closed  bool
	ops     chan *op
	wdone   chan struct{}
	closeMu sync.Mutex
	// stmts holds the statements of prepared, prepared on the writer's
	// single connection; read-only after Open.
	stmts map[string]*sql.Stmt
}

var (
	_ store.Store   = (*Store)(nil)
	_ leases.Queuer = (*Store)(nil)
)

type op struct {
	ctx context.Context
	fn  func(tx *sql.Tx) error
	// whole: fn leaves nothing that matters behind when it fails, so it
	// runs without a savepoint of its own.
	whole bool
	// lease: a DHCP lease write, committed ahead of the others.
	lease bool
	done  chan error
}

// The savepoint around each write of a batch, prepared once.
const (
	qSavepoint  = "SAVEPOINT op"
	qRelease    = "RELEASE op"
	qRollbackTo = "ROLLBACK TO op"
)

// Open opens (creating if needed) the database file at path and applies
// the embedded migrations.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(1)")
		// Each write of a batch runs in a savepoint, whose journal of the
		// pages it changes spills to a temporary file past 64 KiB: with
		// hundreds of leases and events a batch, those pwrite calls were
		// a quarter of the server's CPU under DHCP load. In memory they
		// are copies; the database file's durability is unchanged.
		q.Add("_pragma", "temp_store(MEMORY)")
		for _, e := range extra {
			q.Add("_pragma", e)
		}
		q.Set("_txlock", "immediate")
		return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	stmts := make(map[string]*sql.Stmt, len(prepared))
	for _, q := range prepared {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		stmts[q] = st
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	s := &Store{
		w: w, r: r, log: o.Logger, now: o.Now,
		ops:   make(chan *op, maxBatch),
		wdone: make(chan struct{}),
		stmts: stmts,
	}
	go s.writer()
	return s, nil
}

// migrate applies the embedded migrations newer than PRAGMA user_version.
func migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	var have int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(names) {
		return fmt.Errorf("schema version %d is newer than this program (%d)", have, len(names))
	}
	for i := have; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
	}
	return nil
}

// Close waits for queued writes, then closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.ops)
	<-s.wdone
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// write runs fn in the writer's next transaction and returns once that
// transaction has committed (or fn failed).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o, err := s.queue(ctx, fn)
	if err != nil {
		return err
	}
	return <-o.done
}

// queue hands fn to the writer; its result arrives on the op's done.
func (s *Store) queue(ctx context.Context, fn func(tx *sql.Tx) error) (*op, error) {
	return s.queueOp(&op{ctx: ctx, fn: fn})
}

// queueOp hands o to the writer, giving it its done channel.
func (s *Store) queueOp(o *op) (*op, error) {
	o.done = make(chan error, 1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	s.ops <- o
	return o, nil
}

func (s *Store) writer() {
	defer close(s.wdone)
	// rest holds the writes other than leases not yet committed: they
	// go restPerCommit at a time, and the leases queued meanwhile are
	// committed before each such slice. A DHCP ACK waits for its lease's
	// commit; with everything in one transaction it also waited for the
	// event rows of thousands of exchanges, a registration's facts or a
	// pruning of old events.
	var rest []*op
	open := true
	for open || len(rest) > 0 {
		var batch []*op
		if len(rest) == 0 {
			o, ok := <-s.ops
			if !ok {
				return
			}
			batch = append(batch, o)
		}
	drain:
		for open && len(batch) < maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		var leases []*op
		for _, o := range batch {
			if o.lease {
				leases = append(leases, o)
			} else {
				rest = append(rest, o)
			}
		}
		if len(leases) > 0 {
			s.commit(leases)
		}
		if n := min(len(rest), restPerCommit); n > 0 {
			s.commit(rest[:n])
			rest = rest[n:]
		}
	}
}

// restPerCommit bounds the writes other than leases in one transaction
// (an events write is up to eventsPerInsert rows).
const restPerCommit = 4

// commit runs a batch of writes in one transaction, each in a savepoint.
func (s *Store) commit(batch []*op) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, o := range batch {
			o.done <- err
		}
	}
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	q := s.prep(tx)
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if o.whole {
			errs[i] = o.fn(tx)
			continue
		}
		if _, err := q.ExecContext(ctx, qSavepoint); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("sqlite: savepoint: %w", err))
			return
		}
		if err := o.fn(tx); err != nil {
			errs[i] = err
			if _, err := q.ExecContext(ctx, qRollbackTo); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := q.ExecContext(ctx, qRelease); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.log.Error("sqlite: commit failed", "err", err, "writes", len(batch))
		fail(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	for i, o := range batch {
		o.done <- errs[i]
	}
}

// prep returns a querier on tx that runs the statements of prepared
// from their prepared form: parsing SQL is most of a small statement's
// cost.
func (s *Store) prep(tx *sql.Tx) querier { return preparedTx{tx, s.stmts} }

type preparedTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, ok := p.stmts[query]; ok {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

// querier is what reads need from *sql.DB and *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ns converts a time to the stored form; the zero time is 0.
func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNS is the inverse of ns.
func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// placeholders returns "?,?,…" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// nextRev advances and returns the store revision.
func nextRev(ctx context.Context, q querier) (int64, error) {
	var rev int64
	err := q.QueryRowContext(ctx, qNextRev).Scan(&rev)
	if err != nil {
		return 0, fmt.Errorf("sqlite: next revision: %w", err)
	}
	return rev, nil
}
