package main

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets from the issue ("Speed (benchmark)").
const (
	targetAddedP50   = 100 * time.Microsecond
	targetAddedP99   = time.Millisecond
	targetAddedTTFB  = time.Millisecond
	targetSatRatio   = 0.80
	targetPeakRSSMiB = 150
)

type memory struct {
	PeakBytes int64 `json:"peak_bytes"` // VmHWM
	RSSBytes  int64 `json:"rss_bytes"`  // VmRSS at the end
}

// A check is one "added" row: a measurement against its target. An
// empty Target marks a row shown for context only.
type check struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Target   string `json:"target,omitempty"`
	Pass     bool   `json:"pass"`
}

type report struct {
	Rate       int               `json:"rate"`
	Duration   time.Duration     `json:"duration"`
	Warmup     time.Duration     `json:"warmup"`
	SatWorkers int               `json:"saturation_in_flight"`
	Rounds     int               `json:"rounds"`
	StreamGap  time.Duration     `json:"stream_gap"`
	Machine    string            `json:"machine"`
	LoadBefore string            `json:"loadavg_before"`
	LoadAfter  string            `json:"loadavg_after"`
	Recorder   string            `json:"usage_recorder"`
	Admission  string            `json:"admission"`
	Cells      []cell            `json:"cells"`
	Memory     map[string]memory `json:"memory"`
	// UsageRecords the gateway wrote, by outcome; one per request.
	UsageRecords int64            `json:"usage_records"`
	Outcomes     map[string]int64 `json:"outcomes"`
	// StoreWritten and StoreLost: the store recorder's count of records
	// written to SQLite and dropped.
	StoreWritten uint64  `json:"store_written"`
	StoreLost    uint64  `json:"store_lost"`
	NoUsageStore bool    `json:"no_usage_store,omitempty"`
	Checks       []check `json:"checks"`
}

func numCPU() int       { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }

func (r *report) cell(traffic, path string) *cell {
	for i := range r.Cells {
		if r.Cells[i].Traffic == traffic && r.Cells[i].Path == path {
			return &r.Cells[i]
		}
	}
	return nil
}

// Passed reports whether every check with a target passed.
func (r *report) Passed() bool {
	for _, c := range r.Checks {
		if c.Target != "" && !c.Pass {
			return false
		}
	}
	return len(r.Checks) > 0
}

// evaluate computes the "added" rows (gateway minus bare ReverseProxy)
// and the other checks from the cells.
func (r *report) evaluate() {
	r.Checks = nil
	add := func(name, measured, target string, pass bool) {
		r.Checks = append(r.Checks, check{Name: name, Measured: measured, Target: target, Pass: pass})
	}
	rate := fmt.Sprintf("%d rps", r.Rate)
	jd, jb, jg := r.cell(trafficJSON, pathDirect), r.cell(trafficJSON, pathBare), r.cell(trafficJSON, pathGateway)
	if jd != nil && jb != nil {
		add("bare ReverseProxy − direct, p50, JSON @ "+rate, fmtDur(jb.Latency.P50-jd.Latency.P50), "", true)
		add("bare ReverseProxy − direct, p99, JSON @ "+rate, fmtDur(jb.Latency.P99-jd.Latency.P99), "", true)
	}
	if jb != nil && jg != nil {
		d := jg.Latency.P50 - jb.Latency.P50
		add("added p50 (gateway − bare), JSON @ "+rate, fmtDur(d), "< "+fmtDur(targetAddedP50), d < targetAddedP50)
		d = jg.Latency.P99 - jb.Latency.P99
		add("added p99 (gateway − bare), JSON @ "+rate, fmtDur(d), "< "+fmtDur(targetAddedP99), d < targetAddedP99)
	}
	sb, sg := r.cell(trafficStream, pathBare), r.cell(trafficStream, pathGateway)
	if sb != nil && sg != nil && sb.FirstByte != nil && sg.FirstByte != nil {
		d := sg.FirstByte.P50 - sb.FirstByte.P50
		add("added time to first byte p50, stream @ "+rate, fmtDur(d), "< "+fmtDur(targetAddedTTFB), d < targetAddedTTFB)
		d = sg.FirstByte.P99 - sb.FirstByte.P99
		add("added time to first byte p99, stream @ "+rate, fmtDur(d), "< "+fmtDur(targetAddedTTFB), d < targetAddedTTFB)
	}
	if jb != nil && jg != nil {
		add("gateway − bare, server CPU per request, JSON @ "+rate, fmtDur(jg.ServerCPU-jb.ServerCPU), "", true)
	}
	if sb != nil && sg != nil {
		add("gateway − bare, server CPU per request, stream @ "+rate, fmtDur(sg.ServerCPU-sb.ServerCPU), "", true)
	}
	xb, xg := r.cell(trafficSat, pathBare), r.cell(trafficSat, pathGateway)
	if xb != nil && xg != nil && xb.Throughput > 0 {
		ratio := xg.Throughput / xb.Throughput
		add("saturation throughput, gateway / bare", fmt.Sprintf("%.0f%% (%.0f / %.0f rps)", 100*ratio, xg.Throughput, xb.Throughput),
			fmt.Sprintf("≥ %.0f%%", 100*targetSatRatio), ratio >= targetSatRatio)
	}
	if m, ok := r.Memory[roleGateway]; ok {
		mib := float64(m.PeakBytes) / (1 << 20)
		add("gateway peak RSS (VmHWM, whole run)", fmt.Sprintf("%.0f MiB", mib), fmt.Sprintf("< %d MiB", targetPeakRSSMiB), mib < targetPeakRSSMiB)
	}
	worst, failed := 1.0, 0
	for _, c := range r.Cells {
		worst = min(worst, c.SuccessRate())
		failed += c.Requests - c.OK
	}
	add("success (200 with a whole body), worst cell", fmt.Sprintf("%.2f%% (%d failed)", 100*worst, failed), "100%", failed == 0)
	var sent int64
	for _, c := range r.Cells {
		if c.Path == pathGateway {
			sent += int64(c.Requests + c.Warmup)
		}
	}
	ok := r.Outcomes["ok"]
	add("gateway requests metered (usage records with outcome ok / sent)", fmt.Sprintf("%d / %d", ok, sent), "all", ok == sent && r.UsageRecords == sent)
	if r.NoUsageStore {
		add("usage records in the SQLite store", "store recorder left out (-no-usage-store)", "", true)
	} else {
		add("usage records in the SQLite store (written / sent, lost)", fmt.Sprintf("%d / %d, %d lost", r.StoreWritten, sent, r.StoreLost),
			"all, 0 lost", r.StoreWritten == uint64(sent) && r.StoreLost == 0)
	}
}

