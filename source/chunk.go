package source

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aicred/aicred"
)

// run is the state of one call to an entry point: settings, the handler,
// the buffer pool and the progress counters.
type run struct {
	*settings
	h      Handler
	bufs   sync.Pool // *[]byte of capacity ChunkSize+2*Overlap
	warnMu sync.Mutex
	files  atomic.Int64
	bytes  atomic.Int64
}

func newRun(opts Options, h Handler) (*run, error) {
	if h == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "source: nil handler")
	}
	s, err := opts.settings()
	if err != nil {
		return nil, err
	}
	r := &run{settings: s, h: h}
	size := s.ChunkSize + 2*s.Overlap
	r.bufs.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return r, nil
}

func (s *run) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *run) putBuf(b *[]byte) { s.bufs.Put(b) }

func (s *run) warn(path string, err error) {
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	s.Warn(path, err)
}

// progress records one more top-level file or blob of n bytes.
func (s *run) progress(n int64) {
	f, b := s.files.Add(1), s.bytes.Add(n)
	if s.Progress != nil {
		s.Progress(int(f), b)
	}
}

// headSize is how much of an entry is read before deciding what it is: a
// whole first chunk, so small content is read exactly once.
func (s *run) headSize() int { return s.ChunkSize + s.Overlap }

// fill reads from r into buf[n:limit] until it is full or r ends. A read
// error other than io.EOF is returned with eof set.
func fill(r io.Reader, buf []byte, n, limit int) (int, bool, error) {
	empty := 0
	for n < limit {
		m, err := r.Read(buf[n:limit])
		n += m
		switch {
		case err == io.EOF:
			return n, true, nil
		case err != nil:
			return n, true, err
		case m == 0:
			if empty++; empty > 100 {
				return n, true, io.ErrNoProgress
			}
		}
	}
	return n, false, nil
}

// stream emits the content whose first n bytes are in buf (eof set when
// there is no more) and the rest of which is read from r, in chunks that own
// ChunkSize bytes each with Overlap bytes of context on both sides. buf must
// have capacity ChunkSize+2*Overlap. Memory stays bounded whatever the size
// of the content or its lines.
func (s *run) stream(ctx context.Context, loc aicred.Location, buf []byte, n int, eof bool, r io.Reader, line, col int) error {
	cs, ov := s.ChunkSize, s.Overlap
	buf = buf[:cap(buf)]
	c := Chunk{Location: loc, Line: line, Col: col}
	from := 0
	for {
		var rerr error
		if !eof {
			n, eof, rerr = fill(r, buf, n, from+cs+ov)
		}
		c.Data, c.From, c.To = buf[:n], from, from+cs
		if eof {
			c.To = n
		}
		if c.To > c.From {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.h(ctx, &c); err != nil {
				return err
			}
		}
		if rerr != nil {
			return s.readErr(loc.Path, rerr)
		}
		if eof {
			return nil
		}
		// The next chunk starts Overlap bytes before the end of this one's
		// owned range: carry those bytes and the trailing context over.
		next := max(c.To-ov, 0)
		c.Line, c.Col = c.textPosition(next)
		n = copy(buf, buf[next:n])
		from = c.To - next
	}
}

// emit sends in-memory content (a notebook cell, a chat message) to the
// handler, split like stream but without copying.
func (s *run) emit(ctx context.Context, loc aicred.Location, data []byte) error {
	return s.emitMapped(ctx, loc, data, nil)
}

// emitMapped is emit for content decoded from the file: pos gives the
// file position of data[off], and each chunk's Map follows it.
func (s *run) emitMapped(ctx context.Context, loc aicred.Location, data []byte, pos func(off int) (line, col int)) error {
	if len(data) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cs, ov := s.ChunkSize, s.Overlap
	c := Chunk{Location: loc, Line: 1, Col: 1}
	chunkMap := func(start int) func(int) (int, int) {
		if pos == nil {
			return nil
		}
		return func(off int) (int, int) { return pos(start + off) }
	}
	if len(data) <= cs+ov {
		c.Data, c.To, c.Map = data, len(data), chunkMap(0)
		return s.h(ctx, &c)
	}
	prev := 0 // offset of c.Data[0] in data
	for own := 0; own < len(data); own += cs {
		start, end := max(own-ov, 0), min(own+cs+ov, len(data))
		if start > prev {
			c.Data = data[prev:]
			c.Line, c.Col = c.textPosition(start - prev)
			prev = start
		}
		c.Data, c.From, c.To, c.Map = data[start:end], own-start, min(own+cs, len(data))-start, chunkMap(start)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.h(ctx, &c); err != nil {
			return err
		}
	}
	return nil
}

// errBudget is returned by reads past an archive's expansion budget; it
// travels up to the top-level archive, which warns and moves on.
var errBudget = errors.New("archive expansion limit reached")

// readErr turns a read error into a warning, except an archive budget error,
// which is passed up.
func (s *run) readErr(path string, err error) error {
	if errors.Is(err, errBudget) {
		return err
	}
	s.warn(path, wrapErr("read", path, err))
	return nil
}
