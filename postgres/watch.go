package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aicred/aicred"
)

// Watching revocations. Each WatchRevocations call holds one connection of
// its own, outside the pool (a LISTEN holds its connection for good, and
// the pool's few are for requests). It LISTENs on RevocationChannel and
// reads the revocation log after its last delivered seq whenever a
// notification names a newer seq, every RevocationPollInterval as a safety
// net, and after every reconnect; so fn gets each revocation once, in
// order, whatever notifications were lost. Reading the log on the
// listening connection doubles as its health check: a connection that died
// without a word fails the read, and is replaced.
const (
	// RevocationPollInterval is how long a watcher waits for a
	// notification before reading the log anyway.
	RevocationPollInterval = time.Second
	// readTimeout bounds a read of the log on the listening connection.
	readTimeout = 5 * time.Second
	// Reconnects back off exponentially between these, with jitter.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// lifetime ends when the Store closes: watch goroutines stop with it, and
// Close waits for them.
type lifetime struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	end    context.CancelFunc
}

func newLifetime() *lifetime {
	ctx, end := context.WithCancel(context.Background())
	return &lifetime{ctx: ctx, end: end}
}

// add counts a goroutine about to start; false once the store is closed.
func (l *lifetime) add() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

func (l *lifetime) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.end()
	l.wg.Wait()
}

// WatchRevocations implements aicred.TokenService. It returns once its
// connection listens, so every revocation committed after it returns is
// delivered.
func (s *Store) WatchRevocations(ctx context.Context, fn func(aicred.Revocation)) error {
	if !s.life.add() {
		return aicred.Errorf(aicred.ErrUnavailable, "watch revocations: the store is closed")
	}
	conn, err := s.listen(ctx)
	if err != nil {
		s.life.wg.Done()
		return err
	}
	// Read after LISTEN: a revocation committed later is announced.
	var last int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM revocations`).Scan(&last); err != nil {
		closeConn(conn)
		s.life.wg.Done()
		return classify(err, "watch revocations: read the log")
	}
	go func() {
		defer s.life.wg.Done()
		s.watch(ctx, conn, last, fn)
	}()
	return nil
}

// listenConfig returns the pool's connection config for the watchers'
// connections, named so that pg_stat_activity tells them apart.
func listenConfig(cfg *pgx.ConnConfig) *pgx.ConnConfig {
	name := cfg.RuntimeParams["application_name"]
	if name == "" {
		name = "aicred"
	}
	cfg.RuntimeParams["application_name"] = name + " revocation watch"
	return cfg
}

// listen opens a connection outside the pool that listens on
// RevocationChannel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig)
	if err != nil {
		return nil, classify(err, "watch revocations: connect")
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{RevocationChannel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, classify(err, "watch revocations: listen")
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

func (s *Store) watch(ctx context.Context, conn *pgx.Conn, last int64, fn func(aicred.Revocation)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life.ctx, cancel)()
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	backoff := minBackoff
	// The log is read at least once per RevocationPollInterval, however
	// many notifications arrive that need no read (other schemas' on a
	// shared database, or seqs already delivered).
	nextRead := time.Now().Add(RevocationPollInterval)
	for ctx.Err() == nil {
		if conn == nil {
			if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
				return
			}
			var err error
			if conn, err = s.listen(ctx); err != nil {
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = minBackoff
		} else {
			wctx, wcancel := context.WithDeadline(ctx, nextRead)
			n, err := conn.WaitForNotification(wctx)
			wcancel()
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				if seq, perr := strconv.ParseInt(n.Payload, 10, 64); perr == nil && seq <= last && time.Now().Before(nextRead) {
					continue
				}
			case !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded): // the connection is gone
				closeConn(conn)
				conn = nil
				continue
			}
		}
		var ok bool
		if last, ok = deliver(ctx, conn, last, fn); !ok && ctx.Err() == nil {
			closeConn(conn)
			conn = nil
		}
		nextRead = time.Now().Add(RevocationPollInterval)
	}
}

// deliver reads the revocations after last on conn, calls fn for each and
// returns the last seq delivered; false when the read failed.
func deliver(ctx context.Context, conn *pgx.Conn, last int64, fn func(aicred.Revocation)) (int64, bool) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	rs, err := revocationsSince(rctx, conn, last)
	cancel()
	if err != nil {
		return last, false
	}
	for _, r := range rs {
		if ctx.Err() != nil {
			break
		}
		fn(r)
		last = r.Seq
	}
	return last, true
}

// sleep waits for d or the end of ctx, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
