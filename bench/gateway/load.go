package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// firstByteHeader carries, in the response headers vegeta hands back,
// the time from the start of the round trip to the first body byte.
const firstByteHeader = "X-Bench-First-Byte-Ns"

// firstByteTransport times the first byte of each response body: vegeta
// reports only the whole exchange, and a stream's whole exchange is not
// its time to first byte.
type firstByteTransport struct{ rt http.RoundTripper }

func (t firstByteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &firstByteBody{ReadCloser: resp.Body, start: start, h: resp.Header}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// connections.
func (t firstByteTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type firstByteBody struct {
	io.ReadCloser
	start time.Time
	h     http.Header
	seen  bool
}

func (b *firstByteBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.seen {
		b.seen = true
		b.h.Set(firstByteHeader, strconv.FormatInt(int64(time.Since(b.start)), 10))
	}
	return n, err
}

// newClient is vegeta's own client (keep-alive, many idle connections
// per host, 30 s timeout, no redirects) with first-byte timing.
func newClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
	}
	return &http.Client{
		Transport:     firstByteTransport{rt: tr},
		Timeout:       vegeta.DefaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// A load is one cell's traffic: where, what, and how fast.
type load struct {
	target  vegeta.Target
	stream  bool
	rate    int    // requests per second; 0: as fast as workers allows
	workers uint64 // for rate 0
}

// A sample is what one cell measured.
type sample struct {
	Requests int `json:"requests"`
	OK       int `json:"ok"`
	// Rate is requests sent per second of measured time; Throughput is
	// successful responses per second.
	Rate       float64        `json:"rate"`
	Throughput float64        `json:"throughput"`
	Latency    quantiles      `json:"latency"`
	FirstByte  *quantiles     `json:"first_byte,omitempty"`
	Failures   map[string]int `json:"failures,omitempty"`
	// ServerCPU is the CPU time (user + system) the process the client
	// talked to used per request: unlike latency, it barely moves when
	// other work on the machine competes for the cores.
	ServerCPU time.Duration `json:"server_cpu_per_request"`
}

// quantiles of a latency distribution, in nanoseconds in JSON.
type quantiles struct {
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// SuccessRate is the share of requests answered 200 with a whole body.
func (s sample) SuccessRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.OK) / float64(s.Requests)
}

func (l load) attacker(c *http.Client) (*vegeta.Attacker, vegeta.Pacer) {
	opts := []func(*vegeta.Attacker){vegeta.Client(c), vegeta.Redirects(vegeta.NoFollow)}
	if l.rate <= 0 {
		// Rate 0 is vegeta's "as fast as possible": exactly workers
		// requests in flight.
		opts = append(opts, vegeta.Workers(l.workers), vegeta.MaxWorkers(l.workers))
	}
	// An attacker cannot be restarted; the client, and so its keep-alive
	// connections, carries over from one to the next.
	return vegeta.NewAttacker(opts...), vegeta.ConstantPacer{Freq: l.rate, Per: time.Second}
}

// warm sends unmeasured traffic for d and returns how many requests.
func (l load) warm(c *http.Client, d time.Duration) int {
	n := 0
	if d <= 0 {
		return 0
	}
	a, p := l.attacker(c)
	for range a.Attack(vegeta.NewStaticTargeter(l.target), p, d, "warmup") {
		n++
	}
	return n
}

// measure sends traffic for d into acc.
func (l load) measure(c *http.Client, d time.Duration, acc *accumulator) {
	a, p := l.attacker(c)
	start := time.Now()
	for r := range a.Attack(vegeta.NewStaticTargeter(l.target), p, d, "measure") {
		acc.add(r, l.stream)
	}
	acc.wall += time.Since(start)
}

// accumulator folds vegeta results into a sample without keeping them.
type accumulator struct {
	n, ok     int
	wall      time.Duration // of the measured slices
	cpu       time.Duration // used by the server process in them
	lat, ttfb []time.Duration
	failures  map[string]int
}

func (a *accumulator) add(r *vegeta.Result, stream bool) {
	a.n++
	if why := failure(r, stream); why != "" {
		if a.failures == nil {
			a.failures = map[string]int{}
		}
		a.failures[why]++
		return
	}
	a.ok++
	a.lat = append(a.lat, r.Latency)
	if v := r.Headers.Get(firstByteHeader); v != "" {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			a.ttfb = append(a.ttfb, time.Duration(ns))
		}
	}
}

// failure says why a result does not count as a success, or "".
func failure(r *vegeta.Result, stream bool) string {
	switch {
	case r.Error != "" && r.Code == 0:
		return trimError(r.Error)
	case r.Code != http.StatusOK:
		return "HTTP " + strconv.Itoa(int(r.Code))
	case stream && !bytes.HasSuffix(r.Body, []byte("data: [DONE]\n\n")):
		return "stream not finished"
	case stream && bytes.Contains(r.Body, []byte(`"choices":[]`)):
		// The gateway asked for usage on the client's behalf; the extra
		// chunk must not reach a client that did not ask for it.
		return "usage chunk leaked"
	case !stream && !bytes.Contains(r.Body, []byte(`"usage":`)):
		return "no usage in body"
	}
	return ""
}

// trimError keeps an error's last clause: vegeta's errors quote the URL.
func trimError(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func (a *accumulator) sample() sample {
	s := sample{Requests: a.n, OK: a.ok, Failures: a.failures}
	if a.n > 0 {
		s.ServerCPU = a.cpu / time.Duration(a.n)
	}
	if a.wall > 0 {
		s.Rate = float64(a.n) / a.wall.Seconds()
		s.Throughput = float64(a.ok) / a.wall.Seconds()
	}
	slices.Sort(a.lat)
	slices.Sort(a.ttfb)
	s.Latency = summarize(a.lat)
	if len(a.ttfb) > 0 {
		q := summarize(a.ttfb)
		s.FirstByte = &q
	}
	return s
}

func summarize(sorted []time.Duration) quantiles {
	if len(sorted) == 0 {
		return quantiles{}
	}
	return quantiles{P50: percentile(sorted, 50), P99: percentile(sorted, 99), Max: sorted[len(sorted)-1]}
}

// percentile is the nearest-rank percentile of sorted values: the
// smallest value with at least p percent of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// failureSummary prints the most frequent failures first.
func failureSummary(f map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(f), func(a, b string) int {
		if f[a] != f[b] {
			return f[b] - f[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, f[k]))
	}
	return strings.Join(parts, ", ")
}
