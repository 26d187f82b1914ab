package source

import (
	"context"
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkWalkGOROOT walks $(go env GOROOT)/src with a no-op handler: the
// cost of the source stage alone, which the whole scan must stay well under.
func BenchmarkWalkGOROOT(b *testing.B) {
	root := filepath.Join(runtime.GOROOT(), "src")
	var total int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Skipf("GOROOT/src not readable: %v", err)
	}
	b.SetBytes(total)
	opts := Options{Warn: func(string, error) {}}
	noop := func(context.Context, *Chunk) error { return nil }
	b.ResetTimer()
	for b.Loop() {
		if err := Walk(context.Background(), root, opts, noop); err != nil {
			b.Fatal(err)
		}
	}
}
