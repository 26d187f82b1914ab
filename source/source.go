// Package source turns the places credentials sprawl into chunks of bytes
// for the detection engine: directory trees, streams (stdin), git history,
// staged changes, Jupyter notebooks, archives and chat exports.
//
// Every entry point has the same shape: it reads, decodes what needs
// decoding, and calls a Handler with Chunks. A Chunk carries its Location
// and exact position (Line, Col) so findings point at the original content.
// Large content is streamed in overlapping chunks with bounded memory; From
// and To say which matches belong to which chunk so that each match is
// reported once.
//
// Problems that should not stop a scan (an unreadable file, a malformed
// notebook, a zip bomb) go to Options.Warn; entry points return an error
// only when they cannot go on: the root does not exist, git fails, the
// handler returns an error, or the context ends.
package source

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/aicred/aicred"
)

// A Chunk is content to scan and where it came from. Handlers must not keep
// c or c.Data after returning: buffers are reused.
type Chunk struct {
	Data []byte
	// Location says where Data came from. Path is relative to the scan root;
	// archive members are written "outer.zip!dir/inner.tar.gz!file.txt".
	aicred.Location
	// Line and Col are the 1-based line and column (in bytes) of Data[0] in
	// the original content: the file, the archive member, the notebook cell
	// text, the chat message text or, for staged changes, the new file.
	Line, Col int
	// Map, when set, gives the 1-based line and column in the original
	// file of Data[off], for content decoded from that file (a notebook
	// cell's text, decoded from its JSON strings). Line and Col then
	// describe the decoded text; Position follows Map.
	Map func(off int) (line, col int)
	// From and To bound the matches this chunk owns: report only matches
	// whose start offset in Data is in [From, To). Chunks of a streamed file
	// overlap by Options.Overlap bytes on each side of the owned range, so a
	// match (and the context before it) near a boundary is seen whole by the
	// chunk that owns it, and by no other.
	From, To int
}

// Position returns the 1-based line and column (in bytes) of Data[off] in
// the original content.
func (c *Chunk) Position(off int) (line, col int) {
	if c.Map != nil {
		return c.Map(off)
	}
	return c.textPosition(off)
}

// textPosition is the line and column of Data[off] counted from Line and
// Col through Data.
func (c *Chunk) textPosition(off int) (line, col int) {
	d := c.Data[:off]
	nl := bytes.Count(d, []byte{'\n'})
	if nl == 0 {
		return c.Line, c.Col + off
	}
	return c.Line + nl, off - bytes.LastIndexByte(d, '\n')
}

// Owns reports whether a match starting at Data[off] belongs to this chunk.
func (c *Chunk) Owns(off int) bool { return off >= c.From && off < c.To }

// A Handler receives chunks. Walk, Read and GitHistory call it concurrently
// from Options.Workers goroutines. An error stops the scan and is returned
// by the entry point.
type Handler func(ctx context.Context, c *Chunk) error

// Defaults for Options fields left zero.
const (
	DefaultMaxArchiveDepth   = 2
	DefaultMaxArchiveEntries = 10000
	DefaultMaxArchiveBytes   = 256 << 20
	DefaultMaxDecodeBytes    = 64 << 20
	DefaultChunkSize         = 1 << 20
	DefaultOverlap           = 64 << 10 // also the longest encoded run (base64 blob) seen whole across a chunk boundary
)

