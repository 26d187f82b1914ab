package source

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/aicred/aicred"
)

// logWatch follows one log file like tail -F: it reads what is appended
// from the last offset, starts over when the file is truncated, and when
// the path is renamed away or replaced (rotation) reads the old file to
// its end and then the new one from its start.
type logWatch struct {
	path string
	w    *WatchOptions
	e    *lineEmitter
	f    *os.File
	off  int64
	// lastData is when bytes last arrived, for the unfinished-line flush.
	lastData time.Time
}

func newLogWatch(path string, w *WatchOptions, opts Options, h Handler) (*logWatch, error) {
	e, err := newLineEmitter(aicred.Location{Path: path, Source: aicred.SourceFile}, opts, h)
	if err != nil {
		return nil, err
	}
	return &logWatch{path: path, w: w, e: e}, nil
}

func (l *logWatch) run(ctx context.Context) error {
	defer func() {
		if l.f != nil {
			l.f.Close()
		}
	}()
	if err := l.open(ctx, !l.w.Initial); err != nil {
		return err
	}
	t := time.NewTicker(l.w.LogPoll)
	defer t.Stop()
	for {
		if err := l.poll(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// open opens the path, at its end when skip is set (the lines before are
// counted, so line numbers stay true). A path that does not exist yet is
// not an error: it is opened once it appears.
func (l *logWatch) open(ctx context.Context, skip bool) error {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		l.e.s.warn(l.path, wrapErr("open", l.path, err))
		return nil
	}
	l.f, l.off = f, 0
	l.e.reset()
	if skip {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			for _, c := range buf[:n] {
				if c == '\n' {
					l.e.base++
				}
			}
			l.off += int64(n)
			if err != nil || ctx.Err() != nil {
				break
			}
		}
	}
	return nil
}

// poll reads what was appended and follows truncation and rotation.
func (l *logWatch) poll(ctx context.Context) error {
	if l.f == nil {
		return l.openNew(ctx)
	}
	if err := l.drain(ctx); err != nil {
		return err
	}
	cur, err := l.f.Stat()
	if err != nil {
		return nil
	}
	switch fi, err := os.Stat(l.path); {
	case err != nil:
		// Renamed away and not replaced yet: the old file was read to
		// its end above; wait for the new one.
		return l.flushIdle(ctx)
	case !os.SameFile(fi, cur):
		// Rotated: the old file has been read to its end.
		if err := l.e.flush(ctx); err != nil {
			return err
		}
		l.f.Close()
		l.f = nil
		return l.openNew(ctx)
	case cur.Size() < l.off:
		// Truncated (copytruncate): start over.
		if _, err := l.f.Seek(0, io.SeekStart); err != nil {
			l.e.s.warn(l.path, wrapErr("seek", l.path, err))
			return nil
		}
		l.off = 0
		l.e.reset()
		return l.drain(ctx)
	}
	return l.flushIdle(ctx)
}

func (l *logWatch) openNew(ctx context.Context) error {
	if err := l.open(ctx, false); err != nil || l.f == nil {
		return err
	}
	return l.drain(ctx)
}

// drain reads the file from the offset to its current end.
func (l *logWatch) drain(ctx context.Context) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := l.f.Read(buf)
		if n > 0 {
			l.off += int64(n)
			l.lastData = time.Now()
			if ferr := l.e.feed(ctx, buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			l.e.s.warn(l.path, wrapErr("read", l.path, err))
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// flushIdle scans an unfinished last line that has waited long enough.
func (l *logWatch) flushIdle(ctx context.Context) error {
	if len(l.e.partial) > 0 && time.Since(l.lastData) >= l.w.FlushPartial {
		return l.e.flush(ctx)
	}
	return nil
}
