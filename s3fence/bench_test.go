package s3fence_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// genReader yields n pseudo-random bytes without holding them: a 1 GB
// object costs no 1 GB buffer.
type genReader struct {
	left  int64
	state uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.state ^= g.state << 13
		g.state ^= g.state >> 7
		g.state ^= g.state << 17
		p[i] = byte(g.state)
	}
	g.left -= int64(len(p))
	return len(p), nil
}

// peaks samples the live heap while a transfer runs; the peak RSS is the
// kernel's high-water mark, reset before each run.
type peaks struct {
	stop chan struct{}
	wg   sync.WaitGroup
	heap atomic.Uint64
}

func startPeaks() *peaks {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM (Linux)
	runtime.GC()
	p := &peaks{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > p.heap.Load() {
				p.heap.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peaks) end() (heapMB, rssMB float64) {
	close(p.stop)
	p.wg.Wait()
	return float64(p.heap.Load()) / (1 << 20), vmHWM()
}

func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkObject1GB puts and gets one object (1 GB; AICRED_BENCH_S3_BYTES
// overrides) through the fence and directly against the same S3 server
// (gofakes3 on a temporary directory, so the store holds nothing in
// memory), reporting MB/s of the round trip, the peak live heap and the
// process's peak RSS. Run with -benchtime=1x.
func BenchmarkObject1GB(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("AICRED_BENCH_S3_BYTES"); v != "" {
		size, _ = strconv.ParseInt(v, 10, 64)
	}
	be, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(b, fixtureOpts{backend: be})
	token, _ := f.issue(b, time.Hour)
	pc := f.pair(b, token)
	direct := f.upSrv.URL + "/models/runs/big.bin"
	fenced := f.srv.URL + "/s3/main/models/runs/big.bin"
	run := func(b *testing.B, url, akid, secret string) {
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
		do := func(method string, body io.Reader, n int64) *http.Response {
			req, _ := http.NewRequestWithContext(context.Background(), method, url, body)
			req.ContentLength = n
			if body == nil {
				req.ContentLength = 0
			}
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			if err := signer.SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "eu-west-1", time.Now()); err != nil {
				b.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode != 200 {
				msg, _ := io.ReadAll(resp.Body)
				b.Fatalf("%s: %d %s", method, resp.StatusCode, msg)
			}
			return resp
		}
		b.SetBytes(2 * size)
		b.ResetTimer()
		var heap, rss float64
		for i := 0; i < b.N; i++ {
			p := startPeaks()
			up := sha256.New()
			do(http.MethodPut, io.TeeReader(&genReader{left: size, state: 88172645463325252}, up), size).Body.Close()
			resp := do(http.MethodGet, nil, 0)
			down := sha256.New()
			n, err := io.Copy(down, resp.Body)
			resp.Body.Close()
			h, r := p.end()
			heap, rss = max(heap, h), max(rss, r)
			if err != nil || n != size || !sameSum(up, down) {
				b.Fatalf("GET: %d bytes (%v), want %d equal", n, err, size)
			}
		}
		b.ReportMetric(heap, "peak-heap-MB")
		b.ReportMetric(rss, "peak-RSS-MB")
	}
	b.Run("direct", func(b *testing.B) { run(b, direct, f.heldAKID, f.heldSec) })
	b.Run("fence", func(b *testing.B) { run(b, fenced, pc.AccessKeyID, pc.SecretAccessKey) })
}

func sameSum(a, b hash.Hash) bool { return string(a.Sum(nil)) == string(b.Sum(nil)) }
