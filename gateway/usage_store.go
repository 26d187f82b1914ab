package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/aicred/aicred"
)

// StoreRecorderConfig tunes a StoreRecorder; zero values take the
// defaults.
type StoreRecorderConfig struct {
	// Batch is how many records one store write carries (default 200).
	Batch int
	// FlushEvery bounds how long a record waits for its batch to fill
	// (default 200ms).
	FlushEvery time.Duration
	// Queue bounds the records waiting to be written (default 20,000:
	// ten seconds at 2,000 requests a second). When it is full, new
	// records are dropped and counted, never waited for.
	Queue int
	// WriteTimeout bounds one store write (default 5s).
	WriteTimeout time.Duration
	// Log receives losses and store failures (default slog.Default()).
	Log *slog.Logger
}

// StoreRecorder is a UsageRecorder that writes records to the store in
// batches, from one goroutine, off the request path: RecordUsage only
// queues. While the store is down the batch in hand is retried (with
// backoff) and new records queue; once the queue is full they are
// dropped. Nothing is lost silently: every dropped record is counted
// (Stats) and the losses are logged, at most once a second, with their
// count. Close flushes what is queued.
type StoreRecorder struct {
	store aicred.UsageService
	cfg   StoreRecorderConfig
	log   *slog.Logger

	mu     sync.RWMutex // guards closed against sends on ch
	closed bool
	ch     chan UsageRecord
	stop   chan struct{} // closed by Close: drain and exit
	done   chan struct{} // closed when the writer exits

	written, lost, retries atomic.Uint64
	loggedLost             uint64 // writer goroutine only
}

// RecorderStats counts what a StoreRecorder did.
type RecorderStats struct {
	Written uint64 // records in the store
	Lost    uint64 // records dropped (queue full, closed, or refused by the store)
	Queued  int    // records waiting now
	Retries uint64 // failed writes retried
}

// NewStoreRecorder starts a recorder writing to store. Close it to flush.
func NewStoreRecorder(store aicred.UsageService, cfg StoreRecorderConfig) *StoreRecorder {
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 200 * time.Millisecond
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 20_000
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &StoreRecorder{store: store, cfg: cfg, log: cfg.Log, ch: make(chan UsageRecord, cfg.Queue),
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// RecordUsage implements UsageRecorder. It never blocks: a record that
// does not fit in the queue is dropped and counted, and nil is returned
// (the loss is logged by the recorder, once a second, not per request).
// A record without an ID is given one (a UUIDv7), so that a batch the
// recorder retries after an unknown outcome is never stored twice.
// Errors: ErrInvalid (a malformed record, which no store would take),
// ErrUnavailable (the recorder is closed).
func (r *StoreRecorder) RecordUsage(_ context.Context, rec UsageRecord) error {
	if err := rec.Validate(); err != nil {
		r.lost.Add(1)
		return err
	}
	if rec.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			r.lost.Add(1)
			return aicred.Errorf(aicred.ErrUnavailable, "usage recorder: record id: %w", err)
		}
		rec.ID = id.String()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.lost.Add(1)
		return aicred.Errorf(aicred.ErrUnavailable, "usage recorder is closed")
	}
	select {
	case r.ch <- rec:
	default:
		r.lost.Add(1)
	}
	return nil
}

// Stats returns the recorder's counters.
func (r *StoreRecorder) Stats() RecorderStats {
	return RecorderStats{Written: r.written.Load(), Lost: r.lost.Load(), Queued: len(r.ch), Retries: r.retries.Load()}
}

// Lost returns how many records were dropped so far.
func (r *StoreRecorder) Lost() uint64 { return r.lost.Load() }

// Close stops taking records and writes what is queued, until ctx ends;
// what is still queued then is counted lost. Close is idempotent.
func (r *StoreRecorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		// The writer keeps trying in the background until its current
		// write times out; count what it will not reach now.
		return aicred.Errorf(aicred.ErrUnavailable, "usage recorder: %d records not written before close: %w", len(r.ch), ctx.Err())
	}
}

// run is the writer: it collects batches and writes them.
func (r *StoreRecorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.cfg.FlushEvery)
	defer tick.Stop()
	batch := make([]UsageRecord, 0, r.cfg.Batch)
	for {
		select {
		case rec := <-r.ch:
			batch = append(batch, rec)
			if len(batch) < r.cfg.Batch {
				continue
			}
		case <-tick.C:
			r.reportLost()
			if len(batch) == 0 {
				continue
			}
		case <-r.stop:
			r.drain(batch)
			return
		}
		if !r.write(batch, r.stop) {
			// Closing while the store is down: keep trying in drain.
			r.drain(batch)
			return
		}
		batch = batch[:0]
	}
}

// drain writes batch and everything queued, then reports the losses.
// Close's caller decides how long to wait for it. A store still down
// after a few tries gets nothing more: the rest is counted lost.
func (r *StoreRecorder) drain(batch []UsageRecord) {
	defer r.reportLost()
	for {
	fill:
		for len(batch) < r.cfg.Batch {
			select {
			case rec := <-r.ch:
				batch = append(batch, rec)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		if !r.write(batch, nil) {
			for {
				select {
				case <-r.ch:
					r.lost.Add(1)
				default:
					return
				}
			}
		}
		batch = batch[:0]
	}
}

// write writes one batch. An unavailable store is retried with backoff:
// until it answers or stop is closed while running (then it returns false
// and the caller still holds the batch), a few times only while draining
// (stop nil; then the batch is counted lost and it returns false). A
// batch the store refuses for any other reason is counted lost at once
// and write returns true: the next one may be fine.
func (r *StoreRecorder) write(batch []UsageRecord, stop <-chan struct{}) bool {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.WriteTimeout)
		err := r.store.RecordUsage(ctx, batch)
		cancel()
		if err == nil {
			r.written.Add(uint64(len(batch)))
			return true
		}
		unavailable := aicred.KindOf(err) == aicred.ErrUnavailable
		if !unavailable || (stop == nil && attempt >= 3) {
			r.lost.Add(uint64(len(batch)))
			r.log.Error("usage records lost: the store did not take a batch", "records", len(batch), "err", err)
			return !unavailable
		}
		r.retries.Add(1)
		if attempt == 1 {
			r.log.Warn("usage store unavailable; retrying the batch while new records queue", "records", len(batch), "queued", len(r.ch), "err", err)
		}
		if stop == nil {
			time.Sleep(backoff)
		} else {
			select {
			case <-stop:
				return false
			case <-time.After(backoff):
			}
			r.reportLost()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// reportLost logs the records dropped since the last report.
func (r *StoreRecorder) reportLost() {
	lost := r.lost.Load()
	if d := lost - r.loggedLost; d > 0 {
		r.loggedLost = lost
		r.log.Error("usage records lost", "records", d, "total_lost", lost, "queued", len(r.ch))
	}
}
