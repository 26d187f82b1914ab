package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// RevocationPollInterval is how often a watcher reads the revocation log
// for revocations made by other processes sharing the file. Revocations
// made through the same Store are delivered right after their commit.
const RevocationPollInterval = 200 * time.Millisecond

// maxPending bounds what a slow watcher buffers; past it, revocations are
// dropped from the buffer and read back from the log instead.
const maxPending = 1024

// A hub hands the revocations committed through one Store to its
// watchers, and owns their goroutines' lifetime: Close stops them.
type hub struct {
	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}
	wg       sync.WaitGroup
	// life ends when the Store closes; every watch context ends with it.
	life context.Context
	end  context.CancelFunc
}

func newHub() *hub {
	life, end := context.WithCancel(context.Background())
	return &hub{watchers: map[*watcher]struct{}{}, life: life, end: end}
}

type watcher struct {
	mu      sync.Mutex
	pending []aicred.Revocation
	wake    chan struct{} // capacity 1: "pending has something"
}

// publish hands r to every watcher without waiting for any.
func (h *hub) publish(r aicred.Revocation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.mu.Lock()
		if len(w.pending) < maxPending {
			w.pending = append(w.pending, r)
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// add registers a watcher and counts its goroutine; false once closed.
func (h *hub) add(w *watcher) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.watchers[w] = struct{}{}
	h.wg.Add(1)
	return true
}

// remove unregisters a watcher whose goroutine did not start or ended.
func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
	h.wg.Done()
}

// close stops every watcher and waits for their goroutines.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.end()
	h.wg.Wait()
}

func (w *watcher) take() []aicred.Revocation {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending
	w.pending = nil
	return p
}

// WatchRevocations implements aicred.TokenService. Revocations made
// through this Store reach fn right after their commit; those of other
// processes sharing the file within RevocationPollInterval. Either way a
// watcher reads the log from the last seq it delivered whenever it sees a
// gap, so fn gets every revocation once, in order.
func (s *Store) WatchRevocations(ctx context.Context, fn func(aicred.Revocation)) error {
	w := &watcher{wake: make(chan struct{}, 1)}
	// Registered before the start is read: a revocation committed in
	// between is either in the start or published to w.
	if !s.hub.add(w) {
		return aicred.Errorf(aicred.ErrUnavailable, "watch revocations: the store is closed")
	}
	var last int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM revocations`).Scan(&last); err != nil {
		s.hub.remove(w)
		return classify(err, "watch revocations: read the log")
	}
	go func() {
		defer s.hub.remove(w)
		s.watch(ctx, w, last, fn)
	}()
	return nil
}

func (s *Store) watch(ctx context.Context, w *watcher, last int64, fn func(aicred.Revocation)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.hub.life, cancel)()
	tick := time.NewTicker(RevocationPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			for _, r := range w.take() {
				switch {
				case ctx.Err() != nil:
					return
				case r.Seq <= last: // delivered from the log already
				case r.Seq == last+1:
					fn(r)
					last = r.Seq
				default: // another process revoked in between
					last = s.catchUp(ctx, last, fn)
				}
			}
		case <-tick.C:
			last = s.catchUp(ctx, last, fn)
		}
	}
}

// catchUp delivers the revocations after last from the log and returns
// the new last. A failed read is retried at the next tick.
func (s *Store) catchUp(ctx context.Context, last int64, fn func(aicred.Revocation)) int64 {
	rs, err := revocationsSince(ctx, s.r, last)
	if err != nil {
		return last
	}
	for _, r := range rs {
		if ctx.Err() != nil {
			break
		}
		fn(r)
		last = r.Seq
	}
	return last
}
