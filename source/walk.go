package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/aicred/aicred"
)

// Walk scans a directory tree, or a single file when root is one. Paths in
// chunks are relative to root and slash-separated; a single file keeps the
// path it was given. .git directories are skipped, as are excluded paths,
// non-regular files and, unless FollowSymlinks, symbolic links. The handler
// is called concurrently from Options.Workers goroutines.
func Walk(ctx context.Context, root string, opts Options, h Handler) error {
	s, err := newRun(opts, h)
	if err != nil {
		return err
	}
	fi, err := os.Stat(root)
	if err != nil {
		kind := aicred.ErrInvalid
		if errors.Is(err, fs.ErrNotExist) {
			kind = aicred.ErrNotFound
		}
		return aicred.Errorf(kind, "source: walk %s: %w", root, err)
	}
	if !fi.IsDir() {
		return s.scanFile(ctx, root, filepath.ToSlash(filepath.Clean(root)))
	}
	if img := (dirFS{root: root}); s.depth > 0 && isImage(img) {
		// An unpacked image layout (docker save or OCI): its layers, not
		// its blobs as files.
		return s.scanImage(ctx, img, aicred.Location{Source: aicred.SourceFile})
	}

	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan fileJob, 4*s.Workers)
	var wg sync.WaitGroup
	for range s.Workers {
		wg.Go(func() {
			for j := range jobs {
				if wctx.Err() != nil {
					continue // drain
				}
				if err := s.scanFile(wctx, j.abs, j.rel); err != nil {
					cancel(err)
				}
			}
		})
	}
	w := walker{run: s, ctx: wctx, jobs: jobs}
	if s.FollowSymlinks {
		w.stack = []os.FileInfo{fi}
	}
	w.dir(root, "")
	close(jobs)
	wg.Wait()
	return context.Cause(wctx)
}

type fileJob struct{ abs, rel string }

// A walker reads directories depth first on one goroutine and feeds files
// to the workers.
type walker struct {
	*run
	ctx   context.Context
	jobs  chan<- fileJob
	stack []os.FileInfo // directories being walked, when following symlinks
}

func (w *walker) dir(abs, rel string) {
	entries, err := os.ReadDir(abs)
	if err != nil {
		// ReadDir returns what it read before the error; walk that too.
		w.warn(displayPath(rel), wrapErr("read directory", displayPath(rel), err))
	}
	for _, de := range entries {
		if w.ctx.Err() != nil {
			return
		}
		name := de.Name()
		if name == ".git" {
			continue
		}
		r := name
		if rel != "" {
			r = rel + "/" + name
		}
		if w.excluded(r) {
			continue
		}
		a := filepath.Join(abs, name)
		t := de.Type()
		switch {
		case t&fs.ModeSymlink != 0:
			if w.FollowSymlinks {
				w.symlink(a, r)
			}
		case t.IsDir():
			w.subdir(a, r, de.Info)
		case t.IsRegular():
			w.send(a, r)
		}
	}
}

func (w *walker) send(abs, rel string) {
	select {
	case w.jobs <- fileJob{abs: abs, rel: rel}:
	case <-w.ctx.Done():
	}
}

func (w *walker) subdir(abs, rel string, info func() (fs.FileInfo, error)) {
	if !w.FollowSymlinks {
		w.dir(abs, rel)
		return
	}
	fi, err := info()
	if err != nil {
		w.warn(rel, wrapErr("stat", rel, err))
		return
	}
	w.stack = append(w.stack, fi)
	w.dir(abs, rel)
	w.stack = w.stack[:len(w.stack)-1]
}

func (w *walker) symlink(abs, rel string) {
	fi, err := os.Stat(abs)
	if err != nil {
		w.warn(rel, wrapErr("follow symlink", rel, err))
		return
	}
	switch {
	case fi.IsDir():
		for _, anc := range w.stack {
			if os.SameFile(anc, fi) { // same device and inode
				w.warn(rel, fmt.Errorf("source: symlink loop at %s", rel))
				return
			}
		}
		w.subdir(abs, rel, func() (fs.FileInfo, error) { return fi, nil })
	case fi.Mode().IsRegular():
		w.send(abs, rel)
	}
}

func displayPath(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// scanFile scans one file of the tree. Open and read errors are warnings.
func (s *run) scanFile(ctx context.Context, abs, rel string) error {
	f, err := os.Open(abs)
	if err != nil {
		s.warn(rel, wrapErr("open", rel, err))
		return nil
	}
	defer f.Close()
	cr := countingReader{r: f}
	e := entry{
		loc:  aicred.Location{Path: rel, Source: aicred.SourceFile},
		name: rel, r: &cr, file: f,
	}
	err = s.scan(ctx, &e)
	s.progress(cr.n)
	return err
}

// countingReader counts the bytes read. With stopOnErr it ends the content
// at the first read error, which it keeps.
type countingReader struct {
	r         io.Reader
	n         int64
	stopOnErr bool
	err       error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.stopOnErr {
		c.err = err
		err = io.EOF
	}
	return n, err
}

// Read scans a stream (stdin, a pipe, a response body) in chunks with
// bounded memory. loc names it; its Source defaults to SourceStdin. Archives
// are expanded and, when loc.Path names a notebook, notebooks decoded, as
// for files. A read error ends the stream: what came before it is scanned,
// then the error is returned.
func Read(ctx context.Context, r io.Reader, loc aicred.Location, opts Options, h Handler) error {
	s, err := newRun(opts, h)
	if err != nil {
		return err
	}
	if loc.Source == "" {
		loc.Source = aicred.SourceStdin
	}
	cr := countingReader{r: r, stopOnErr: true}
	err = s.scan(ctx, &entry{loc: loc, name: loc.Path, r: &cr})
	s.progress(cr.n)
	if err == nil && cr.err != nil {
		// What was read before the error has been scanned; the stream is
		// the whole input, so its failure is the caller's to report.
		err = wrapErr("read", loc.Path, cr.err)
	}
	return err
}
