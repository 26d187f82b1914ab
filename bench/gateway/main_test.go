package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestMain lets the test binary serve as the harness's children, as the
// harness binary does.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		if err := runChild(context.Background(), os.Stdin, os.Stdout); err != nil {
			slog.Error("bench child failed", "err", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness briefly at a low rate: every request
// on every path must succeed and every gateway request must be metered.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three child processes")
	}
	o := options{rate: 100, duration: 200 * time.Millisecond, warmup: 50 * time.Millisecond, satWorkers: 4,
		rounds: 2, streamGap: 0, format: "md"}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := run(ctx, o, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Cells), 8; got != want {
		t.Fatalf("cells: got %d, want %d", got, want)
	}
	for _, c := range rep.Cells {
		if c.Requests == 0 || c.OK != c.Requests {
			t.Errorf("%s via %s: %d of %d ok (%s)", c.Traffic, c.Path, c.OK, c.Requests, failureSummary(c.Failures))
		}
		if c.Traffic == trafficStream && c.FirstByte == nil {
			t.Errorf("%s via %s: no time to first byte", c.Traffic, c.Path)
		}
	}
	for _, name := range []string{"success (200 with a whole body), worst cell", "gateway requests metered (usage records with outcome ok / sent)",
		"usage records in the SQLite store (written / sent, lost)"} {
		found := false
		for _, c := range rep.Checks {
			if c.Name == name {
				found = true
				if !c.Pass {
					t.Errorf("check %q failed: %s", name, c.Measured)
				}
			}
		}
		if !found {
			t.Errorf("check %q missing", name)
		}
	}
	if rep.Memory[roleGateway].PeakBytes <= 0 {
		t.Errorf("gateway peak RSS not read: %+v", rep.Memory)
	}
	// A report saved as JSON renders the same table again.
	saved := t.TempDir() + "/report.json"
	var js strings.Builder
	if err := rep.write(&js, "json"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saved, []byte(js.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var again strings.Builder
	if err := renderSaved(saved, "md", &again); err != nil {
		t.Fatal(err)
	}
	md := rep.markdown()
	if again.String() != md {
		t.Errorf("rendered from JSON:\n%s\nwant:\n%s", again.String(), md)
	}
	for _, want := range []string{"| chat, stream | gateway |", "added p50 (gateway − bare)", "Peak RSS (VmHWM): gateway"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 100 is the 50th", ms(hundred...), 50, 50 * time.Millisecond},
		{"p100 is the max", ms(1, 5, 9), 100, 9 * time.Millisecond},
		{"p0 is the min", ms(1, 5, 9), 0, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestFmtDur(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 µs"},
		{42 * time.Microsecond, "42 µs"},
		{-42 * time.Microsecond, "-42 µs"},
		{999_400 * time.Nanosecond, "999 µs"},
		{3512 * time.Microsecond, "3.51 ms"},
		{1500 * time.Millisecond, "1.50 s"},
	} {
		if got := fmtDur(tc.d); got != tc.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (gwbench) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 37 0 0 20 0 9 0 7000 1000000 5000", 1870 * time.Millisecond, true},
		{"name with spaces and parens", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1", 70 * time.Millisecond, true},
		{"truncated", "7 (x) R 1 7", 0, false},
		{"no name", "garbage", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseStatCPU(tc.stat)
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseStatCPU = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tgateway\nVmPeak:\t  812344 kB\nVmHWM:\t   41236 kB\nVmRSS:\t   39000 kB\n"
	for _, tc := range []struct {
		field string
		want  int64
	}{{"VmHWM", 41236}, {"VmRSS", 39000}, {"VmSwap", 0}} {
		if got := parseStatusKB(status, tc.field); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.field, got, tc.want)
		}
	}
}

// TestEvaluate checks the "added" arithmetic and the verdicts against
// the targets on made-up cells.
func TestEvaluate(t *testing.T) {
	q := func(p50, p99 time.Duration) quantiles { return quantiles{P50: p50, P99: p99, Max: p99} }
	us := time.Microsecond
	okCell := func(traffic, path string, lat quantiles, ttfb *quantiles, tput float64) cell {
		return cell{Traffic: traffic, Path: path, Warmup: 10, sample: sample{Requests: 100, OK: 100, Latency: lat, FirstByte: ttfb, Throughput: tput}}
	}
	ttfb := func(p50, p99 time.Duration) *quantiles { v := q(p50, p99); return &v }
	base := func() *report {
		return &report{Rate: 2000, Memory: map[string]memory{roleGateway: {PeakBytes: 60 << 20}},
			UsageRecords: 330, Outcomes: map[string]int64{"ok": 330}, StoreWritten: 330,
			Cells: []cell{
				okCell(trafficJSON, pathDirect, q(200*us, 2000*us), nil, 2000),
				okCell(trafficJSON, pathBare, q(320*us, 5000*us), nil, 2000),
				okCell(trafficJSON, pathGateway, q(380*us, 5600*us), nil, 2000),
				okCell(trafficStream, pathBare, q(5000*us, 9000*us), ttfb(400*us, 4000*us), 2000),
				okCell(trafficStream, pathGateway, q(5100*us, 9500*us), ttfb(450*us, 4500*us), 2000),
				okCell(trafficSat, pathGateway, q(5000*us, 20000*us), nil, 4500),
				okCell(trafficSat, pathBare, q(4000*us, 18000*us), nil, 5000),
			}}
	}
	verdicts := func(r *report) map[string]bool {
		r.evaluate()
		m := map[string]bool{}
		for _, c := range r.Checks {
			if c.Target != "" {
				m[c.Name] = c.Pass
			}
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		mod      func(r *report)
		failing  string // the one check expected to fail; "" for none
		measured string // its measured text, when failing is set
	}{
		{"all pass", func(*report) {}, "", ""},
		{"p50 over", func(r *report) { r.Cells[2].Latency.P50 = 430 * us }, "added p50 (gateway − bare), JSON @ 2000 rps", "110 µs"},
		{"p99 over", func(r *report) { r.Cells[2].Latency.P99 = 6100 * us }, "added p99 (gateway − bare), JSON @ 2000 rps", "1.10 ms"},
		{"ttfb over", func(r *report) { r.Cells[4].FirstByte.P99 = 5200 * us }, "added time to first byte p99, stream @ 2000 rps", "1.20 ms"},
		{"saturation under", func(r *report) { r.Cells[5].Throughput = 3900 }, "saturation throughput, gateway / bare", "78% (3900 / 5000 rps)"},
		{"rss over", func(r *report) { r.Memory[roleGateway] = memory{PeakBytes: 151 << 20} }, "gateway peak RSS (VmHWM, whole run)", "151 MiB"},
		{"a failure", func(r *report) { r.Cells[0].OK = 99 }, "success (200 with a whole body), worst cell", "99.00% (1 failed)"},
		{"unmetered", func(r *report) { r.Outcomes["ok"] = 329 }, "gateway requests metered (usage records with outcome ok / sent)", "329 / 330"},
		{"store lost one", func(r *report) { r.StoreWritten, r.StoreLost = 329, 1 }, "usage records in the SQLite store (written / sent, lost)", "329 / 330, 1 lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mod(r)
			v := verdicts(r)
			if len(v) != 9 {
				t.Fatalf("got %d checks with targets, want 9: %+v", len(v), r.Checks)
			}
			for name, pass := range v {
				if want := name != tc.failing; pass != want {
					t.Errorf("%s: pass=%v, want %v", name, pass, want)
				}
			}
			if tc.failing != "" {
				for _, c := range r.Checks {
					if c.Name == tc.failing && c.Measured != tc.measured {
						t.Errorf("%s measured %q, want %q", c.Name, c.Measured, tc.measured)
					}
				}
			}
			if r.Passed() != (tc.failing == "") {
				t.Errorf("Passed() = %v", r.Passed())
			}
		})
	}
}

// TestEvaluateWithoutUsageStore: with the store recorder left out, its
// row is context, not a failure.
func TestEvaluateWithoutUsageStore(t *testing.T) {
	r := &report{Rate: 2000, NoUsageStore: true, Memory: map[string]memory{roleGateway: {PeakBytes: 30 << 20}},
		UsageRecords: 110, Outcomes: map[string]int64{"ok": 110},
		Cells: []cell{{Traffic: trafficJSON, Path: pathGateway, Warmup: 10, sample: sample{Requests: 100, OK: 100}}}}
	r.evaluate()
	if !r.Passed() {
		t.Fatalf("want pass: %+v", r.Checks)
	}
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, "usage records in the SQLite store") && c.Target != "" {
			t.Errorf("store row has a target: %+v", c)
		}
	}
}

// TestFailure classifies results the way the success column counts them.
func TestFailure(t *testing.T) {
	done := []byte("data: {\"choices\":[{}]}\n\ndata: [DONE]\n\n")
	for _, tc := range []struct {
		name   string
		r      vegeta.Result
		stream bool
		want   string
	}{
		{"json ok", vegeta.Result{Code: 200, Body: []byte(`{"usage":{}}`)}, false, ""},
		{"json without usage", vegeta.Result{Code: 200, Body: []byte(`{}`)}, false, "no usage in body"},
		{"status", vegeta.Result{Code: 502, Error: "502 Bad Gateway"}, false, "HTTP 502"},
		{"transport", vegeta.Result{Error: `Post "http://127.0.0.1:1/v1/chat/completions": unexpected EOF`}, false, "unexpected EOF"},
		{"stream ok", vegeta.Result{Code: 200, Body: done}, true, ""},
		{"stream cut", vegeta.Result{Code: 200, Body: done[:20]}, true, "stream not finished"},
		{"usage chunk leaked", vegeta.Result{Code: 200, Body: append([]byte(`data: {"choices":[],"usage":{}}`+"\n\n"), done...)}, true, "usage chunk leaked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure(&tc.r, tc.stream); got != tc.want {
				t.Errorf("failure = %q, want %q", got, tc.want)
			}
		})
	}
}
