package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/aicred/aicred"
)

// WatchOptions say what Watch follows. Zero durations take the defaults.
type WatchOptions struct {
	// Trees are directories (or single files) whose files are scanned
	// when created or written.
	Trees []string
	// Repos are git repositories whose refs are polled: the blobs of new
	// commits are scanned.
	Repos []string
	// Logs are files followed like tail -F: appended lines are scanned;
	// truncation and rotation (rename or replace) are followed.
	Logs []string
	// Stdin, when set, is a stream scanned line by line as it arrives.
	Stdin io.Reader
	// Initial scans what exists at the start: every file of the trees,
	// each repository's whole history, each log from its first byte.
	// Without it only what changes after the start is scanned.
	Initial bool
	// Debounce is how long a written file stays quiet before it is
	// scanned (default 25ms): an editor's save is several events.
	Debounce time.Duration
	// Rescan is how often trees are walked for files changed since the
	// last walk (default 1m), which catches what events missed: a queue
	// overflow, a directory created and filled before it was watched, a
	// file system without events. An overflow triggers one at once.
	Rescan time.Duration
	// LogPoll is how often logs are checked for new lines (default
	// 100ms); GitPoll how often refs are read (default 1s).
	LogPoll, GitPoll time.Duration
	// FlushPartial is how long an unfinished last line of a log or the
	// stream waits for its newline before it is scanned as it is
	// (default 500ms). It is scanned again once complete.
	FlushPartial time.Duration
}

// Defaults of WatchOptions.
const (
	DefaultWatchDebounce = 25 * time.Millisecond
	DefaultWatchRescan   = time.Minute
	DefaultWatchLogPoll  = 100 * time.Millisecond
	DefaultWatchGitPoll  = time.Second
	DefaultFlushPartial  = 500 * time.Millisecond
	// maxPending bounds the files waiting for their debounce; beyond it
	// the pending set is dropped for one rescan.
	maxPending = 4096
	// maxPartial bounds an unfinished line kept for its newline.
	maxPartial = 64 << 10
)

func (w *WatchOptions) defaults() {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&w.Debounce, DefaultWatchDebounce}, {&w.Rescan, DefaultWatchRescan},
		{&w.LogPoll, DefaultWatchLogPoll}, {&w.GitPoll, DefaultWatchGitPoll},
		{&w.FlushPartial, DefaultFlushPartial},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
}

