// Package discover runs the scan pipeline: a source yields chunks, the
// engine finds matches, and each match becomes a Finding with its position,
// fingerprint, redacted preview and blast radius, filtered by allowlists and
// a baseline. It is the one place where sources and the engine meet.
package discover

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/report"
	"github.com/aicred/aicred/scan"
	"github.com/aicred/aicred/source"
)

// Options configure a Scanner.
type Options struct {
	Config      *Config
	Baseline    []*aicred.Finding // findings already known: not reported again
	Source      source.Options
	DecodeDepth int // see scan.Options
}

// Stats are running totals, safe to read while a scan runs.
type Stats struct {
	Files    int64
	Bytes    int64
	Findings int64
	Elapsed  time.Duration
}

// Scanner finds credentials in sources.
type Scanner struct {
	engine     *scan.Engine
	src        source.Options
	allowPaths []string
	allowFP    map[aicred.Fingerprint]bool
	allowRe    []*regexp.Regexp
	baseline   map[string]bool

	start    atomic.Int64 // unix nanoseconds of the current run's start
	files    atomic.Int64
	bytes    atomic.Int64
	findings atomic.Int64

	mu  sync.Mutex
	out []*aicred.Finding
}

// New builds a scanner: the catalog plus custom rules, minus disabled ones.
func New(opts Options) (*Scanner, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = &Config{}
	}
	custom, err := cfg.kinds()
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "config: %v", err)
	}
	kinds := append(provider.Kinds(), custom...)
	eng, err := scan.New(scan.Options{
		Kinds: kinds, DecodeDepth: opts.DecodeDepth,
		Disabled: append(append([]string{}, cfg.Disable...), cfg.Allow.Rules...),
	})
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "rules: %v", err)
	}
	s := &Scanner{
		engine: eng, src: opts.Source,
		allowPaths: cfg.Allow.Paths,
		allowFP:    map[aicred.Fingerprint]bool{},
		baseline:   map[string]bool{},
	}
	s.src.Exclude = append(append([]string{}, s.src.Exclude...), cfg.Exclude...)
	for _, fp := range cfg.Allow.Fingerprints {
		s.allowFP[aicred.Fingerprint(fp)] = true
	}
	for _, p := range cfg.Allow.Patterns {
		s.allowRe = append(s.allowRe, regexp.MustCompile(p)) // checked by ParseConfig
	}
	for _, f := range opts.Baseline {
		s.baseline[f.ID()] = true
	}
	userProgress := s.src.Progress
	s.src.Progress = func(files int, n int64) {
		s.files.Store(int64(files))
		s.bytes.Store(n)
		if userProgress != nil {
			userProgress(files, n)
		}
	}
	return s, nil
}

// Stats returns the running totals.
func (s *Scanner) Stats() Stats {
	st := Stats{Files: s.files.Load(), Bytes: s.bytes.Load(), Findings: s.findings.Load()}
	if ns := s.start.Load(); ns != 0 {
		st.Elapsed = time.Since(time.Unix(0, ns))
	}
	return st
}

// Dir scans a directory tree or a single file.
func (s *Scanner) Dir(ctx context.Context, root string) ([]*aicred.Finding, error) {
	return s.run(func(h source.Handler) error { return source.Walk(ctx, root, s.src, h) })
}

// Git scans every unique blob in a repository's history. A secret kept
// through later versions of a file is in every one of their blobs; it is
// reported once per rule and path, with the oldest commit that has it.
func (s *Scanner) Git(ctx context.Context, repo string) ([]*aicred.Finding, error) {
	fs, err := s.run(func(h source.Handler) error { return source.GitHistory(ctx, repo, s.src, h) })
	return firstAppearance(fs), err
}

// firstAppearance keeps, for each rule, secret and path, the finding with
// the oldest author date (ties: the earlier commit id, for stable output).
func firstAppearance(fs []*aicred.Finding) []*aicred.Finding {
	type key struct {
		rule string
		fp   aicred.Fingerprint
		path string
	}
	best := map[key]*aicred.Finding{}
	for _, f := range fs {
		k := key{f.Rule, f.Fingerprint, f.Path}
		if b, ok := best[k]; !ok || older(f, b) {
			best[k] = f
		}
	}
	out := fs[:0]
	for _, f := range fs {
		if best[key{f.Rule, f.Fingerprint, f.Path}] == f {
			out = append(out, f)
		}
	}
	return out
}

func older(a, b *aicred.Finding) bool {
	switch {
	case a.Date != nil && b.Date != nil && !a.Date.Equal(*b.Date):
		return a.Date.Before(*b.Date)
	case a.Date != nil && b.Date == nil:
		return true
	case a.Date == nil && b.Date != nil:
		return false
	}
	return a.Commit < b.Commit
}

// Staged scans the lines added in the staged changes of a repository.
func (s *Scanner) Staged(ctx context.Context, repo string) ([]*aicred.Finding, error) {
	return s.run(func(h source.Handler) error { return source.GitStaged(ctx, repo, s.src, h) })
}

