package gateway

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/sqlite"
)

func openSQLite(tb testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// lockedBuffer is a log sink safe for the recorder's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func usageRecord(i int, at time.Time) UsageRecord {
	return UsageRecord{
		Time: at.Add(time.Duration(i) * time.Millisecond), TokenID: fmt.Sprintf("tok_%d", i%7),
		Workload: "https://issuer repo:acme/app", Role: "trainer", Provider: "openai", Model: "gpt-4o-mini",
		Usage: Usage{InputTokens: int64(100 + i), OutputTokens: 20}, CostUSD: 0.001, Status: 200, Outcome: OutcomeOK,
		UpstreamRequestID: fmt.Sprintf("req_%d", i),
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreRecorderBatchesAndFlushes(t *testing.T) {
	tests := []struct {
		name       string
		cfg        StoreRecorderConfig
		n          int
		closeFirst bool // Close, rather than the timer, flushes the tail
	}{
		{"full batches and a timed tail", StoreRecorderConfig{Batch: 100, FlushEvery: 20 * time.Millisecond}, 450, false},
		{"close flushes", StoreRecorderConfig{Batch: 1000, FlushEvery: time.Hour}, 321, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openSQLite(t, filepath.Join(t.TempDir(), "aicred.db"))
			tc.cfg.Log = slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))
			rec := NewStoreRecorder(st, tc.cfg)
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			for i := range tc.n {
				if err := rec.RecordUsage(context.Background(), usageRecord(i, at)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.closeFirst {
				if err := rec.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else {
				waitFor(t, "the timer to flush the tail", func() bool { return rec.Stats().Written == uint64(tc.n) })
				defer rec.Close(context.Background())
			}
			got, err := st.ListUsage(context.Background(), aicred.UsageFilter{})
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for i := range got {
				if got[i].ID == "" || ids[got[i].ID] {
					t.Fatalf("record %d: id %q missing or repeated", i, got[i].ID)
				}
				ids[got[i].ID] = true
			}
			first, last := got[0], got[len(got)-1]
			first.ID, last.ID = "", ""
			if len(got) != tc.n || first != usageRecord(0, at) || last != usageRecord(tc.n-1, at) {
				t.Fatalf("%d records in the store, want %d as recorded", len(got), tc.n)
			}
			if s := rec.Stats(); s.Written != uint64(tc.n) || s.Lost != 0 || s.Queued != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// lostCommitStore commits a batch and then, the first fail times, answers
// ErrUnavailable, as a store does whose COMMIT reached the database and
// whose answer was lost on the way back.
type lostCommitStore struct {
	aicred.UsageService
	mu   sync.Mutex
	fail int
}

func (s *lostCommitStore) RecordUsage(ctx context.Context, recs []aicred.UsageRecord) error {
	if err := s.UsageService.RecordUsage(ctx, recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return aicred.Errorf(aicred.ErrUnavailable, "record usage: commit: connection reset")
	}
	return nil
}

// TestStoreRecorderLostCommitAnswer: a batch retried after its commit's
// answer was lost is stored once (the chaos harness saw 739 records for
// 738 answers before records had an idempotency key).
func TestStoreRecorderLostCommitAnswer(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "aicred.db"))
	flaky := &lostCommitStore{UsageService: st, fail: 2}
	rec := NewStoreRecorder(flaky, StoreRecorderConfig{Batch: 50, FlushEvery: 10 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const n = 120
	for i := range n {
		if err := rec.RecordUsage(context.Background(), usageRecord(i, at)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := st.ListUsage(context.Background(), aicred.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if s := rec.Stats(); len(got) != n || s.Retries != 2 || s.Lost != 0 {
		t.Fatalf("%d records stored for %d recorded (stats %+v), want each once after 2 retries", len(got), n, s)
	}
	sum, err := st.SummarizeUsage(context.Background(), aicred.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum) != 1 || sum[0].Requests != n {
		t.Fatalf("summary %+v, want %d requests", sum, n)
	}
}

// TestStoreRecorderStoreDown: while the store is locked by another
// process, recording never blocks the request path; what does not fit in
// the queue is counted and logged; when the store comes back the queue
// is written; written + lost = recorded.
func TestStoreRecorderStoreDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	st := openSQLite(t, path, sqlite.BusyTimeout(20*time.Millisecond))
	// Another process holds the write lock.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	rec := NewStoreRecorder(st, StoreRecorderConfig{Batch: 50, FlushEvery: 10 * time.Millisecond, Queue: 100,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	const n = 2000
	start := time.Now()
	for i := range n {
		if err := rec.RecordUsage(context.Background(), usageRecord(i, at)); err != nil {
			t.Fatal(err)
		}
	}
	// Waiting for the store even once per batch would take seconds (20ms
	// busy timeout); not waiting takes microseconds a call.
	if took := time.Since(start); took > time.Second {
		t.Fatalf("%d RecordUsage calls took %s with the store down: they must not wait for the store", n, took)
	}
	lostWhileDown := rec.Lost()
	// At most the queue and one batch in hand survive.
	if lostWhileDown < n-100-50 {
		t.Fatalf("lost %d of %d with a queue of 100", lostWhileDown, n)
	}
	waitFor(t, "the loss to be logged", func() bool { return strings.Contains(logs.String(), "usage records lost") })
	if !strings.Contains(logs.String(), "usage store unavailable") {
		t.Fatalf("no log of the store being down:\n%s", logs.String())
	}

	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := rec.Stats()
	if s.Written+s.Lost != n || s.Written == 0 || s.Retries == 0 {
		t.Fatalf("stats %+v: written + lost must be %d, with some written after retries", s, n)
	}
	got, err := st.ListUsage(context.Background(), aicred.UsageFilter{})
	if err != nil || uint64(len(got)) != s.Written {
		t.Fatalf("%d records in the store, %d counted written, %v", len(got), s.Written, err)
	}
	if err := rec.RecordUsage(context.Background(), usageRecord(0, at)); aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("after Close: %v", err)
	}
	if err := rec.RecordUsage(context.Background(), UsageRecord{}); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("a malformed record: %v", err)
	}
}

// TestStoreRecorderCloseDeadline: Close gives up when its context ends
// while the store stays down, and says how many records were not written.
func TestStoreRecorderCloseDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	st := openSQLite(t, path, sqlite.BusyTimeout(200*time.Millisecond))
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	rec := NewStoreRecorder(st, StoreRecorderConfig{Batch: 10, FlushEvery: time.Hour, Log: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))})
	for i := range 35 {
		if err := rec.RecordUsage(context.Background(), usageRecord(i, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := rec.Close(ctx); aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("Close with the store down: %v", err)
	}
	conn.ExecContext(context.Background(), "ROLLBACK")
	waitFor(t, "the writer to give up or finish", func() bool { s := rec.Stats(); return s.Written+s.Lost == 35 })
}

// BenchmarkStoreRecorder measures the request path's cost of recording:
// queueing one record while the writer drains into SQLite behind it.
// SQLite takes tens of thousands of records a second and the benchmark
// offers millions, so once the queue is full the calls measured are
// drops; lost/op says what share.
func BenchmarkStoreRecorder(b *testing.B) {
	st := openSQLite(b, filepath.Join(b.TempDir(), "aicred.db"))
	rec := NewStoreRecorder(st, StoreRecorderConfig{Log: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))})
	r := usageRecord(1, time.Now())
	lost0 := rec.Lost()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := rec.RecordUsage(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rec.Lost()-lost0)/float64(b.N), "lost/op")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
