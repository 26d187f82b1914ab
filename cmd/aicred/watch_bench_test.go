package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/discover"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/source"
	"github.com/aicred/aicred/sqlite"
)

// watchBench is a running watch (the pipeline aicred watch runs, with its
// default polls) over a tree and a log, on a SQLite store, with a grant
// cache on the same store as a gateway has.
type watchBench struct {
	st      aicred.Store
	cache   *grantcache.Cache
	tree    string
	logPath string

	mu      sync.Mutex
	waiters map[aicred.Fingerprint]chan struct{}
}

func newWatchBench(b *testing.B) *watchBench {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "aicred.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	w := &watchBench{st: st, tree: filepath.Join(dir, "tree"), logPath: filepath.Join(dir, "app.log"),
		waiters: map[aicred.Fingerprint]chan struct{}{}}
	benchWrite(b, filepath.Join(w.tree, "README"), "x\n")
	benchWrite(b, w.logPath, "start\n")
	w.cache = grantcache.New(st, nil)
	if err := w.cache.Start(ctx); err != nil {
		b.Fatal(err)
	}
	sc, err := discover.New(discover.Options{Source: source.Options{Workers: 2, Warn: func(string, error) {}}})
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	p := &leakPipeline{st: st, seen: newSeenSet(100000), leaks: auditLeaks{audit: st, log: quiet}, log: quiet,
		recorded: func(f *aicred.Finding, _ *broker.LeakResult) {
			w.mu.Lock()
			if ch, ok := w.waiters[f.Fingerprint]; ok {
				close(ch)
				delete(w.waiters, f.Fingerprint)
			}
			w.mu.Unlock()
		}}
	defaults := source.WatchOptions{} // the command's defaults
	tree, logs := defaults, defaults
	tree.Trees, logs.Logs = []string{w.tree}, []string{w.logPath}
	go watchAll(aicred.WithActor(ctx, "bench"), sc, p, []watchTarget{{origin: w.tree, opts: tree}, {origin: dir, opts: logs}})
	time.Sleep(200 * time.Millisecond)
	return w
}

func (w *watchBench) expect(secret string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiters[aicred.FingerprintOf([]byte(secret))] = ch
	w.mu.Unlock()
	return ch
}

func wait(b *testing.B, ch chan struct{}) {
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		b.Fatal("not recorded within 10s")
	}
}

func appendLine(b *testing.B, path, line string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// reportLatency reports p50 and p99 of ds in milliseconds.
func reportLatency(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWatch measures, per secret, the time from the write to the
// outcome (issue 11 targets, p99: recorded 1 s, token refused 2 s):
//
//   - file-recorded: a generated key written to a new file in a watched
//     tree, until its sighting is in the store;
//   - log-recorded: a key appended to a watched log, the same;
//   - token-refused: an issued aicred workload token appended to a watched
//     log, until a grant cache on the store (the gateway's token check)
//     refuses it.
//
// The third target of the issue (a held provider key revoked at a fake
// provider) needs the response policy's rotation: it plugs in as the
// LeakHandler (leakPipeline.leaks) and is measured from the same write.
func BenchmarkWatch(b *testing.B) {
	b.Run("file-recorded", func(b *testing.B) {
		w := newWatchBench(b)
		var ds []time.Duration
		i := 0
		for b.Loop() {
			i++
			key, _ := canary(uint64(10000 + i))
			ch := w.expect(key)
			start := time.Now()
			benchWrite(b, filepath.Join(w.tree, fmt.Sprintf("f%d.env", i)), "ANTHROPIC_API_KEY="+key+"\n")
			wait(b, ch)
			ds = append(ds, time.Since(start))
		}
		reportLatency(b, ds)
	})
	b.Run("log-recorded", func(b *testing.B) {
		w := newWatchBench(b)
		var ds []time.Duration
		i := 0
		for b.Loop() {
			i++
			key, _ := canary(uint64(20000 + i))
			ch := w.expect(key)
			start := time.Now()
			appendLine(b, w.logPath, "error key="+key)
			wait(b, ch)
			ds = append(ds, time.Since(start))
		}
		reportLatency(b, ds)
	})
	b.Run("token-refused", func(b *testing.B) {
		w := newWatchBench(b)
		var ds []time.Duration
		i := 0
		for b.Loop() {
			i++
			tok := issueWorkloadToken(b, w.st, fmt.Sprintf("tok_bench%d", i), uint64(30000+i))
			ctx := context.Background()
			if _, err := broker.ValidateToken(ctx, w.cache, tok, time.Now()); err != nil {
				b.Fatal(err) // cached as valid first
			}
			start := time.Now()
			appendLine(b, w.logPath, "auth: Bearer "+tok)
			for {
				if _, err := broker.ValidateToken(ctx, w.cache, tok, time.Now()); aicred.KindOf(err) == aicred.ErrUnauthorized {
					break
				}
				if time.Since(start) > 10*time.Second {
					b.Fatal("token not refused within 10s")
				}
				time.Sleep(time.Millisecond)
			}
			ds = append(ds, time.Since(start))
		}
		reportLatency(b, ds)
	})
}

func benchWrite(b *testing.B, path, content string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}
