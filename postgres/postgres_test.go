package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/postgres"
	"github.com/aicred/aicred/storetest"
)

// EnvTestDSN names the database the tests may use; without it they skip.
const EnvTestDSN = "AICRED_TEST_POSTGRES"

func baseDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvTestDSN)
	if dsn == "" {
		tb.Skipf("%s is not set: skipping the PostgreSQL tests (e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')", EnvTestDSN, EnvTestDSN)
	}
	return dsn
}

// withParams returns dsn with extra runtime parameters.
func withParams(tb testing.TB, dsn string, params map[string]string) string {
	tb.Helper()
	if !postgres.IsDSN(dsn) { // key=value form
		for k, v := range params {
			dsn += " " + k + "=" + v
		}
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema creates a fresh schema, dropped when the test ends, and returns
// a DSN whose connections use it, and its name.
func newSchema(tb testing.TB) (string, string) {
	tb.Helper()
	base := baseDSN(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "aicred_test_" + hex.EncodeToString(b[:])
	conn := connect(tb, base)
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c := connect(tb, base)
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	return withParams(tb, base, map[string]string{"search_path": schema, "application_name": schema}), schema
}

func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to the test database: %v", err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func openAt(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// dsns remembers each store's DSN for Exec and Dump.
var dsns sync.Map

func openStore(tb testing.TB) aicred.Store {
	dsn, _ := newSchema(tb)
	s := openAt(tb, dsn)
	dsns.Store(s, dsn)
	return s
}

func dsnOf(tb testing.TB, s aicred.Store) string {
	d, ok := dsns.Load(s)
	if !ok {
		tb.Fatal("unknown store")
	}
	return d.(string)
}

var backend = storetest.Backend{
	Open: openStore,
	Reopen: func(tb testing.TB, s aicred.Store) aicred.Store {
		s2 := openAt(tb, dsnOf(tb, s))
		dsns.Store(s2, dsnOf(tb, s))
		return s2
	},
	Exec: func(tb testing.TB, s aicred.Store, query string) {
		tb.Helper()
		c := connect(tb, dsnOf(tb, s))
		for _, q := range []string{
			"DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
			"DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
			query,
		} {
			if _, err := c.Exec(context.Background(), q); err != nil {
				tb.Fatalf("%s: %v", q, err)
			}
		}
	},
	// Every row of every table in the store's schema, as text (bytea as hex).
	Dump: func(tb testing.TB, s aicred.Store) []byte {
		tb.Helper()
		c := connect(tb, dsnOf(tb, s))
		ctx := context.Background()
		rows, err := c.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
		if err != nil {
			tb.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatal(err)
		}
		var buf bytes.Buffer
		for _, t := range tables {
			rows, err := c.Query(ctx, "SELECT t::text FROM "+pgx.Identifier{t}.Sanitize()+" t")
			if err != nil {
				tb.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				tb.Fatal(err)
			}
			for _, l := range lines {
				buf.WriteString(l)
				buf.WriteByte('\n')
			}
		}
		tb.Logf("dumped %d bytes from %d tables", buf.Len(), len(tables))
		return buf.Bytes()
	},
}

func TestConformance(t *testing.T) { storetest.Run(t, backend) }

func BenchmarkRecordSightings(b *testing.B) {
	storetest.BenchmarkRecordSightings(b, openStore)
}

func TestUnavailable(t *testing.T) {
	base := baseDSN(t)
	ctx := context.Background()
	// Nothing listens on port 1.
	u, _ := url.Parse("postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	start := time.Now()
	_, err := postgres.Open(ctx, u.String())
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("no server: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v to fail", time.Since(start))
	}
	t.Logf("no server: %v", err)

	// No such database.
	if postgres.IsDSN(base) {
		u, _ := url.Parse(base)
		u.Path = "/aicred_no_such_database"
		_, err = postgres.Open(ctx, u.String())
		if aicred.KindOf(err) != aicred.ErrUnavailable {
			t.Fatalf("no database: %v", err)
		}
	}

	// Malformed, and the password stays out of the message.
	_, err = postgres.Open(ctx, "postgres://u:s3cretpw@host:notaport/db")
	if aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("malformed: %v", err)
	}
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("error message carries the password: %v", err)
	}
}

// A writer that cannot get the chain head in time gives up with a clear
// error and leaves nothing behind.
func TestLockedTimesOut(t *testing.T) {
	dsn, _ := newSchema(t)
	s := openAt(t, dsn)
	defer s.Close()
	other := connect(t, dsn)
	ctx := context.Background()
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM audit_head FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	sec := storetest.NewGen(1).Secret()
	_, err = s.RecordSightings(wctx, []aicred.Observation{storetest.Observation(sec, "/r", "a", "", time.Now())})
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("locked: %v", err)
	}
	t.Logf("locked: %v", err)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.ListCredentials(ctx, aicred.CredentialFilter{}); err != nil || len(cs) != 0 {
		t.Fatalf("after a failed write: %d credentials, %v", len(cs), err)
	}
	if v, err := s.VerifyAudit(ctx); err != nil || !v.OK() || v.Records != 0 {
		t.Fatalf("after a failed write: %+v %v", v, err)
	}
}

