package source

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/aicred/aicred"
)

type archiveKind int

const (
	notArchive archiveKind = iota
	zipArchive
	tarArchive
	gzipArchive
)

// sniffArchive tells an archive by its magic bytes; old tar files without a
// magic are known by their extension.
func sniffArchive(name string, head []byte) archiveKind {
	switch {
	case len(head) >= 4 && head[0] == 'P' && head[1] == 'K' &&
		(head[2] == 3 && head[3] == 4 || head[2] == 5 && head[3] == 6 || head[2] == 7 && head[3] == 8):
		return zipArchive
	case len(head) >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8:
		return gzipArchive
	case isTar(head) || hasSuffixFold(name, ".tar") && len(head) >= 512:
		return tarArchive
	}
	return notArchive
}

func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// A budget is what is left of a top-level archive's expansion allowance. An
// archive is read by one goroutine, so no locking.
type budget struct{ left int64 }

// limited counts decompressed bytes against a budget and fails with
// errBudget when content goes beyond it.
type limited struct {
	r io.Reader
	b *budget
}

func (l *limited) Read(p []byte) (int, error) {
	if l.b.left <= 0 {
		var one [1]byte
		n, err := io.ReadFull(l.r, one[:])
		if n == 0 {
			return 0, err // io.EOF: the content ends exactly at the limit
		}
		return 0, errBudget
	}
	if int64(len(p)) > l.b.left {
		p = p[:l.b.left]
	}
	n, err := l.r.Read(p)
	l.b.left -= int64(n)
	return n, err
}

// scanArchive expands an archive entry whose head (the whole content when
// eof) has been read. The top-level archive of a nest owns the budget and
// turns errBudget into a warning.
func (s *run) scanArchive(ctx context.Context, e *entry, k archiveKind, head []byte, eof bool) error {
	top := e.budget == nil
	if top {
		e.budget = &budget{left: s.MaxArchiveBytes}
	}
	var err error
	switch k {
	case zipArchive:
		err = s.scanZip(ctx, e, head, eof)
	case tarArchive:
		err = s.scanTar(ctx, e, io.MultiReader(bytes.NewReader(head), e.r))
	case gzipArchive:
		err = s.scanGzip(ctx, e, io.MultiReader(bytes.NewReader(head), e.r))
	}
	if top && errors.Is(err, errBudget) {
		s.warn(e.loc.Path, fmt.Errorf("source: archive %s: expanded size limit of %d bytes reached, rest skipped", e.loc.Path, s.MaxArchiveBytes))
		return nil
	}
	return err
}

// member scans one entry of an archive.
func (s *run) member(ctx context.Context, parent *entry, name string, r io.Reader) error {
	m := &entry{loc: parent.loc, name: name, r: r, depth: parent.depth + 1, budget: parent.budget}
	m.loc.Path = parent.loc.Path + "!" + name
	m.loc = withKind(m.loc, aicred.SourceArchive)
	return s.scan(ctx, m)
}

func (s *run) malformed(e *entry, format string, err error) error {
	if errors.Is(err, errBudget) {
		return err
	}
	s.warn(e.loc.Path, fmt.Errorf("source: malformed %s archive %s: %w", format, e.loc.Path, err))
	return nil
}

func (s *run) tooManyEntries(e *entry) {
	s.warn(e.loc.Path, fmt.Errorf("source: archive %s: more than %d entries, rest skipped", e.loc.Path, s.MaxArchiveEntries))
}

