// Package postgres is the scale-out store of the checkin server: several
// razor-netboot replicas share one PostgreSQL database (pgx, pgxpool).
//
// Correctness across replicas rests on the database, never on a process:
//   - migrations run once: every replica applies the embedded schema under
//     one transaction-scoped advisory lock, so replicas starting together
//     wait for the first and then find the schema current;
//   - a MAC is on one node only: node_macs has the MAC as primary key, and
//     a registration takes transaction-scoped advisory locks on its MACs
//     and UUID, then row locks on the matching nodes in id order, so that
//     registrations that share a key are serialised and merge instead of
//     racing, while others run in parallel;
//   - binding counts and binds under a row lock on the policy, so
//     max_count holds however many replicas bind at once;
//   - an admin command is popped with UPDATE … (SELECT … FOR UPDATE SKIP
//     LOCKED): delivered once;
//   - a DHCP address has one lease: the address is unique, and PutLease
//     drops an expired holder and inserts in one transaction.
//
// Transactions run in READ COMMITTED; serialization failures and
// deadlocks are retried, and so is a transaction whose connection died
// before it committed. When PostgreSQL is unreachable every method fails
// with an error wrapping ErrUnavailable (the HTTP layer answers 5xx, the
// agent backs off); pgxpool reconnects by itself once the server is back.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/razor-mk/razor-mk/server/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrUnavailable: the database could not be reached or went away during
// the call (a restart, a network failure). Nothing was acknowledged; the
// caller may retry later. It wraps store.ErrUnavailable.
var ErrUnavailable = fmt.Errorf("postgres: database unavailable: %w", store.ErrUnavailable)

// Options tune Open. The zero value is the default.
type Options struct {
	// Logger receives warnings; default discard.
	Logger *slog.Logger
	// Now is the clock for lease expiry; default time.Now.
	Now func() time.Time
	// MaxConns bounds the pool; default 16, or pool_max_conns in the URL.
	MaxConns int32
}

// Store is the PostgreSQL store. Open creates it; it is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	now    func() time.Time
	closed atomic.Bool

	// Change announcements (watch.go).
	replica      string
	notes        chan store.Change
	overflow     atomic.Bool
	stop         chan struct{}
	notifierDone chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user:pass@host/db?…),
// applies the embedded migrations and returns the store.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = o.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = 16
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "razor-netboot"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, log: o.Logger, now: o.Now, replica: newReplicaID(),
		notes: make(chan store.Change, maxNotes), stop: make(chan struct{}), notifierDone: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", redact(cfg), err)
	}
	go s.notifier()
	return s, nil
}

// redact names the database without its password.
func redact(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// migrationLock is the advisory lock key that serialises migrations
// between replicas ("razor-mk" in ASCII).
const migrationLock = 0x72617a6f722d6d6b

// migrate applies the embedded migrations newer than the recorded schema
// version, all in one transaction under the migration lock.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS razor_schema (
			version integer PRIMARY KEY,
			name    text NOT NULL,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("schema table: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM razor_schema").Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > len(names) {
			return fmt.Errorf("schema version %d is newer than this program (%d): upgrade razor-netboot", have, len(names))
		}
		for i := have; i < len(names); i++ {
			body, err := migrations.ReadFile(names[i])
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", names[i], err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO razor_schema (version, name) VALUES ($1, $2)", i+1, names[i]); err != nil {
				return fmt.Errorf("migration %s: %w", names[i], err)
			}
			s.log.Info("postgres: schema migrated", "version", i+1, "name", names[i])
		}
		return nil
	})
}

// SchemaVersion returns the version of the database's schema.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.do(ctx, func(q querier) error {
		return q.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM razor_schema").Scan(&v)
	})
	return v, err
}

// Close sends the pending change announcements and releases the pool;
// calls after Close fail with store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	<-s.notifierDone
	s.pool.Close()
	return nil
}

// Pool is the store's connection pool, for tools that copy data.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// querier is what a method needs of a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// maxAttempts bounds the attempts of one call; maxLost those that found
// the server unreachable.
const (
	maxAttempts = 8
	maxLost     = 3
)

// tx runs fn in a transaction and commits it, retrying (fn must start
// afresh each time) on a serialization failure, a deadlock, or a
// connection lost before the commit was sent.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.retry(ctx, func() (bool, error) {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return true, unavailable(err)
		}
		defer conn.Release()
		tx, err := conn.Begin(ctx)
		if err != nil {
			return true, unavailable(err)
		}
		if err := fn(tx); err != nil {
			dead := conn.Conn().IsClosed()
			tx.Rollback(context.WithoutCancel(ctx))
			if dead {
				return true, unavailable(err)
			}
			return transient(err), err
		}
		if err := tx.Commit(ctx); err != nil {
			// Unless the server said no, the commit may have happened:
			// not retried.
			return transient(err) || pgconn.SafeToRetry(err), unavailable(err)
		}
		return false, nil
	})
}

