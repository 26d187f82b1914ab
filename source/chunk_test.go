package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aicred/aicred"
)

// TestChunkBoundaries places the marker at every position of a text that
// spans many small chunks, and checks that each way of reading reports it
// exactly once, at the right line and column.
func TestChunkBoundaries(t *testing.T) {
	var base []byte
	for i := 0; len(base) < 200; i++ {
		base = append(base, strings.Repeat("x", i%13)...)
		base = append(base, '\n')
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "boundary.txt")

	modes := []struct {
		name string
		run  func(data []byte, o Options, h Handler) error
	}{
		{"walk", func(data []byte, o Options, h Handler) error {
			if err := os.WriteFile(file, data, 0o644); err != nil {
				return err
			}
			return Walk(context.Background(), file, o, h)
		}},
		{"read one byte at a time", func(data []byte, o Options, h Handler) error {
			return Read(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), aicred.Location{Path: "-"}, o, h)
		}},
		{"read half", func(data []byte, o Options, h Handler) error {
			return Read(context.Background(), iotest.HalfReader(bytes.NewReader(data)), aicred.Location{Path: "-"}, o, h)
		}},
		{"in memory", func(data []byte, o Options, h Handler) error {
			s, err := newRun(o, h)
			if err != nil {
				return err
			}
			return s.emit(context.Background(), aicred.Location{Path: "mem"}, data)
		}},
	}
	sizes := []struct{ chunk, overlap int }{{1, 11}, {16, 12}, {32, 16}, {64, 11}, {4096, 11}}
	for _, m := range modes {
		for _, sz := range sizes {
			for p := 0; p <= len(base); p++ {
				data := append(append(append([]byte{}, base[:p]...), marker...), base[p:]...)
				wantLine, wantCol := position(data, p)
				c := newCollector(t)
				c.maxData = sz.chunk + 2*sz.overlap
				o := c.opts(Options{ChunkSize: sz.chunk, Overlap: sz.overlap})
				if err := m.run(data, o, c.handle); err != nil {
					t.Fatalf("%s chunk=%d: %v", m.name, sz.chunk, err)
				}
				hs := c.sorted()
				if len(hs) != 1 || hs[0].Line != wantLine || hs[0].Col != wantCol {
					t.Fatalf("%s chunk=%d overlap=%d marker at %d: got %v, want one hit at %d:%d",
						m.name, sz.chunk, sz.overlap, p, hs, wantLine, wantCol)
				}
			}
		}
	}
}

// endless yields n bytes of one long line, with the marker at the given
// offsets, without holding them in memory.
type endless struct {
	n, off  int64
	markers []int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.off >= e.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.n-e.off)]
	for i := range p {
		p[i] = 'a' + byte((e.off+int64(i))%26)
	}
	for _, m := range e.markers {
		for i := range int64(len(marker)) {
			if at := m + i - e.off; at >= 0 && at < int64(len(p)) {
				p[at] = marker[i]
			}
		}
	}
	e.off += int64(len(p))
	return len(p), nil
}

// TestReadHugeLine streams a 200 MB single-line input and checks that memory
// stays bounded and columns stay exact.
func TestReadHugeLine(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MB")
	}
	const size = 200 << 20
	markers := []int64{0, DefaultChunkSize - 3, 7*DefaultChunkSize + DefaultOverlap, size - int64(len(marker))}
	c := newCollector(t)
	c.maxData = DefaultChunkSize + 2*DefaultOverlap
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := Read(context.Background(), &endless{n: size, markers: markers}, aicred.Location{Path: "-"}, c.opts(Options{}), c.handle)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d bytes to stream %d", alloc, size)
	}
	hs := c.sorted()
	if len(hs) != len(markers) {
		t.Fatalf("got %d hits, want %d: %v", len(hs), len(markers), hs)
	}
	cols := map[int]bool{}
	for _, h := range hs {
		if h.Line != 1 || h.Source != aicred.SourceStdin {
			t.Errorf("hit %v: want line 1 from stdin", h)
		}
		cols[h.Col] = true
	}
	for _, m := range markers {
		if !cols[int(m)+1] {
			t.Errorf("no hit at column %d: %v", m+1, hs)
		}
	}
}

// TestWalkLargeFile streams a file of many chunks from disk, lines and all.
func TestWalkLargeFile(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	var want []hit
	for i := 1; b.Len() < 5<<20; i++ {
		if i%9973 == 0 {
			want = append(want, hit{Path: "ci.log", Source: aicred.SourceFile, Line: i, Col: 8})
			b.WriteString("token: " + marker + "\n")
			continue
		}
		b.WriteString(strings.Repeat("log line ", i%17) + "\n")
	}
	writeTree(t, dir, map[string]string{"ci.log": b.String()})
	c := newCollector(t)
	c.maxData = DefaultChunkSize + 2*DefaultOverlap
	if err := Walk(context.Background(), dir, c.opts(Options{}), c.handle); err != nil {
		t.Fatal(err)
	}
	got := c.sorted()
	if len(got) != len(want) {
		t.Fatalf("got %d hits, want %d", len(got), len(want))
	}
	for i := range want {
		// sorted() orders by string; compare as sets by line.
		found := false
		for _, g := range got {
			if g == want[i] {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %v in %v", want[i], got)
		}
	}
	if c.chunks < 5 {
		t.Errorf("a 5 MB file came in %d chunks", c.chunks)
	}
}

func TestReadErrors(t *testing.T) {
	c := newCollector(t)
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("before "+marker+"\n"), iotest.ErrReader(boom))
	err := Read(context.Background(), r, aicred.Location{Path: "pipe", Source: aicred.SourceFile}, c.opts(Options{}), c.handle)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "source: read pipe") {
		t.Errorf("Read = %v, want the stream's error with context", err)
	}
	if hs := c.sorted(); len(hs) != 1 || hs[0].Source != aicred.SourceFile {
		t.Errorf("hits %v: want the marker read before the error", hs)
	}
}

func TestHandlerErrorStops(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 50 {
		files[filepath.Join("d", strings.Repeat("f", i+1))] = marker
	}
	writeTree(t, dir, files)
	stop := errors.New("stop")
	calls := 0
	h := func(context.Context, *Chunk) error { calls++; return stop }
	if err := Walk(context.Background(), dir, Options{Workers: 1}, h); !errors.Is(err, stop) {
		t.Fatalf("Walk = %v, want the handler's error", err)
	}
	if calls > 2 {
		t.Errorf("handler called %d times after failing", calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Walk(ctx, dir, Options{}, func(context.Context, *Chunk) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk with a cancelled context = %v", err)
	}
}

func TestOptions(t *testing.T) {
	noop := func(context.Context, *Chunk) error { return nil }
	err := Walk(context.Background(), t.TempDir(), Options{Exclude: []string{"[unclosed"}}, noop)
	if aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("bad pattern: %v, want an invalid error", err)
	}
	err = Walk(context.Background(), filepath.Join(t.TempDir(), "nope"), Options{}, noop)
	if aicred.KindOf(err) != aicred.ErrNotFound {
		t.Errorf("missing root: %v, want a not-found error", err)
	}
	if err := Walk(context.Background(), t.TempDir(), Options{}, nil); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("nil handler: %v", err)
	}
	s, err := Options{}.settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.depth != 2 || s.ChunkSize != DefaultChunkSize || s.Overlap != DefaultOverlap || s.Workers < 1 {
		t.Errorf("defaults: %+v", s)
	}
	if s, _ := (Options{MaxArchiveDepth: ArchiveDepth(0)}).settings(); s.depth != 0 {
		t.Errorf("depth 0 became %d", s.depth)
	}
}