func (r *report) write(w io.Writer, format string) error {
	if format == "json" {
		return encodeJSON(w, r)
	}
	_, err := io.WriteString(w, r.markdown())
	return err
}

// markdown renders the report as the README shows it.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Constant rate %d rps for %s per cell (in %d interleaved slices) after a %s warm-up on the same keep-alive connections; "+
		"saturation keeps %d requests in flight. Upstream stream events are %s apart after the first.\n\n",
		r.Rate, r.Duration, r.Rounds, r.Warmup, r.SatWorkers, r.StreamGap)
	b.WriteString("| traffic | path | requests | success | sent/s | ok/s | p50 | p99 | max | TTFB p50 | TTFB p99 | server CPU/req |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Cells {
		traffic := c.Traffic
		if c.Traffic == trafficSat {
			traffic = fmt.Sprintf("%s (%d in flight)", c.Traffic, r.SatWorkers)
		}
		ttfb50, ttfb99 := "–", "–"
		if c.Traffic == trafficStream && c.FirstByte != nil {
			ttfb50, ttfb99 = fmtDur(c.FirstByte.P50), fmtDur(c.FirstByte.P99)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f%% | %.0f | %.0f | %s | %s | %s | %s | %s | %s |\n", traffic, c.Path, c.Requests,
			100*c.SuccessRate(), c.Rate, c.Throughput, fmtDur(c.Latency.P50), fmtDur(c.Latency.P99), fmtDur(c.Latency.Max), ttfb50, ttfb99, fmtDur(c.ServerCPU))
	}
	b.WriteString("\n| check | measured | target | result |\n|---|---:|---:|---|\n")
	for _, c := range r.Checks {
		target, result := "–", "context"
		if c.Target != "" {
			target, result = c.Target, "FAIL"
			if c.Pass {
				result = "PASS"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Measured, target, result)
	}
	b.WriteString("\n")
	if len(r.Memory) > 0 {
		fmt.Fprintf(&b, "Peak RSS (VmHWM): gateway %s, bare ReverseProxy %s, upstream %s.\n",
			mib(r.Memory[roleGateway].PeakBytes), mib(r.Memory[roleBare].PeakBytes), mib(r.Memory[roleUpstream].PeakBytes))
	}
	fmt.Fprintf(&b, "Gateway usage records: %d (%s), %d written to its SQLite store. Usage recorders: %s. Admission: %s.\n",
		r.UsageRecords, outcomes(r.Outcomes), r.StoreWritten, r.Recorder, r.Admission)
	for _, c := range r.Cells {
		if len(c.Failures) > 0 {
			fmt.Fprintf(&b, "Failures, %s via %s: %s.\n", c.Traffic, c.Path, failureSummary(c.Failures))
		}
	}
	fmt.Fprintf(&b, "Machine: %s; the load generator, the upstream, the bare proxy and the gateway share its cores. "+
		"Load average before the run %s, after %s.\n", r.Machine, r.LoadBefore, r.LoadAfter)
	return b.String()
}

func outcomes(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// fmtDur prints a latency at the precision that matters: whole
// microseconds below a millisecond, hundredths of a millisecond above.
func fmtDur(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%s%d µs", sign, d.Round(time.Microsecond)/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%s%.2f ms", sign, float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%s%.2f s", sign, d.Seconds())
}