// The database drops the connection in the middle of a write transaction:
// a clear error, no partial state, and the store recovers.
func TestConnectionLostMidWrite(t *testing.T) {
	dsn, schema := newSchema(t)
	s := openAt(t, dsn)
	defer s.Close()
	ctx := context.Background()
	g := storetest.NewGen(2)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.RecordSightings(ctx, g.Observations(10, 3, time.Now()))
	must(err)
	before, err := s.VerifyAudit(ctx)
	must(err)

	// Hold the chain head so the store's write waits inside its
	// transaction, then kill its connection.
	admin := connect(t, baseDSN(t))
	other := connect(t, dsn)
	tx, err := other.Begin(ctx)
	must(err)
	_, err = tx.Exec(ctx, "SELECT 1 FROM audit_head FOR UPDATE")
	must(err)
	done := make(chan error, 1)
	go func() {
		_, err := s.RecordSightings(ctx, g.Observations(50, 10, time.Now()))
		done <- err
	}()
	var killed bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !killed; time.Sleep(20 * time.Millisecond) {
		must(admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`, schema).Scan(&killed))
	}
	if !killed {
		t.Fatal("the write never waited for the lock")
	}
	err = <-done
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("connection lost: %v", err)
	}
	t.Logf("connection lost: %v", err)
	must(tx.Rollback(ctx))

	after, err := s.VerifyAudit(ctx)
	must(err)
	if !after.OK() || after.Records != before.Records {
		t.Fatalf("partial state: %+v before, %+v after", before, after)
	}
	// The pool replaces the connection.
	_, err = s.RecordSightings(ctx, g.Observations(10, 3, time.Now()))
	must(err)
	storetest.CheckConsistent(t, s)
}

// Several stores on one database, like several aicred processes, writing at
// once.
func TestConcurrentStores(t *testing.T) {
	dsn, _ := newSchema(t)
	const stores, rounds = 4, 10
	var wg sync.WaitGroup
	for i := range stores {
		s := openAt(t, dsn)
		defer s.Close()
		for w := range 2 {
			wg.Go(func() {
				g := storetest.NewGen(uint64(100*i + w))
				shared := storetest.NewGen(7).Secret()
				for r := range rounds {
					obs := g.Observations(20, 5, time.Now())
					obs = append(obs, storetest.Observation(shared, "/shared", g.Secret().Fingerprint().Short(), "", time.Now()))
					if _, err := s.RecordSightings(context.Background(), obs); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.AppendAudit(context.Background(), aicred.AuditEvent{Action: "round", Data: map[string]string{"r": string(rune('0' + r))}}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	s := openAt(t, dsn)
	defer s.Close()
	creds, sightings := storetest.CheckConsistent(t, s)
	if want := stores * 2 * rounds * 21; sightings != want {
		t.Fatalf("%d sightings, want %d", sightings, want)
	}
	t.Logf("%d stores x 2 goroutines: %d credentials, %d sightings, chain verifies", stores, creds, sightings)
}

func TestMigrations(t *testing.T) {
	dsn, _ := newSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := connect(t, dsn)
	var n, v int
	if err := c.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &v); err != nil || n != migrationCount(t) || v != lastMigration(t) {
		t.Fatalf("schema_migrations: %d rows, version %d, %v", n, v, err)
	}
	if _, err := c.Exec(context.Background(), "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(context.Background(), dsn); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestAppendOnlyGuard(t *testing.T) {
	dsn, _ := newSchema(t)
	s := openAt(t, dsn)
	defer s.Close()
	if _, err := s.AppendAudit(context.Background(), aicred.AuditEvent{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	c := connect(t, dsn)
	for _, q := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
		if _, err := c.Exec(context.Background(), q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
}

func BenchmarkListCredentials(b *testing.B) {
	storetest.BenchmarkListCredentials(b, openStore)
}

func BenchmarkPostureReport(b *testing.B) {
	storetest.BenchmarkPostureReport(b, openStore)
}

// TestWatchReconnects kills a watcher's listening connection from the
// server side, as a failover or an idle-connection reaper would, and
// revokes while it is gone: the watcher reconnects, delivers what it
// missed in order, and listens again.
func TestWatchReconnects(t *testing.T) {
	dsn, schema := newSchema(t)
	a, b := openAt(t, dsn), openAt(t, dsn)
	defer a.Close()
	defer b.Close()
	got := make(chan aicred.Revocation, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.WatchRevocations(ctx, func(r aicred.Revocation) { got <- r }); err != nil {
		t.Fatal(err)
	}
	revoke := func(v string) {
		t.Helper()
		if err := a.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeRole, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(within time.Duration, values ...string) {
		t.Helper()
		for _, v := range values {
			select {
			case r := <-got:
				if r.Value != v {
					t.Fatalf("delivered %q, want %q", r.Value, v)
				}
			case <-time.After(within):
				t.Fatalf("%q not delivered within %v", v, within)
			}
		}
	}
	revoke("before")
	expect(time.Second, "before")

	c := connect(t, baseDSN(t))
	var killed int
	if err := c.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, schema+" revocation watch").Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listening connections: %v", killed, err)
	}
	revoke("during-1")
	revoke("during-2")
	expect(5*time.Second, "during-1", "during-2")
	// Listening again: a notification, not the poll, brings the next one.
	start := time.Now()
	revoke("after")
	expect(time.Second, "after")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("after the reconnect a revocation took %v: not listening?", d)
	}
	select {
	case r := <-got:
		t.Fatalf("delivered twice or unasked: %+v", r)
	case <-time.After(1500 * time.Millisecond):
	}
}

// TestWatchPolls writes a revocation without a notification (as if it
// had been lost): the watcher's poll still delivers it, within
// RevocationPollInterval plus a read.
func TestWatchPolls(t *testing.T) {
	dsn, _ := newSchema(t)
	s := openAt(t, dsn)
	defer s.Close()
	got := make(chan aicred.Revocation, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.WatchRevocations(ctx, func(r aicred.Revocation) { got <- r }); err != nil {
		t.Fatal(err)
	}
	c := connect(t, dsn)
	start := time.Now()
	if _, err := c.Exec(ctx, `INSERT INTO revocations (seq, "by", value, reason, at, grants) VALUES (1, 'role', 'silent', '', now(), 0)`); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.Seq != 1 || r.Value != "silent" {
			t.Fatalf("delivered %+v", r)
		}
		t.Logf("delivered by the poll after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(postgres.RevocationPollInterval + 2*time.Second):
		t.Fatal("a revocation without a notification was never delivered")
	}
}

func BenchmarkRevocationLatency(b *testing.B) {
	storetest.BenchmarkRevocationLatency(b, backend, 20*time.Millisecond)
}

func BenchmarkIssueGrant(b *testing.B) { storetest.BenchmarkIssueGrant(b, openStore) }

func BenchmarkLookupGrant(b *testing.B) { storetest.BenchmarkLookupGrant(b, openStore) }

func BenchmarkRecordUsage(b *testing.B) { storetest.BenchmarkRecordUsage(b, openStore) }

func BenchmarkSummarizeUsage(b *testing.B) { storetest.BenchmarkSummarizeUsage(b, openStore) }

// migrationCount is how many migration files there are (0001 to the last).
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	return len(files)
}

// lastMigration is the highest migration version: versions may skip
// numbers (migrations written on separate branches).
func lastMigration(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	last := 0
	for _, f := range files {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(f), "%04d_", &v); err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		last = max(last, v)
	}
	return last
}
