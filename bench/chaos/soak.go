package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// soakSample is one window of the soak.
type soakSample struct {
	At         time.Duration `json:"at"`
	Requests   int           `json:"requests"`
	ErrRate    float64       `json:"error_rate"`
	P50        time.Duration `json:"p50"`
	P99        time.Duration `json:"p99"`
	Goroutines float64       `json:"goroutines"` // summed over replicas
	// Conns are the client connections open on the replicas (summed):
	// each holds a server goroutine, kept alive for idle_timeout after a
	// burst of load opened it.
	Conns   float64 `json:"connections"`
	RSS     float64 `json:"rss_bytes"` // summed over replicas
	Grants  int64   `json:"grants"`
	Expired int64   `json:"grants_expired"`
	// Stale counts grants expired longer ago than the soak's retention
	// (1m) plus its prune interval (30s) plus 30s: pruning missed them.
	Stale     int64 `json:"grants_stale"`
	UsageRows int64 `json:"usage_rows"`
	DBBytes   int64 `json:"db_bytes"`
}

type soakReport struct {
	Replicas       int          `json:"replicas"`
	Rate           int          `json:"rate"`
	Duration       string       `json:"duration"`
	Samples        []soakSample `json:"samples"`
	RSSGrowth      float64      `json:"rss_growth"`
	GorGrowth      float64      `json:"goroutine_growth"`
	BytesPerRecord float64      `json:"db_bytes_per_usage_record"`
	Violations     []string     `json:"violations,omitempty"`
}

