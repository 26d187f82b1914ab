package scan

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred/provider"
)

var (
	gorootOnce  sync.Once
	gorootFiles [][]byte
	gorootBytes int64
)

// loadGOROOT reads the Go source tree shipped with the toolchain, the
// standard corpus for throughput, into memory once.
func loadGOROOT(b testing.TB) ([][]byte, int64) {
	gorootOnce.Do(func() {
		root := filepath.Join(runtime.GOROOT(), "src")
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err == nil {
				gorootFiles = append(gorootFiles, data)
				gorootBytes += int64(len(data))
			}
			return nil
		})
	})
	if len(gorootFiles) == 0 {
		b.Skip("GOROOT/src not readable")
	}
	return gorootFiles, gorootBytes
}

// BenchmarkEngineGOROOT measures the engine alone (files already in
// memory) over GOROOT/src on one core with the full catalog.
func BenchmarkEngineGOROOT(b *testing.B) {
	files, total := loadGOROOT(b)
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			e.Scan(f, func(Match) {})
		}
	}
}

// BenchmarkKeywordPass measures the prefilter alone.
func BenchmarkKeywordPass(b *testing.B) {
	files, total := loadGOROOT(b)
	var kws []string
	for _, k := range provider.Kinds() {
		kws = append(kws, k.Rule.Keywords...)
	}
	d := newKeywordDFA(kws)
	var hits []hit
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			hits = d.find(f, hits[:0])
		}
	}
}

// BenchmarkSecretDense measures a worst case: text full of keys.
func BenchmarkSecretDense(b *testing.B) {
	g := provider.NewGen(7)
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		for _, k := range provider.Kinds() {
			for _, ex := range k.Rule.Examples(g) {
				sb.WriteString(ex.Text)
				sb.WriteString("\n")
			}
		}
	}
	data := []byte(sb.String())
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		e.Scan(data, func(Match) {})
	}
}
