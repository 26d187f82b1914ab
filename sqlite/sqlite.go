// Package sqlite is the embedded store: one SQLite file, through the pure-Go
// modernc.org/sqlite driver, in WAL mode.
//
// Writers are serialised twice: inside a process by a single writer
// connection, across processes by BEGIN IMMEDIATE, which takes SQLite's
// write lock at the start of the transaction (waiting up to the busy
// timeout). So every transaction reads the audit chain head and appends to
// it with no other writer in between. Readers use their own connections
// and, in WAL mode, never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// EnvStore names the store: a file path, or a postgres:// URL for the
// PostgreSQL store.
const EnvStore = "AICRED_STORE"

// DefaultBusyTimeout is how long a writer waits for another process's
// write transaction before giving up with ErrUnavailable.
const DefaultBusyTimeout = 10 * time.Second

// Store is the SQLite implementation of aicred.Store.
type Store struct {
	path string
	w    *sql.DB // one connection: the writer
	r    *sql.DB // readers
	hub  *hub    // revocation watchers
	// replayPruned is when RememberReplay last dropped expired keys
	// (Unix nanoseconds).
	replayPruned atomic.Int64
	// consolePruned is when StartConsoleSession last dropped ended
	// sessions (Unix nanoseconds).
	consolePruned atomic.Int64
}

var _ aicred.Store = (*Store)(nil)

type options struct {
	busy time.Duration
}

// An Option changes how Open opens the store.
type Option func(*options)

// BusyTimeout sets how long a write waits for another writer (default
// DefaultBusyTimeout).
func BusyTimeout(d time.Duration) Option { return func(o *options) { o.busy = d } }

// DefaultPath returns where the store lives when nothing else is said:
// AICRED_STORE when it names a file, else $XDG_DATA_HOME/aicred/aicred.db,
// else ~/.local/share/aicred/aicred.db.
// Errors: ErrInvalid (AICRED_STORE names a PostgreSQL database, or there
// is no home directory).
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvStore); p != "" {
		if strings.HasPrefix(p, "postgres://") || strings.HasPrefix(p, "postgresql://") {
			return "", aicred.Errorf(aicred.ErrInvalid, "%s names a PostgreSQL database, not a SQLite file", EnvStore)
		}
		return strings.TrimPrefix(strings.TrimPrefix(p, "sqlite://"), "sqlite:"), nil
	}
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", aicred.Errorf(aicred.ErrInvalid, "store: no home directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "aicred", "aicred.db"), nil
}

// Open opens (creating when needed) the store in the file at path (a
// "sqlite://" or "sqlite:" prefix is allowed) and
// applies pending schema migrations. The file and its directory are
// created private to the user (0600, 0700).
// Errors: ErrInvalid (a path SQLite cannot take, a store written by a newer
// aicred), ErrUnavailable (the file cannot be created, opened or locked).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{busy: DefaultBusyTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	path = strings.TrimPrefix(strings.TrimPrefix(path, "sqlite://"), "sqlite:")
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, aicred.Errorf(aicred.ErrInvalid, "store path %q: must be a plain file name without '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "store %s: %w", path, err)
	}
	// Create the file ourselves so that it is private; SQLite gives its
	// -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "store %s: %w", path, err)
	}

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode: a crash of the process loses nothing; a power
	// loss may lose the last transactions but never leaves them half done.
	q.Add("_pragma", "synchronous(NORMAL)")
	// 16 MiB of page cache per connection: a long-running gateway writes
	// usage records without end, and a bigger cache only grows its memory
	// (64 MiB measured no faster for 100,000 sightings on this machine).
	q.Add("_pragma", "cache_size(-16384)")
	q.Add("_pragma", "wal_autocheckpoint(8192)")
	reader := q.Encode()
	q.Set("_txlock", "immediate")
	writer := q.Encode()

	s := &Store{path: path, hub: newHub()}
	var err error
	if s.w, err = sql.Open("sqlite", path+"?"+writer); err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0)
	if s.r, err = sql.Open("sqlite", path+"?"+reader+"&_pragma=query_only(1)"); err != nil {
		s.w.Close()
		return nil, aicred.Errorf(aicred.ErrInvalid, "store %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(4)
	if err := migrateRetrying(ctx, s.w, o.busy); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// migrateRetrying applies the migrations, retrying while the database is
// busy for up to busy. Several processes opening a brand-new file at once
// race to switch it to WAL mode, and SQLite answers that switch with
// SQLITE_BUSY at once rather than through the busy handler.
func migrateRetrying(ctx context.Context, db *sql.DB, busy time.Duration) error {
	deadline := time.Now().Add(busy)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := migrate(ctx, db)
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Close stops the revocation watchers (waiting for a call of theirs in
// progress) and closes the database.
func (s *Store) Close() error {
	s.hub.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// classify gives err a kind: busy or unreachable databases are
// ErrUnavailable, constraint violations ErrConflict. Errors that already
// have a kind keep it.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var ae *aicred.Error
	if errors.As(err, &ae) {
		return aicred.Errorf(ae.Kind, "%s: %w", msg, err)
	}
	kind := aicred.ErrInternal
	var se *sqlite.Error
	switch {
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return aicred.Errorf(aicred.ErrUnavailable, "%s: the store is locked by another writer for longer than the busy timeout: %w", msg, err)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
			sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_PERM, sqlite3.SQLITE_INTERRUPT:
			kind = aicred.ErrUnavailable
		case sqlite3.SQLITE_CONSTRAINT:
			kind = aicred.ErrConflict
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, sql.ErrConnDone):
		kind = aicred.ErrUnavailable
	}
	return aicred.Errorf(kind, "%s: %w", msg, err)
}

// querier is what both *sql.DB and *sql.Tx offer to read.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// write runs fn in one write transaction with the audit chain: the chain
// head is read after the write lock is taken, and the events fn appends are
// written, with the new head, before the commit.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sql.Tx, c *audit.Chain) error) error {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock now
	if err != nil {
		return classify(err, "%s: begin", what)
	}
	defer tx.Rollback()
	var head aicred.AuditHead
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash); err != nil {
		return classify(err, "%s: read audit head", what)
	}
	c := audit.NewChain(ctx, head, time.Now())
	if err := fn(tx, c); err != nil {
		return classify(err, "%s", what)
	}
	if err := appendEvents(ctx, tx, c); err != nil {
		return classify(err, "%s: audit", what)
	}
	if err := tx.Commit(); err != nil {
		return classify(err, "%s: commit", what)
	}
	return nil
}

func appendEvents(ctx context.Context, tx *sql.Tx, c *audit.Chain) error {
	if len(c.Pending) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range c.Pending {
		e := &c.Pending[i]
		if _, err := st.ExecContext(ctx, e.Seq, audit.FormatTime(e.Time), e.Actor, e.Action, e.Subject, jsonMap(e.Data), e.PrevHash, e.Hash); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, c.Head.Seq, c.Head.Hash)
	return err
}

// read runs fn in a read transaction: one consistent snapshot.
func (s *Store) read(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return classify(err, "%s: begin", what)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return classify(err, "%s", what)
	}
	return nil
}

// Encoding of values to columns.

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return audit.FormatTime(t)
}

func parseTS(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return audit.ParseTime(s.String)
}

func jsonMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // sorted keys; strings only
	return string(b)
}

func parseMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("bad JSON object: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