// Watch follows trees, repositories, logs and a stream until ctx ends,
// calling h with the chunks of whatever is new, from several goroutines.
// It returns nil when ctx ends, or the first error that stops it: a root
// that does not exist, a repository git cannot read at the start, an
// error from h. Problems with single files go to opts.Warn, as in Walk.
// Memory is bounded whatever runs for how long: no per-file state is kept
// for trees (rescans compare modification times with the last walk), and
// logs keep an offset and at most one unfinished line each.
func Watch(ctx context.Context, w WatchOptions, opts Options, h Handler) error {
	w.defaults()
	if len(w.Trees)+len(w.Repos)+len(w.Logs) == 0 && w.Stdin == nil {
		return aicred.Errorf(aicred.ErrInvalid, "source: watch: nothing to watch")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var starters []func() error
	for _, root := range w.Trees {
		tw, err := newTreeWatch(root, &w, opts, h)
		if err != nil {
			return err
		}
		starters = append(starters, func() error { return tw.run(ctx) })
	}
	for _, repo := range w.Repos {
		gw, err := newGitWatch(ctx, repo, &w, opts, h)
		if err != nil {
			return err
		}
		starters = append(starters, func() error { return gw.run(ctx) })
	}
	for _, path := range w.Logs {
		lw, err := newLogWatch(path, &w, opts, h)
		if err != nil {
			return err
		}
		starters = append(starters, func() error { return lw.run(ctx) })
	}
	if w.Stdin != nil {
		sw, err := newLineEmitter(aicred.Location{Path: "-", Source: aicred.SourceStdin}, opts, h)
		if err != nil {
			return err
		}
		starters = append(starters, func() error { return sw.stream(ctx, w.Stdin) })
	}
	var wg sync.WaitGroup
	for _, start := range starters {
		wg.Go(func() {
			if err := start(); err != nil && ctx.Err() == nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// treeWatch follows one tree with file events, and walks it for changed
// files every Rescan and after an event overflow.
type treeWatch struct {
	root   string
	single bool // root is a file
	w      *WatchOptions
	s      *run
	opts   Options
}

func newTreeWatch(root string, w *WatchOptions, opts Options, h Handler) (*treeWatch, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "source: watch %s: %w", root, err)
	}
	s, err := newRun(opts, h)
	if err != nil {
		return nil, err
	}
	return &treeWatch{root: root, single: !fi.IsDir(), w: w, s: s, opts: opts}, nil
}

// rel is the slash-separated path of abs under the root ("" for the root).
func (t *treeWatch) rel(abs string) string {
	if t.single {
		return filepath.ToSlash(filepath.Base(abs))
	}
	r, err := filepath.Rel(t.root, abs)
	if err != nil || r == "." {
		return ""
	}
	return filepath.ToSlash(r)
}

func (t *treeWatch) run(ctx context.Context) error {
	fw, err := fsnotify.NewBufferedWatcher(1024)
	if err != nil {
		return aicred.Errorf(aicred.ErrUnavailable, "source: watch %s: %w", t.root, err)
	}
	defer fw.Close()
	// Watches first, then the initial walk: nothing written in between
	// is missed.
	start := time.Now()
	if t.single {
		// A file is watched through its directory, so that a save that
		// replaces it (write a temporary file, rename it over) is seen.
		if err := fw.Add(filepath.Dir(t.root)); err != nil {
			return aicred.Errorf(aicred.ErrUnavailable, "source: watch %s: %w", t.root, err)
		}
	} else {
		t.addTree(fw, t.root)
	}
	if t.w.Initial {
		if err := t.walk(ctx, fw, time.Time{}); err != nil {
			return err
		}
	}
	lastWalk := start
	rescan := time.NewTicker(t.w.Rescan)
	defer rescan.Stop()
	// pending holds files written and not yet scanned, by when they were
	// last written; bounded by maxPending.
	pending := map[string]time.Time{}
	debounce := time.NewTimer(time.Hour)
	defer debounce.Stop()
	walkNow := func() error {
		since := lastWalk.Add(-2 * time.Second) // modification times are coarse on some file systems
		lastWalk = time.Now()
		clear(pending)
		return t.walk(ctx, fw, since)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) {
				continue // a rename away, a removal, a chmod: nothing new to read
			}
			if t.single && filepath.Clean(ev.Name) != filepath.Clean(t.root) {
				continue
			}
			if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
				// A new directory (made, or renamed in): watch it and
				// scan what it already holds.
				if rel := t.rel(ev.Name); !t.s.excluded(rel) {
					t.addTree(fw, ev.Name)
					if err := t.walkDir(ctx, ev.Name, time.Time{}); err != nil {
						return err
					}
				}
				continue
			}
			if len(pending) >= maxPending {
				if err := walkNow(); err != nil {
					return err
				}
				continue
			}
			pending[ev.Name] = time.Now()
			debounce.Reset(t.w.Debounce)
		case <-debounce.C:
			now := time.Now()
			next := time.Duration(0)
			for abs, at := range pending {
				if wait := t.w.Debounce - now.Sub(at); wait > 0 {
					if next == 0 || wait < next {
						next = wait
					}
					continue
				}
				delete(pending, abs)
				if err := t.scan(ctx, abs); err != nil {
					return err
				}
			}
			if next > 0 {
				debounce.Reset(next)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				t.s.warn(t.root, fmt.Errorf("source: watch %s: events lost; rescanning", t.root))
				if err := walkNow(); err != nil {
					return err
				}
				continue
			}
			t.s.warn(t.root, fmt.Errorf("source: watch %s: %w", t.root, err))
		case <-rescan.C:
			if err := walkNow(); err != nil {
				return err
			}
		}
	}
}

// addTree watches dir and every directory under it that is not excluded.
// Directories that cannot be watched (the watch limit, permissions) are
// warned about once; rescans still cover them.
func (t *treeWatch) addTree(fw *fsnotify.Watcher, dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // reported by the scan walk
		}
		if !d.IsDir() {
			return nil
		}
		if rel := t.rel(p); rel != "" && (t.s.excluded(rel) || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if err := fw.Add(p); err != nil {
			t.s.warn(t.rel(p), fmt.Errorf("source: watch %s: %w (covered by rescans)", p, err))
		}
		return nil
	})
}

