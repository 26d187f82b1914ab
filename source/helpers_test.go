package source

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// marker stands in for a credential: tests never need a real key shape, a
// handler that looks for this string is enough.
const marker = "MARKER-1234"

// A hit is one marker seen by the collector.
type hit struct {
	Path    string
	Source  aicred.SourceKind
	Locator string
	Commit  string
	Author  string
	Date    string // RFC 3339, when the chunk has one
	Line    int
	Col     int
}

func (h hit) String() string {
	return fmt.Sprintf("%s[%s %s %s] %d:%d", h.Path, h.Source, h.Locator, h.Commit, h.Line, h.Col)
}

// collector is a test handler: it finds the marker in each chunk, keeps
// the occurrences the chunk owns and checks the chunk invariants.
type collector struct {
	t        testing.TB
	maxData  int // when set, no chunk may carry more bytes
	mu       sync.Mutex
	hits     []hit
	chunks   int
	warnings []string
}

func newCollector(t testing.TB) *collector { return &collector{t: t} }

func (c *collector) handle(_ context.Context, ch *Chunk) error {
	if ch.From < 0 || ch.From > ch.To || ch.To > len(ch.Data) {
		c.t.Errorf("%s: bad chunk bounds From=%d To=%d len=%d", ch.Path, ch.From, ch.To, len(ch.Data))
	}
	if ch.Line < 1 || ch.Col < 1 {
		c.t.Errorf("%s: bad chunk position %d:%d", ch.Path, ch.Line, ch.Col)
	}
	if c.maxData > 0 && len(ch.Data) > c.maxData {
		c.t.Errorf("%s: chunk of %d bytes, want at most %d", ch.Path, len(ch.Data), c.maxData)
	}
	var found []hit
	for off := 0; ; {
		i := bytes.Index(ch.Data[off:], []byte(marker))
		if i < 0 {
			break
		}
		off += i
		if ch.Owns(off) {
			line, col := ch.Position(off)
			h := hit{
				Path: ch.Path, Source: ch.Source, Locator: ch.Locator, Commit: ch.Commit,
				Author: ch.Author, Line: line, Col: col,
			}
			if ch.Date != nil {
				h.Date = ch.Date.UTC().Format(time.RFC3339)
			}
			found = append(found, h)
		}
		off++
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks++
	c.hits = append(c.hits, found...)
	return nil
}

func (c *collector) warn(path string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnings = append(c.warnings, path+": "+err.Error())
}

// sorted returns the hits in a stable order.
func (c *collector) sorted() []hit {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.hits)
	slices.SortFunc(out, func(a, b hit) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func (c *collector) warned(substr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}

// opts returns options wired to the collector's warnings.
func (c *collector) opts(o Options) Options {
	o.Warn = c.warn
	return o
}

// writeTree creates files (path -> content) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// paths returns the hit paths, sorted.
func paths(hs []hit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Path)
	}
	slices.Sort(out)
	return out
}

// position returns the 1-based line and column of byte off in data.
func position(data []byte, off int) (int, int) {
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	return line, off - bytes.LastIndexByte(data[:off], '\n')
}