// ptx is a transaction whose BEGIN and COMMIT travel in the batches of
// its statements, so that a transaction of two batches costs two round
// trips instead of four.
type ptx struct {
	conn       *pgx.Conn
	begun      bool
	committing bool
}

// send sends b, preceded by BEGIN in the first batch, and returns its
// results with BEGIN's consumed.
func (p *ptx) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if !p.begun {
		p.begun = true
		nb := &pgx.Batch{}
		nb.Queue("BEGIN")
		nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
		br := p.conn.SendBatch(ctx, nb)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
		return br, nil
	}
	return p.conn.SendBatch(ctx, b), nil
}

// sendCommit sends b followed by COMMIT; the caller reads b's results,
// then calls commit.
func (p *ptx) sendCommit(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	b.Queue("COMMIT")
	return p.send(ctx, b)
}

// commit reads COMMIT's result and closes br.
func (p *ptx) commit(br pgx.BatchResults) error {
	p.committing = true
	_, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// pipelined runs fn as a ptx, with the retries of tx. fn must start
// afresh each time, send COMMIT with its last batch and call commit.
func (s *Store) pipelined(ctx context.Context, fn func(p *ptx) error) error {
	return s.retry(ctx, func() (bool, error) {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return true, unavailable(err)
		}
		defer conn.Release()
		p := &ptx{conn: conn.Conn()}
		err = fn(p)
		if err == nil {
			return false, nil
		}
		dead := conn.Conn().IsClosed()
		if !dead && conn.Conn().PgConn().TxStatus() != 'I' {
			conn.Conn().Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		switch {
		case dead && p.committing:
			// COMMIT was sent and the answer lost: it may have happened.
			return false, unavailable(err)
		case dead:
			return true, unavailable(err)
		}
		return transient(err), err
	})
}

// do runs fn on the pool (each statement commits by itself), retrying
// when the statement surely did not run.
func (s *Store) do(ctx context.Context, fn func(q querier) error) error {
	return s.retry(ctx, func() (bool, error) {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return true, unavailable(err)
		}
		defer conn.Release()
		if err := fn(conn); err != nil {
			return transient(err) || pgconn.SafeToRetry(err), unavailable(err)
		}
		return false, nil
	})
}

func (s *Store) retry(ctx context.Context, attempt func() (bool, error)) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	var err error
	lost := 0
	for i := range maxAttempts {
		var again bool
		again, err = attempt()
		if err == nil || !again || ctx.Err() != nil {
			break
		}
		// A lost server is tried again, but not for long: the caller
		// answers an error and the agent comes back later.
		if errors.Is(err, ErrUnavailable) {
			if lost++; lost == maxLost {
				break
			}
		}
		if s.closed.Load() {
			return store.ErrClosed
		}
		// Back off with jitter: 1, 2, 4… ms, at most 64 ms.
		d := time.Duration(1<<min(i, 6)) * time.Millisecond
		d += rand.N(d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return err
		}
	}
	if err != nil && s.closed.Load() && errors.Is(err, ErrUnavailable) {
		return store.ErrClosed
	}
	return err
}

// transient reports a server error that rolled the transaction back and
// asks for a retry.
func transient(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return false
}

// unavailable wraps err in ErrUnavailable when it is a connection
// failure rather than a server's answer or a domain error.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, store.ErrClosed) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "57": // connection_exception, operator_intervention (shutdown)
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isDomain(err) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "closed pool") || strings.Contains(err.Error(), "unexpected EOF") ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// isDomain reports the store's own errors.
func isDomain(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrInUse, store.ErrUnknownRef,
		store.ErrBound, store.ErrNoRoom, store.ErrStale, store.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// pgCode returns the SQLSTATE of err and the constraint it names, if
// the server rejected a statement.
func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

// lockKeys returns advisory lock keys for names in one namespace,
// sorted, so that every transaction takes them in the same order.
func lockKeys(ns string, names ...string) []int64 {
	keys := make([]int64, 0, len(names))
	for _, n := range names {
		if n == "" {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(ns))
		h.Write([]byte{0})
		h.Write([]byte(n))
		keys = append(keys, int64(h.Sum64()))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// lockSQL takes the transaction-scoped advisory locks $1 in array order.
const lockSQL = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k"

// ts converts a time to a parameter: the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// fromTS is the inverse of ts, in UTC.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// clean makes s storable as PostgreSQL text, which holds neither NUL nor
// invalid UTF-8: such bytes become U+FFFD.
func clean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanAll applies clean to each element.
func cleanAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = clean(x)
	}
	return out
}