// walk scans the files of the tree modified after since (all with a zero
// since), and watches directories that are not watched yet.
func (t *treeWatch) walk(ctx context.Context, fw *fsnotify.Watcher, since time.Time) error {
	if t.single {
		if fi, err := os.Stat(t.root); err == nil && fi.ModTime().After(since) {
			return t.scan(ctx, t.root)
		}
		return nil
	}
	if !since.IsZero() {
		t.addTree(fw, t.root) // adding a watched directory again is a no-op
	}
	return t.walkDir(ctx, t.root, since)
}

func (t *treeWatch) walkDir(ctx context.Context, dir string, since time.Time) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			t.s.warn(t.rel(p), wrapErr("read directory", t.rel(p), err))
			return nil
		}
		rel := t.rel(p)
		if d.IsDir() {
			if rel != "" && (t.s.excluded(rel) || d.Name() == ".git") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || t.s.excluded(rel) {
			return nil
		}
		if !since.IsZero() {
			if fi, err := d.Info(); err != nil || !fi.ModTime().After(since) {
				return nil
			}
		}
		return t.scan(ctx, p)
	})
}

// scan reads one file of the tree whole, if it is still a regular file
// that is not excluded.
func (t *treeWatch) scan(ctx context.Context, abs string) error {
	rel := t.rel(abs)
	if rel == "" || t.s.excluded(rel) || strings.Contains("/"+rel+"/", "/.git/") {
		return nil
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // gone again (a temporary file), or not a file
	}
	return t.s.scanFile(ctx, abs, rel)
}

// lineEmitter scans text that arrives in pieces (an appended log, a
// stream): complete lines at once, an unfinished last line once it has
// waited FlushPartial (and again when complete), each chunk with its line
// number in the whole text.
type lineEmitter struct {
	loc     aicred.Location
	s       *run
	base    int // line number of the next byte emitted
	partial []byte
	flushed bool // partial has been scanned as it is
}

func newLineEmitter(loc aicred.Location, opts Options, h Handler) (*lineEmitter, error) {
	e := &lineEmitter{loc: loc, base: 1}
	s, err := newRun(opts, func(ctx context.Context, c *Chunk) error {
		if c.Map == nil {
			c.Line += e.base - 1
		}
		return h(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	e.s = s
	return e, nil
}

// feed takes the next bytes of the text and scans the complete lines.
func (e *lineEmitter) feed(ctx context.Context, data []byte) error {
	e.partial = append(e.partial, data...)
	i := bytes.LastIndexByte(e.partial, '\n')
	if i < 0 {
		if len(e.partial) > maxPartial { // a line without end: scan what there is
			return e.emitAll(ctx)
		}
		return nil
	}
	done := e.partial[:i+1]
	if err := e.s.emit(ctx, e.loc, done); err != nil {
		return err
	}
	e.s.progress(int64(len(done)))
	e.base += bytes.Count(done, []byte{'\n'})
	e.partial = append(e.partial[:0], e.partial[i+1:]...)
	e.flushed = false
	return nil
}

// flush scans the unfinished line as it is, once.
func (e *lineEmitter) flush(ctx context.Context) error {
	if len(e.partial) == 0 || e.flushed {
		return nil
	}
	e.flushed = true
	return e.s.emit(ctx, e.loc, e.partial)
}

func (e *lineEmitter) emitAll(ctx context.Context) error {
	if err := e.s.emit(ctx, e.loc, e.partial); err != nil {
		return err
	}
	e.base += bytes.Count(e.partial, []byte{'\n'})
	e.partial, e.flushed = e.partial[:0], false
	return nil
}

// reset starts the text over (a truncated or replaced log).
func (e *lineEmitter) reset() {
	e.base, e.partial, e.flushed = 1, e.partial[:0], false
}

// stream scans r as it arrives until it ends or ctx does. An unfinished
// line is scanned after FlushPartial without more input, and at the end.
func (e *lineEmitter) stream(ctx context.Context, r io.Reader) error {
	type piece struct {
		b   []byte
		err error
	}
	ch := make(chan piece)
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			select {
			case ch <- piece{buf[:n], err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-idle.C:
			if err := e.flush(ctx); err != nil {
				return err
			}
		case p := <-ch:
			if len(p.b) > 0 {
				if err := e.feed(ctx, p.b); err != nil {
					return err
				}
				idle.Reset(DefaultFlushPartial)
			}
			if p.err == io.EOF {
				return e.flush(ctx)
			}
			if p.err != nil {
				_ = e.flush(ctx)
				return wrapErr("read", e.loc.Path, p.err)
			}
		}
	}
}