// Options tune how content is read. The zero value is ready to use.
type Options struct {
	// Exclude holds doublestar globs matched against the slash-separated
	// path relative to the root ("vendor/**", "**/*.min.js"). A pattern
	// without a slash also matches the base name, as in .gitignore ("*.log").
	// An excluded directory is not entered.
	Exclude []string
	// MaxArchiveDepth is how many levels of nested archives are expanded:
	// nil means DefaultMaxArchiveDepth; 0 turns expansion off, and archives
	// are then skipped as binary. Use ArchiveDepth to set it.
	MaxArchiveDepth *int
	// MaxArchiveEntries limits the entries read from one archive.
	MaxArchiveEntries int
	// MaxArchiveBytes limits the decompressed bytes read from one top-level
	// archive, nested archives included. When it is reached the archive is
	// abandoned with a warning; chunks already emitted stand.
	MaxArchiveBytes int64
	// MaxDecodeBytes is the largest notebook or chat export decoded in
	// memory; larger ones are scanned as plain text.
	MaxDecodeBytes int64
	// ScanBinary scans files that look binary (a NUL byte in the first
	// 8 KiB). Archives and notebooks are decoded either way.
	ScanBinary bool
	// ChunkSize is the number of bytes each chunk owns; Overlap the number of
	// bytes of context added on each side. Overlap must exceed the engine's
	// longest window (keyword, context and match together).
	ChunkSize, Overlap int
	// Workers is the number of goroutines calling the handler; default
	// runtime.NumCPU().
	Workers int
	// FollowSymlinks follows symbolic links in Walk. Loops are detected
	// (same device and inode as a directory above) and reported to Warn.
	FollowSymlinks bool
	// Warn receives problems that do not stop the scan: unreadable files,
	// permission errors, symlink loops, malformed notebooks and archives,
	// limits hit. Warnings never contain file content. Calls are serialised.
	// Nil logs with slog.Default at level Warn.
	Warn func(path string, err error)
	// Progress, when set, is called after each file or blob with the number
	// of files and bytes read so far. It is called from worker goroutines
	// and must be safe for concurrent use.
	Progress func(files int, bytes int64)
}

// ArchiveDepth returns n as a value for Options.MaxArchiveDepth.
func ArchiveDepth(n int) *int { return &n }

// settings are Options with defaults applied and patterns checked.
type settings struct {
	Options
	depth    int
	patterns []pattern
}

type pattern struct {
	glob     string
	baseOnly bool // no slash: match the base name too
}

func (o Options) settings() (*settings, error) {
	s := &settings{Options: o, depth: DefaultMaxArchiveDepth}
	if o.MaxArchiveDepth != nil {
		s.depth = max(*o.MaxArchiveDepth, 0)
	}
	if s.MaxArchiveEntries <= 0 {
		s.MaxArchiveEntries = DefaultMaxArchiveEntries
	}
	if s.MaxArchiveBytes <= 0 {
		s.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if s.MaxDecodeBytes <= 0 {
		s.MaxDecodeBytes = DefaultMaxDecodeBytes
	}
	if s.ChunkSize <= 0 {
		s.ChunkSize = DefaultChunkSize
	}
	switch {
	case s.Overlap == 0:
		s.Overlap = DefaultOverlap
	case s.Overlap < 0:
		s.Overlap = 0
	}
	if s.Workers <= 0 {
		s.Workers = runtime.NumCPU()
	}
	for _, p := range o.Exclude {
		p = strings.TrimPrefix(p, "./")
		if !doublestar.ValidatePattern(p) {
			return nil, aicred.Errorf(aicred.ErrInvalid, "source: bad exclude pattern %q", p)
		}
		s.patterns = append(s.patterns, pattern{glob: p, baseOnly: !strings.Contains(p, "/")})
	}
	if s.Warn == nil {
		s.Warn = func(path string, err error) {
			slog.Warn("source: skipped", "path", path, "err", err)
		}
	}
	return s, nil
}

// excluded reports whether the slash-separated relative path matches an
// exclude pattern.
func (s *settings) excluded(rel string) bool {
	if len(s.patterns) == 0 {
		return false
	}
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	for _, p := range s.patterns {
		if doublestar.MatchUnvalidated(p.glob, rel) || p.baseOnly && doublestar.MatchUnvalidated(p.glob, base) {
			return true
		}
	}
	return false
}

// wrapErr adds the package and operation to an error.
func wrapErr(op, path string, err error) error {
	return fmt.Errorf("source: %s %s: %w", op, path, err)
}