func (s *run) scanZip(ctx context.Context, e *entry, head []byte, eof bool) error {
	var (
		ra   io.ReaderAt
		size int64
	)
	switch {
	case eof:
		ra, size = bytes.NewReader(head), int64(len(head))
	case e.file != nil:
		fi, err := e.file.Stat()
		if err != nil {
			return s.readErr(e.loc.Path, err)
		}
		ra, size = e.file, fi.Size()
	default:
		sp, n, cleanup, err := spool(head, e.r)
		if err != nil {
			return s.readErr(e.loc.Path, err)
		}
		defer cleanup()
		ra, size = sp, n
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return s.malformed(e, "zip", err)
	}
	for i, f := range zr.File {
		if i >= s.MaxArchiveEntries {
			s.tooManyEntries(e)
			return nil
		}
		if !f.Mode().IsRegular() || strings.HasSuffix(f.Name, "/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			s.warn(e.loc.Path+"!"+f.Name, fmt.Errorf("source: open %s!%s: %w", e.loc.Path, f.Name, err))
			continue
		}
		err = s.member(ctx, e, f.Name, &limited{r: rc, b: e.budget})
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *run) scanTar(ctx context.Context, e *entry, r io.Reader) error {
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return s.malformed(e, "tar", err)
		}
		if i >= s.MaxArchiveEntries {
			s.tooManyEntries(e)
			return nil
		}
		switch hdr.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeGNUSparse:
		default:
			continue
		}
		if err := s.member(ctx, e, hdr.Name, tr); err != nil {
			return err
		}
	}
}

// scanGzip expands a gzip stream: a tar inside is one archive level with
// the compression; anything else is the single member.
func (s *run) scanGzip(ctx context.Context, e *entry, src io.Reader) error {
	inner, isTarName := innerName(e.name)
	gz, err := gzip.NewReader(src)
	if err != nil {
		return s.malformed(e, "gzip", err)
	}
	defer gz.Close()
	if inner == "" && gz.Name != "" {
		inner = path.Base(strings.ReplaceAll(gz.Name, "\\", "/"))
	}
	if inner == "" {
		inner = "data"
	}
	br := bufio.NewReaderSize(&limited{r: gz, b: e.budget}, 8<<10)
	peek, err := br.Peek(512)
	if err != nil && err != io.EOF {
		return s.malformed(e, "gzip", err)
	}
	if isTar(peek) || isTarName && len(peek) == 512 {
		return s.scanTar(ctx, e, br)
	}
	return s.member(ctx, e, inner, br)
}

// innerName is the name of what a compressed file holds: "a.txt" for
// "dir/a.txt.gz", "b.tar" for "b.tgz".
func innerName(name string) (inner string, tar bool) {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	for _, sfx := range [...]struct{ ext, repl string }{
		{".tgz", ".tar"}, {".taz", ".tar"}, {".gz", ""},
	} {
		if hasSuffixFold(base, sfx.ext) && len(base) > len(sfx.ext) {
			inner = base[:len(base)-len(sfx.ext)] + sfx.repl
			return inner, hasSuffixFold(inner, ".tar")
		}
	}
	return "", false
}

// spoolMem is the size up to which content needing random access (a zip
// read from a stream) is kept in memory; beyond it goes to a temporary file.
const spoolMem = 16 << 20

// spool makes head followed by r randomly accessible.
func spool(head []byte, r io.Reader) (io.ReaderAt, int64, func(), error) {
	var b bytes.Buffer
	b.Write(head)
	n, err := io.Copy(&b, io.LimitReader(r, spoolMem))
	if err != nil {
		return nil, 0, nil, err
	}
	if n < spoolMem {
		return bytes.NewReader(b.Bytes()), int64(b.Len()), func() {}, nil
	}
	f, err := os.CreateTemp("", "aicred-spool-*")
	if err != nil {
		return nil, 0, nil, err
	}
	// The spool holds decompressed content, secrets included: unlink it at
	// once so that nothing is left on disk even if aicred is killed; the
	// open descriptor keeps it readable until closed.
	_ = os.Remove(f.Name())
	cleanup := func() { f.Close() }
	size, err := b.WriteTo(f)
	if err == nil {
		var m int64
		m, err = io.Copy(f, r)
		size += m
	}
	if err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	return f, size, cleanup, nil
}
