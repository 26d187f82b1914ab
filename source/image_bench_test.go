package source

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/scan"
)

// BenchmarkImage scans a generated 1 GiB docker save image (8 layers of
// 128 MiB of text files, every other layer gzip-compressed, one generated
// key per 64 KiB file) with the detection engine in the handler: the whole
// read, decompress, untar and detect path of `aicred scan IMAGE.tar`.
//
//	go test ./source -run x -bench Image -benchtime 1x
func BenchmarkImage(b *testing.B) {
	const (
		layers    = 8
		layerSize = 128 << 20
		fileSize  = 64 << 10
	)
	dir := b.TempDir()
	img := filepath.Join(dir, "image.tar")
	out, err := os.Create(img)
	if err != nil {
		b.Fatal(err)
	}
	tw := tar.NewWriter(out)
	g := provider.NewGen(2027)
	var names []string
	var total int64
	for l := range layers {
		tmp, err := os.CreateTemp(dir, "layer")
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<20)
		var w io.Writer = bw
		var zw *gzip.Writer
		if l%2 == 1 {
			zw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
			w = zw
		}
		lt := tar.NewWriter(w)
		body := make([]byte, 0, fileSize)
		for f := 0; f*fileSize < layerSize; f++ {
			body = body[:0]
			body = fmt.Appendf(body, "ANTHROPIC_API_KEY=sk-ant-api03-%sAA\n", g.URL64(93))
			for len(body) < fileSize-100 {
				body = fmt.Appendf(body, "2026-01-02T03:04:05Z level=info req=%s user=%s path=/v1/items/%s status=200 ms=%d\n",
					g.Hex(16), g.Lower(8), g.LowerNum(10), g.IntN(900))
			}
			if err := lt.WriteHeader(&tar.Header{Name: fmt.Sprintf("srv/data/%d/%05d.log", l, f), Mode: 0o644, Size: int64(len(body))}); err != nil {
				b.Fatal(err)
			}
			lt.Write(body)
			total += int64(len(body))
		}
		lt.Close()
		if zw != nil {
			zw.Close()
		}
		bw.Flush()
		names = append(names, addBlob(b, tw, tmp, h))
	}
	cfg, _ := json.Marshal(map[string]any{"config": map[string]any{"Env": []string{"PATH=/usr/bin"}}})
	csum := sha256.Sum256(cfg)
	cname := "blobs/sha256/" + hex.EncodeToString(csum[:])
	for _, f := range [][2]string{{cname, string(cfg)}} {
		tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1]))})
		tw.Write([]byte(f[1]))
	}
	man, _ := json.Marshal([]map[string]any{{"Config": cname, "RepoTags": []string{"bench:1"}, "Layers": names}})
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(man))})
	tw.Write(man)
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	out.Close()

	e, err := scan.New(scan.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var found atomic.Int64
	h := func(_ context.Context, c *Chunk) error {
		e.Scan(c.Data, func(m scan.Match) {
			if c.Owns(m.Start) {
				found.Add(1)
			}
		})
		return nil
	}
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		found.Store(0)
		if err := Walk(context.Background(), img, Options{Warn: func(p string, err error) { b.Error(p, err) }}, h); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if want := int64(layers * (layerSize / fileSize)); found.Load() != want {
		b.Errorf("found %d keys, want %d", found.Load(), want)
	}
}

// addBlob copies a layer written to tmp into the image tar under its digest.
func addBlob(b *testing.B, tw *tar.Writer, tmp *os.File, h hash.Hash) string {
	name := "blobs/sha256/" + hex.EncodeToString(h.Sum(nil))
	fi, err := tmp.Stat()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		b.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size()}); err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(tw, tmp); err != nil {
		b.Fatal(err)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return name
}
