package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aicred/aicred"
)

// An entry is one named piece of content: a file, an archive member, a git
// blob or a stream. What it is (archive, notebook, chat export, binary,
// text) is decided from its name and first bytes.
type entry struct {
	loc    aicred.Location
	name   string    // the innermost name, used for detection
	r      io.Reader // the content, or what is left of it after the head
	file   *os.File  // set for files on disk: random access for zip
	depth  int       // archive nesting level: 0 outside any archive
	budget *budget   // expansion budget of the top-level archive, nil outside
}

// binarySniff is how much of the head is searched for a NUL byte.
const binarySniff = 8 << 10

// scan reads the head of an entry into a pooled buffer and dispatches it.
// It returns only errors that stop the scan (handler, context) or that must
// travel up to the top-level archive (errBudget); everything else is warned.
func (s *run) scan(ctx context.Context, e *entry) error {
	bp := s.getBuf()
	defer s.putBuf(bp)
	n, eof, rerr := fill(e.r, *bp, 0, s.headSize())
	if rerr != nil {
		if n == 0 {
			return s.readErr(e.loc.Path, rerr)
		}
		e.r = eofReader{} // scan what was read, then report the error
	}
	err := s.dispatch(ctx, e, *bp, n, eof)
	if err == nil && rerr != nil {
		err = s.readErr(e.loc.Path, rerr)
	}
	return err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// dispatch decides what an entry is from its name and head (buf[:n], the
// whole content when eof) and scans it accordingly.
func (s *run) dispatch(ctx context.Context, e *entry, buf []byte, n int, eof bool) error {
	head := buf[:n]
	if k := sniffArchive(e.name, head); k != notArchive {
		if k == tarArchive && e.file != nil && e.depth == 0 && s.depth > 0 {
			// A container image tarball on disk: known by its content,
			// read by its manifests, and never scanned again as a plain tar.
			if fsys, ok := indexImageTar(e.file); ok {
				return s.scanImage(ctx, fsys, e.loc)
			}
		}
		if e.depth < s.depth {
			return s.scanArchive(ctx, e, k, head, eof)
		}
		if !s.ScanBinary {
			return nil // archives are opaque beyond the depth limit
		}
	}
	switch {
	case hasSuffixFold(e.name, ".ipynb"):
		return s.decode(ctx, e, buf, n, eof, "notebook", s.scanNotebook)
	case hasSuffixFold(e.name, ".json") && mayBeSlack(head):
		return s.decode(ctx, e, buf, n, eof, "chat export", s.scanSlack)
	case e.depth < s.depth && archiveExt(e.name) != "":
		s.warn(e.loc.Path, fmt.Errorf("source: %s is not a %s archive, scanned as a plain file", e.loc.Path, archiveExt(e.name)))
	}
	if !s.ScanBinary && bytes.IndexByte(head[:min(n, binarySniff)], 0) >= 0 {
		return nil
	}
	return s.stream(ctx, e.loc, buf, n, eof, e.r, 1, 1)
}

// A decoder scans whole decoded content; ok false means the content is not
// in its format and is scanned as plain text instead.
type decoder func(ctx context.Context, e *entry, data []byte) (ok bool, err error)

// decode reads a whole entry (up to MaxDecodeBytes) and hands it to dec.
// Content that is too large or that dec refuses is scanned as plain text, so
// nothing is lost.
func (s *run) decode(ctx context.Context, e *entry, buf []byte, n int, eof bool, what string, dec decoder) error {
	data := buf[:n]
	if !eof {
		var b bytes.Buffer
		b.Write(data)
		_, err := io.Copy(&b, io.LimitReader(e.r, s.MaxDecodeBytes-int64(n)+1))
		if err != nil {
			if err := s.readErr(e.loc.Path, err); err != nil {
				return err
			}
		}
		if int64(b.Len()) > s.MaxDecodeBytes {
			s.warn(e.loc.Path, fmt.Errorf("source: %s larger than %d bytes, scanned as plain text", what, s.MaxDecodeBytes))
			return s.plain(ctx, e, io.MultiReader(&b, e.r))
		}
		data = b.Bytes()
	}
	ok, err := dec(ctx, e, data)
	if err != nil || ok {
		return err
	}
	if !s.ScanBinary && bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0 {
		return nil
	}
	if eof {
		return s.stream(ctx, e.loc, buf, n, true, nil, 1, 1)
	}
	return s.plain(ctx, e, bytes.NewReader(data))
}

// plain streams r as text, with a fresh buffer.
func (s *run) plain(ctx context.Context, e *entry, r io.Reader) error {
	bp := s.getBuf()
	defer s.putBuf(bp)
	n, eof, rerr := fill(r, *bp, 0, s.headSize())
	var err error
	if s.ScanBinary || bytes.IndexByte((*bp)[:min(n, binarySniff)], 0) < 0 {
		err = s.stream(ctx, e.loc, *bp, n, eof, r, 1, 1)
	}
	if err == nil && rerr != nil {
		err = s.readErr(e.loc.Path, rerr)
	}
	return err
}

// withKind sets the source kind of a location decoded as k. Files and
// archive members take the kind of their format; git, staged and stdin
// locations keep theirs, since that is how the scan reached them.
func withKind(loc aicred.Location, k aicred.SourceKind) aicred.Location {
	switch loc.Source {
	case "", aicred.SourceFile, aicred.SourceArchive:
		loc.Source = k
	}
	return loc
}

// mayBeSlack tells JSON that could be a Slack export day file (an array of
// messages) from the rest, without decoding it.
func mayBeSlack(head []byte) bool {
	return firstNonSpace(head) == '[' && bytes.Contains(head, []byte(`"ts"`)) && bytes.Contains(head, []byte(`"message"`))
}

// archiveExt returns the archive format a name promises, or "".
func archiveExt(name string) string {
	switch {
	case hasSuffixFold(name, ".zip"):
		return "zip"
	case hasSuffixFold(name, ".gz"), hasSuffixFold(name, ".tgz"):
		return "gzip"
	}
	return ""
}

func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	s = s[len(s)-len(suffix):]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return false
		}
	}
	return true
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		case 0xEF, 0xBB, 0xBF: // UTF-8 byte order mark
		default:
			return c
		}
	}
	return 0
}
