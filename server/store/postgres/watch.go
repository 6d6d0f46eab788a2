package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/razor-mk/razor-mk/server/store"
)

// Change announcements between replicas (store.Watcher).
//
// A write that other replicas' caches must follow is announced with
// NOTIFY on the channel razor_changes after it has committed, as JSON
// {"from": <replica>, "kind": …, "id"/"keys": …}. Announcing from inside
// the writing transaction would be exactly once, but PostgreSQL
// serialises the commits of all transactions that NOTIFY (one global
// lock held across the WAL flush), which would take group commit away
// from every registration; so a notifier goroutine sends the
// announcements of many writes together, in a transaction of its own
// that does not wait for its WAL flush. A replica that dies between a
// commit and its announcement leaves the others unaware of that one
// change until the node's next change; a listener that loses its
// connection reloads everything (ChangeReset) when it is back.

const (
	notifyChannel = "razor_changes"
	// maxPayload stays under NOTIFY's 8000-byte limit.
	maxPayload = 7900
	// maxNotes bounds the announcements waiting to be sent; beyond it
	// they are replaced by one ChangeReset.
	maxNotes = 4096
)

// note is the payload of one announcement.
type note struct {
	From string `json:"from"`
	store.Change
}

var _ store.Watcher = (*Store)(nil)

// newReplicaID returns a random name for this store instance, which
// tells its own announcements from the others'.
func newReplicaID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// announce queues changes for the notifier; it never blocks.
func (s *Store) announce(chs ...store.Change) {
	for _, ch := range chs {
		select {
		case s.notes <- ch:
		default:
			s.overflow.Store(true)
		}
	}
}

// notifier sends the queued announcements until stop is closed, then
// sends what is left.
func (s *Store) notifier() {
	defer close(s.notifierDone)
	for {
		var first store.Change
		select {
		case first = <-s.notes:
		case <-s.stop:
			s.flushNotes(nil)
			return
		}
		s.flushNotes([]store.Change{first})
	}
}

// flushNotes sends batch and whatever else is queued, in one
// transaction.
func (s *Store) flushNotes(batch []store.Change) {
drain:
	for len(batch) < 1024 {
		select {
		case ch := <-s.notes:
			batch = append(batch, ch)
		default:
			break drain
		}
	}
	if s.overflow.Swap(false) {
		batch = []store.Change{{Kind: store.ChangeReset}}
	}
	if len(batch) == 0 {
		return
	}
	payloads := make([]string, 0, len(batch))
	for _, ch := range batch {
		b, err := json.Marshal(note{From: s.replica, Change: ch})
		if err != nil || len(b) > maxPayload {
			b, _ = json.Marshal(note{From: s.replica, Change: store.Change{Kind: store.ChangeReset}})
		}
		payloads = append(payloads, string(b))
	}
	slices.Sort(payloads)
	payloads = slices.Compact(payloads)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.sendNotes(ctx, payloads); err != nil {
		s.log.Warn("postgres: announcing changes to the other replicas failed", "changes", len(payloads), "err", err)
	}
}

func (s *Store) sendNotes(ctx context.Context, payloads []string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	// Announcements are not data: the commit need not wait for the disk,
	// which keeps NOTIFY's global commit lock short.
	b.Queue("SET LOCAL synchronous_commit TO off")
	b.Queue("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", notifyChannel, payloads)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Watch implements store.Watcher: it LISTENs on a connection of its own,
// outside the pool, and reconnects with backoff when it is lost.
func (s *Store) Watch(ctx context.Context, fn func(store.Change)) error {
	backoff := 100 * time.Millisecond
	for {
		connected, err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			backoff = 100 * time.Millisecond
		}
		s.log.Warn("postgres: change feed lost; reconnecting", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen runs one LISTEN connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, fn func(store.Change)) (connected bool, err error) {
	if s.closed.Load() {
		<-ctx.Done()
		return false, store.ErrClosed
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	fn(store.Change{Kind: store.ChangeReset})
	for {
		// Wake up now and then to check that the server is still there:
		// a vanished peer does not always close the connection.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || (err != nil && !conn.IsClosed() && wctx.Err() != nil) {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
			continue
		}
		if err != nil {
			return true, err
		}
		var nt note
		if err := json.Unmarshal([]byte(n.Payload), &nt); err != nil || nt.Kind == "" {
			s.log.Warn("postgres: ignoring a malformed change announcement", "payload", n.Payload, "err", err)
			continue
		}
		if nt.From == s.replica {
			continue
		}
		fn(nt.Change)
	}
}