// runSoak runs constant load for o.soak and samples the replicas and the
// store every window.
func runSoak(ctx context.Context, o options, progress io.Writer) (*soakReport, error) {
	o.soakMode = true
	c, err := startCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	fmt.Fprintf(progress, "chaos soak: %d replicas on %s, %d req/s for %v\n", len(c.reps), c.dbName, o.rate, o.soak)
	res := &results{}
	l := newLoader(c, res)
	l.newSessions("soak")
	loadCtx, stopLoad := context.WithTimeout(ctx, o.soak)
	defer stopLoad()
	done := make(chan struct{})
	go func() { l.run(loadCtx, o.rate); close(done) }()
	window := max(o.soak/20, 5*time.Second)
	start := time.Now()
	rep := &soakReport{Replicas: o.replicas, Rate: o.rate, Duration: o.soak.String()}
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(window)
	defer tick.Stop()
	from := start
	for loadCtx.Err() == nil {
		select {
		case <-loadCtx.Done():
		case <-tick.C:
		}
		now := time.Now()
		rs := res.between(from, now)
		s := soakSample{At: now.Sub(start).Round(time.Second), Requests: len(rs), ErrRate: errRate(rs), P50: pct(rs, 50), P99: pct(rs, 99)}
		from = now
		for _, r := range c.reps {
			m, err := metricsOf(client, r.url())
			if err != nil {
				continue
			}
			s.Goroutines += m["go_goroutines"]
			s.Conns += m[`aicred_http_connections{state="active"}`] + m[`aicred_http_connections{state="idle"}`]
			s.RSS += m["process_resident_memory_bytes"]
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = c.db.QueryRow(qctx, `SELECT count(*), count(*) FILTER (WHERE expires_at < now()),
			count(*) FILTER (WHERE expires_at < now() - interval '2 minutes') FROM grants`).Scan(&s.Grants, &s.Expired, &s.Stale)
		_ = c.db.QueryRow(qctx, `SELECT count(*) FROM usage_records`).Scan(&s.UsageRows)
		_ = c.db.QueryRow(qctx, `SELECT pg_database_size(current_database())`).Scan(&s.DBBytes)
		cancel()
		rep.Samples = append(rep.Samples, s)
		fmt.Fprintf(progress, "soak %v (%s): %d req, p99 %v, goroutines %.0f, connections %.0f, RSS %.0f MB, grants %d (expired %d), usage %d, db %d MB\n",
			s.At, now.UTC().Format("15:04:05"), s.Requests, s.P99.Round(time.Millisecond), s.Goroutines, s.Conns, s.RSS/1e6, s.Grants, s.Expired, s.UsageRows, s.DBBytes>>20)
	}
	<-done
	rep.check()
	return rep, nil
}

// check: growth after warm-up (the first fifth) under 10 %, expired
// grants pruned, p99 stable.
func (r *soakReport) check() {
	n := len(r.Samples)
	if n < 5 {
		r.Violations = append(r.Violations, "too few samples")
		return
	}
	warm := r.Samples[n/5]
	last := r.Samples[n-1]
	peak := func(f func(soakSample) float64) float64 {
		m := 0.0
		for _, s := range r.Samples[n-n/5:] {
			m = max(m, f(s))
		}
		return m
	}
	r.RSSGrowth = peak(func(s soakSample) float64 { return s.RSS })/warm.RSS - 1
	// Goroutines follow the connections open (one each, for idle_timeout
	// after the burst that opened it) and the requests in flight: what
	// could leak is the rest, goroutines beyond one per open connection.
	// The median of the last fifth against the median of the fifth after
	// warm-up.
	median := func(ss []soakSample) float64 {
		v := make([]float64, 0, len(ss))
		for _, s := range ss {
			v = append(v, s.Goroutines-s.Conns)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	r.GorGrowth = median(r.Samples[n-n/5:])/median(r.Samples[n/5:2*n/5]) - 1
	if r.RSSGrowth > 0.10 {
		r.Violations = append(r.Violations, fmt.Sprintf("RSS grew %.1f%% after warm-up", 100*r.RSSGrowth))
	}
	if r.GorGrowth > 0.10 {
		r.Violations = append(r.Violations, fmt.Sprintf("goroutines beyond one per connection grew %.1f%% after warm-up", 100*r.GorGrowth))
	}
	for _, s := range r.Samples[n/5:] {
		if s.Stale > 0 {
			r.Violations = append(r.Violations, fmt.Sprintf("at %v, %d grants expired more than 2 minutes ago were not pruned", s.At, s.Stale))
			break
		}
	}
	var p99s []time.Duration
	for _, s := range r.Samples[n/5:] {
		p99s = append(p99s, s.P99)
	}
	if lo, hi := minMax(p99s); hi > 3*lo && hi > 100*time.Millisecond {
		r.Violations = append(r.Violations, fmt.Sprintf("p99 unstable after warm-up: %v to %v", lo, hi))
	}
	if d := last.UsageRows - warm.UsageRows; d > 0 {
		r.BytesPerRecord = float64(last.DBBytes-warm.DBBytes) / float64(d)
	}
}

func minMax(ds []time.Duration) (time.Duration, time.Duration) {
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

func (r *soakReport) write(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "Soak: %d replicas, %d req/s for %s\n\n", r.Replicas, r.Rate, r.Duration)
	fmt.Fprintln(w, "| at | requests | errors | p50 | p99 | goroutines (sum) | connections (sum) | RSS (sum) | grants (expired, unpruned) | usage rows | database |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "| %v | %d | %.2f%% | %s | %s | %.0f | %.0f | %.1f MB | %d (%d, %d) | %d | %.1f MB |\n", s.At, s.Requests, 100*s.ErrRate,
			ms(s.P50), ms(s.P99), s.Goroutines, s.Conns, s.RSS/1e6, s.Grants, s.Expired, s.Stale, s.UsageRows, float64(s.DBBytes)/1e6)
	}
	fmt.Fprintf(w, "\nAfter warm-up (the first fifth): RSS %+.1f%%, goroutines beyond one per connection %+.1f%%; database growth %.0f bytes per usage record.\n",
		100*r.RSSGrowth, 100*r.GorGrowth, r.BytesPerRecord)
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "Every soak check holds.")
	}
	for _, v := range r.Violations {
		fmt.Fprintln(w, "BROKEN:", v)
	}
	return nil
}
