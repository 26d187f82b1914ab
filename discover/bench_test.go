package discover

import (
	"context"
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aicred/aicred/source"
)

// BenchmarkScanGOROOT measures the whole pipeline (walk, read, engine,
// findings) over the Go source tree shipped with the toolchain, with the
// full catalog and archives off, using every CPU. Files are in the page
// cache after the first iteration.
func BenchmarkScanGOROOT(b *testing.B) {
	root := filepath.Join(runtime.GOROOT(), "src")
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	if err != nil || total == 0 {
		b.Skip("GOROOT/src not readable")
	}
	s, err := New(Options{Source: source.Options{MaxArchiveDepth: source.ArchiveDepth(0)}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	for b.Loop() {
		if _, err := s.Dir(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
}