// Reader scans a stream such as stdin.
func (s *Scanner) Reader(ctx context.Context, r io.Reader, loc aicred.Location) ([]*aicred.Finding, error) {
	return s.run(func(h source.Handler) error { return source.Read(ctx, r, loc, s.src, h) })
}

func (s *Scanner) run(walk func(source.Handler) error) ([]*aicred.Finding, error) {
	s.start.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.out = nil
	s.mu.Unlock()
	err := walk(s.handle)
	s.mu.Lock()
	out := s.out
	s.out = nil
	s.mu.Unlock()
	report.Sort(out)
	return out, err
}

// handle turns one chunk's matches into findings.
func (s *Scanner) handle(_ context.Context, c *source.Chunk) error {
	local := s.chunkFindings(c)
	if len(local) == 0 {
		return nil
	}
	s.mu.Lock()
	s.out = append(s.out, local...)
	s.mu.Unlock()
	return nil
}

// Handler returns a source handler that passes each chunk's findings to
// fn as soon as the chunk is scanned, instead of collecting them: what a
// continuous source (source.Watch) needs. fn is called concurrently, from
// the source's goroutines; an error from it stops the source.
func (s *Scanner) Handler(fn func(ctx context.Context, fs []*aicred.Finding) error) source.Handler {
	return func(ctx context.Context, c *source.Chunk) error {
		if local := s.chunkFindings(c); len(local) > 0 {
			return fn(ctx, local)
		}
		return nil
	}
}

// chunkFindings returns the findings of the matches c owns.
func (s *Scanner) chunkFindings(c *source.Chunk) []*aicred.Finding {
	var (
		local []*aicred.Finding
		pos   cursor
	)
	pos.reset(c)
	s.engine.Scan(c.Data, func(m scan.Match) {
		if m.Start < c.From || m.Start >= c.To {
			return
		}
		f := s.finding(c, &pos, m)
		if f != nil {
			local = append(local, f)
		}
	})
	s.findings.Add(int64(len(local)))
	return local
}

func (s *Scanner) finding(c *source.Chunk, pos *cursor, m scan.Match) *aicred.Finding {
	fp := aicred.FingerprintOf([]byte(m.Secret))
	if s.allowFP[fp] {
		return nil
	}
	for _, re := range s.allowRe {
		if re.MatchString(m.Secret) {
			return nil
		}
	}
	for _, g := range s.allowPaths {
		if ok, _ := doublestar.Match(g, c.Path); ok {
			return nil
		}
	}
	k := m.Kind
	line, col := pos.at(c.Data, m.Start)
	if c.Map != nil { // decoded content (a notebook cell): the position in the file
		line, col = c.Map(m.Start)
	}
	f := &aicred.Finding{
		Provider:     k.Provider().ID,
		Kind:         k.ID,
		Rule:         k.Rule.ID,
		Description:  k.Name,
		Fingerprint:  fp,
		Redacted:     aicred.Redact(m.Secret),
		Line:         line,
		Column:       col,
		Encoding:     m.Encoding,
		Entropy:      float64(int(m.Entropy*100)) / 100,
		Capabilities: slices.Clone(k.Capabilities),
		Verification: aicred.NotChecked,
		Location:     c.Location,
		Secret:       aicred.NewSecret(m.Secret),
		Hints:        m.Hints,
	}
	switch {
	case c.Map != nil:
		// The secret may hold escapes that are longer in the file.
		if l, last := c.Map(m.End - 1); l == line {
			f.EndColumn = last + 1
		}
	case bytes.IndexByte(c.Data[m.Start:m.End], '\n') < 0:
		f.EndColumn = col + (m.End - m.Start)
	}
	if len(m.Related) > 0 {
		f.Related = make(map[string]aicred.Secret, len(m.Related))
		for name, v := range m.Related {
			f.Related[name] = aicred.NewSecret(v)
		}
	}
	if s.baseline[f.ID()] {
		return nil
	}
	return f
}

// cursor turns byte offsets into line and column, walking forward through
// the chunk once: the engine reports matches in order of position.
type cursor struct {
	line0, col0 int // position of the chunk's first byte
	off, line   int
	lineStart   int // offset of the current line's first byte; -1 while on the chunk's first line
}

func (p *cursor) reset(c *source.Chunk) {
	p.line0, p.col0 = max(c.Line, 1), max(c.Col, 1)
	p.off, p.line, p.lineStart = 0, p.line0, -1
}

func (p *cursor) at(data []byte, off int) (line, col int) {
	if off < p.off {
		p.off, p.line, p.lineStart = 0, p.line0, -1
	}
	seg := data[p.off:off]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		p.line += n
		p.lineStart = p.off + bytes.LastIndexByte(seg, '\n') + 1
	}
	p.off = off
	if p.lineStart < 0 {
		return p.line, p.col0 + off
	}
	return p.line, off - p.lineStart + 1
}

// SourceOptions returns the source options the scanner reads with: the
// ones it was given, with the configuration's exclusions added.
func (s *Scanner) SourceOptions() source.Options { return s.src }
