// Package postgres is the store for deployments where several aicred
// processes share one database, through pgx and a connection pool.
//
// Every write transaction starts by locking the audit chain head row
// (SELECT ... FOR UPDATE). That one lock serialises writers across
// processes, so each transaction appends to the chain with no other writer
// in between, and it is always taken first, so writers cannot deadlock.
// Readers take no locks.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// DefaultConnectTimeout bounds connecting when the DSN sets no
// connect_timeout, so an unreachable database fails fast. A connection
// opened while the network was black-holed (accepted, never answered)
// holds one of the pool's few slots until this bound, after the network
// has healed too: at 5 s the store came back up to 10 s after a
// black-hole. A database that answers takes milliseconds, a remote one
// over TLS a few hundred.
const DefaultConnectTimeout = 2 * time.Second

// DefaultPingTimeout bounds the liveness check of a pooled connection
// that sat idle, when the DSN sets no pool_ping_timeout. Without it a
// connection that died silently (a black-holed network answers nothing
// and refuses nothing) is pinged with the caller's context, which may
// have no deadline: the caller hangs until TCP gives up, minutes later,
// and holds one of the pool's few connections meanwhile. Bounded, the
// dead connection is dropped and another is taken.
const DefaultPingTimeout = time.Second

// hotOpTimeout bounds the store calls made on a request's path with the
// request's own context (which has no deadline), when the caller set
// none: a call stuck on a connection that died silently would otherwise
// hold one of the pool's connections until the client gives up, and
// starve every other caller after the network heals.
const hotOpTimeout = 5 * time.Second

// boundOp returns ctx with hotOpTimeout when it has no deadline.
func boundOp(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, hotOpTimeout)
}

// Store is the PostgreSQL implementation of aicred.Store.
type Store struct {
	pool *pgxpool.Pool
	// connConfig opens the connections that revocation watchers LISTEN
	// on, outside the pool.
	connConfig *pgx.ConnConfig
	life       *lifetime
	// replayPruned is when RememberReplay last dropped expired keys
	// (Unix nanoseconds).
	replayPruned atomic.Int64
	// consolePruned is when StartConsoleSession last dropped ended
	// sessions (Unix nanoseconds).
	consolePruned atomic.Int64
}

var _ aicred.Store = (*Store)(nil)

// IsDSN reports whether s names a PostgreSQL database.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database named by dsn (postgres://user@host/db?...;
// a search_path parameter selects the schema) and applies pending schema
// migrations.
// Errors: ErrInvalid (a malformed DSN, a schema newer than this aicred),
// ErrUnavailable (the database cannot be reached or refuses us).
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Report the cause without the DSN, which may hold a password.
		if cause := errors.Unwrap(err); cause != nil {
			return nil, aicred.Errorf(aicred.ErrInvalid, "store: malformed PostgreSQL DSN: %v", cause)
		}
		return nil, aicred.Errorf(aicred.ErrInvalid, "store: malformed PostgreSQL DSN")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if !strings.Contains(dsn, "pool_ping_timeout") {
		cfg.PingTimeout = DefaultPingTimeout
	}
	where := fmt.Sprintf("store postgres://%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, classify(err, "%s", where)
	}
	s := &Store{pool: pool, connConfig: listenConfig(pool.Config().ConnConfig), life: newLifetime()}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, classify(err, "%s: cannot connect", where)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}

// Close stops the revocation watchers (waiting for a call of theirs in
// progress) and closes the pool.
func (s *Store) Close() error {
	s.life.close()
	s.pool.Close()
	return nil
}

// classify gives err a kind: an unreachable database, a dropped connection
// or a timeout is ErrUnavailable, a unique violation ErrConflict. Errors
// that already have a kind keep it.
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
	var pe *pgconn.PgError
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		switch {
		case pe.Code == "23505":
			kind = aicred.ErrConflict
		case pe.Code == "40001" || pe.Code == "40P01":
			kind = aicred.ErrConflict
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources
			strings.HasPrefix(pe.Code, "57P"), // shutdown, cannot connect now
			strings.HasPrefix(pe.Code, "28"),  // authentication
			pe.Code == "3D000",                // no such database
			pe.Code == "55P03",                // lock not available
			pe.Code == "57014":                // query canceled (statement timeout)
			kind = aicred.ErrUnavailable
		}
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		kind = aicred.ErrUnavailable
	}
	return aicred.Errorf(kind, "%s: %w", msg, err)
}

// write runs fn in one transaction with the audit chain: the head row is
// locked first, and the events fn appends are written, with the new head,
// before the commit.
func (s *Store) write(ctx context.Context, what string, fn func(tx pgx.Tx, c *audit.Chain) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(err, "%s: begin", what)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var head aicred.AuditHead
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&head.Seq, &head.Hash); err != nil {
		return classify(err, "%s: lock audit head", what)
	}
	c := audit.NewChain(ctx, head, time.Now())
	if err := fn(tx, c); err != nil {
		return classify(err, "%s", what)
	}
	if err := appendEvents(ctx, tx, c); err != nil {
		return classify(err, "%s: audit", what)
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(err, "%s: commit", what)
	}
	return nil
}

func appendEvents(ctx context.Context, tx pgx.Tx, c *audit.Chain) error {
	n := len(c.Pending)
	if n == 0 {
		return nil
	}
	seq := make([]int64, n)
	at := make([]time.Time, n)
	actor, action, subject, data, prev, hash := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range c.Pending {
		seq[i], at[i], actor[i], action[i], subject[i] = e.Seq, e.Time, e.Actor, e.Action, e.Subject
		data[i], prev[i], hash[i] = jsonMap(e.Data), e.PrevHash, e.Hash
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash)
		SELECT seq, at, actor, action, subject, data::jsonb, prev_hash, hash
		FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
			AS u (seq, at, actor, action, subject, data, prev_hash, hash)`,
		seq, at, actor, action, subject, data, prev, hash); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, c.Head.Seq, c.Head.Hash)
	return err
}

// read runs fn in a read-only, repeatable-read transaction: one snapshot.
func (s *Store) read(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return classify(err, "%s: begin", what)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return classify(err, "%s", what)
	}
	return nil
}

// Encoding of values to columns.

func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return aicred.StoreTime(t.Time)
}

func jsonMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
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
