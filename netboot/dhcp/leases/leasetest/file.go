// Package leasetest holds File, a lease store kept in one journal file,
// for the DHCP server's tests and the harness benchmark
// (internal/bench/netboot): it exercises the batched-commit path
// (leases.Queuer) without a database. It is not the product's lease
// store: razor-netboot serve keeps leases in the checkin server's store
// (SQLite or PostgreSQL), where they are durable in the same transactions
// as nodes and shared by replicas, which a local journal cannot be.
package leasetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// ErrClosed: the File store was closed or failed to write; it accepts no
// more changes.
var ErrClosed = errors.New("leasetest: store closed")

// File is a durable leases.Store kept in one journal file: every change is
// appended as a JSON line and fsynced before PutLease or DeleteLease
// returns. Concurrent changes share one fsync (group commit), so a busy
// DHCP server is bound by the disk's fsync rate per batch, not per lease.
// Open replays the journal and rewrites it compacted; the journal is also
// compacted while running when it holds many superseded records.
//
// File is meant for razor-netboot without a shared database and for the
// DHCP benchmark; the checkin server's SQLite and PostgreSQL stores are
// the ones replicas share.
type File struct {
	path string
	log  *slog.Logger
	Now  func() time.Time // defaults to time.Now

	mu      sync.Mutex
	t       leases.Table
	pending []pendingWrite
	wake    chan struct{}
	err     error // sticky: a failed write closes the store
	records int   // records in the journal file

	f         *os.File
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type pendingWrite struct {
	rec  []byte
	done chan error
}

// record is one journal line.
type record struct {
	Op       string    `json:"op"` // "put" or "del"
	MAC      string    `json:"mac"`
	IP       string    `json:"ip,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

var (
	_ leases.Store  = (*File)(nil)
	_ leases.Queuer = (*File)(nil)
)

// OpenFile opens (creating if needed) the journal at path. A torn last
// line, as a crash while appending leaves, is dropped; any other bad line
// is an error naming its line number. log may be nil.
func OpenFile(path string, log *slog.Logger) (*File, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &File{
		path: path, log: log,
		t:    leases.NewTable(),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if err := s.replay(); err != nil {
		return nil, err
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	go s.committer()
	return s, nil
}

func (s *File) replay() error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("leasetest: open journal: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				s.log.Warn("leasetest: dropping torn last journal line", "path", s.path, "line", n)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("leasetest: read journal %s: %w", s.path, err)
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("leasetest: journal %s line %d: %w", s.path, n, err)
		}
		if err := s.apply(r); err != nil {
			return fmt.Errorf("leasetest: journal %s line %d: %w", s.path, n, err)
		}
	}
}

// apply changes the in-memory state; callers hold mu (or own s alone).
func (s *File) apply(r record) error {
	switch r.Op {
	case "put":
		ip, err := netip.ParseAddr(r.IP)
		if err != nil {
			return fmt.Errorf("bad ip %q: %w", r.IP, err)
		}
		s.t.Put(leases.Lease{MAC: r.MAC, IP: ip, Hostname: r.Hostname, Expires: r.Expires})
	case "del":
		s.t.Del(r.MAC)
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	return nil
}

// compact writes the live leases to a new journal and renames it over
// the old one. Callers hold mu or own s alone.
func (s *File) compact() error {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("leasetest: compact: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	for _, l := range s.t.List() {
		bw.Write(encode(putRecord(l)))
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("leasetest: compact: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("leasetest: compact: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("leasetest: compact: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("leasetest: compact: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("leasetest: reopen journal: %w", err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f = f
	s.records = s.t.Len()
	return nil
}

func putRecord(l leases.Lease) record {
	return record{Op: "put", MAC: l.MAC, IP: l.IP.String(), Hostname: l.Hostname, Expires: l.Expires.UTC()}
}

func encode(r record) []byte {
	b, _ := json.Marshal(r) // a record always marshals
	return append(b, '\n')
}

func (s *File) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// enqueue queues rec for the committer; callers hold mu.
func (s *File) enqueue(rec []byte) chan error {
	done := make(chan error, 1)
	s.pending = append(s.pending, pendingWrite{rec: rec, done: done})
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return done
}

// committer appends queued records in batches, one fsync per batch.
func (s *File) committer() {
	defer close(s.done)
	var buf []byte
	for range s.wake {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		closed := s.err != nil
		s.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			continue
		}
		buf = buf[:0]
		for _, w := range batch {
			buf = append(buf, w.rec...)
		}
		_, err := s.f.Write(buf)
		if err == nil {
			err = s.f.Sync()
		}
		if err != nil {
			err = fmt.Errorf("leasetest: write journal %s: %w", s.path, err)
			s.log.Error("leasetest: journal write failed; store closed", "err", err)
		}
		s.mu.Lock()
		if err != nil && s.err == nil {
			s.err = err
		}
		s.records += len(batch)
		if err == nil && s.records > 1024 && s.records > 4*s.t.Len() && len(s.pending) == 0 {
			// Everything queued is written, so the in-memory state is
			// exactly the journal's: safe to rewrite it.
			if cerr := s.compact(); cerr != nil {
				s.log.Warn("leasetest: compaction failed", "err", cerr)
			}
		}
		s.mu.Unlock()
		for _, w := range batch {
			w.done <- err
		}
	}
}

// PutLease implements leases.Store: the lease is durable when it returns nil.
func (s *File) PutLease(ctx context.Context, l leases.Lease) error {
	wait, err := s.QueueLease(l)
	if err != nil {
		return err
	}
	return wait(ctx)
}

// QueueLease implements leases.Queuer.
func (s *File) QueueLease(l leases.Lease) (func(context.Context) error, error) {
	if !l.IP.Is4() {
		return nil, fmt.Errorf("leasetest: lease of %s: address %v is not IPv4", l.MAC, l.IP)
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	if s.t.Conflict(l, s.now()) {
		s.mu.Unlock()
		return nil, leases.ErrConflict
	}
	s.t.Put(l)
	done := s.enqueue(encode(putRecord(l)))
	s.mu.Unlock()
	return func(ctx context.Context) error { return s.wait(ctx, done) }, nil
}

func (s *File) wait(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The record is queued and will be written; the caller just
		// stops waiting for it.
		return fmt.Errorf("leasetest: waiting for journal: %w", ctx.Err())
	}
}

// GetLease implements leases.Store.
func (s *File) GetLease(_ context.Context, mac string) (leases.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.Get(mac)
}

// ListLeases implements leases.Store; the result is sorted by address.
func (s *File) ListLeases(context.Context) ([]leases.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.List(), nil
}

// DeleteLease implements leases.Store; deleting a missing lease is not an error.
func (s *File) DeleteLease(ctx context.Context, mac string) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	if !s.t.Del(mac) {
		s.mu.Unlock()
		return nil
	}
	done := s.enqueue(encode(record{Op: "del", MAC: mac}))
	s.mu.Unlock()
	return s.wait(ctx, done)
}

// Close writes what is queued, stops the committer and closes the file.
// Closing twice is harmless.
func (s *File) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		if s.err == nil {
			s.err = ErrClosed
		}
		// No enqueue can follow: every writer checks s.err under mu.
		s.mu.Unlock()
		close(s.wake)
		<-s.done
		s.closeErr = s.f.Close()
	})
	return s.closeErr
}
