// Command chaos runs aicred serve as several replicas on one PostgreSQL,
// under constant load, and injects faults one at a time and then in
// combination: kill -9 of a replica and its restart, a PostgreSQL
// restart, PostgreSQL black-holed (connections accepted, bytes dropped),
// 100 ms of added latency, and a revocation issued during each fault.
// After each scenario it checks aicred's promises (budgets, revocation,
// fail-closed, usage records, the audit chain) and prints a table.
//
// Each replica is the aicred binary (built from ./cmd/aicred) running
// `aicred serve` in its own process, so kill -9 is real; a TCP fault
// proxy (in this process) sits between each replica and PostgreSQL, and
// a round-robin load balancer (in this process) in front.
//
//	go run ./bench/chaos                      # every scenario, 100 req/s
//	go run ./bench/chaos -pg-restart          # restart the real PostgreSQL too (disruptive)
//	go run ./bench/chaos -soak 10m -rate 300  # the soak: memory, goroutines, p99, pruning
//
// PostgreSQL is AICRED_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each run
// creates a database of its own and drops it at the end.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := defaultOptions()
	flag.IntVar(&o.replicas, "replicas", o.replicas, "aicred serve replicas")
	flag.IntVar(&o.rate, "rate", o.rate, "requests per second through the load balancer")
	flag.BoolVar(&o.pgRestart, "pg-restart", false, "restart the real PostgreSQL with pg_ctlcluster (disrupts every other client of it); default: emulate it in the fault proxies")
	flag.DurationVar(&o.soak, "soak", 0, "run the soak for this long instead of the fault scenarios")
	flag.DurationVar(&o.faultLen, "fault", o.faultLen, "length of the kill, restart and latency faults")
	flag.DurationVar(&o.blackLen, "blackhole", o.blackLen, "how long PostgreSQL is black-holed")
	flag.StringVar(&o.scenarios, "scenarios", "", "comma-separated parts of scenario names to run (default all)")
	flag.StringVar(&o.aicredBin, "aicred", "", "the aicred binary (default: built from ./cmd/aicred)")
	flag.StringVar(&o.logDir, "logs", "", "keep the replicas' logs in this directory")
	format := flag.String("format", "md", "md or json")
	flag.Parse()
	var err error
	if o.soak > 0 {
		var rep *soakReport
		if rep, err = runSoak(ctx, o, os.Stderr); err == nil {
			err = rep.write(os.Stdout, *format)
			if err == nil && len(rep.Violations) > 0 {
				err = fmt.Errorf("%d soak checks failed", len(rep.Violations))
			}
		}
	} else {
		var rows []row
		if rows, err = runAll(ctx, o, os.Stderr); err == nil || len(rows) > 0 {
			if werr := writeTable(os.Stdout, o, rows, *format); werr != nil && err == nil {
				err = werr
			}
			if n := countViolations(rows); n > 0 && err == nil {
				err = fmt.Errorf("%d invariants broken", n)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/chaos:", err)
		os.Exit(1)
	}
}

func defaultOptions() options {
	dsn := os.Getenv("AICRED_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	return options{replicas: 3, rate: 100, baseDSN: dsn, faultLen: 6 * time.Second, blackLen: 10 * time.Second}
}

func countViolations(rows []row) int {
	n := 0
	for _, r := range rows {
		n += len(r.Violations)
	}
	return n
}

// runAll starts the cluster and runs the scenarios in order.
func runAll(ctx context.Context, o options, progress io.Writer) ([]row, error) {
	c, err := startCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	fmt.Fprintf(progress, "chaos: %d replicas ready on database %s, %d req/s\n", len(c.reps), c.dbName, o.rate)
	var rows []row
	for _, f := range scenarios(o) {
		if !selected(o.scenarios, f.name) {
			continue
		}
		r, err := runScenario(ctx, c, f, o, progress)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", f.name, err)
		}
		rows = append(rows, r)
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
	}
	return rows, nil
}

func selected(list, name string) bool {
	if list == "" {
		return true
	}
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" && strings.Contains(strings.ToLower(name), strings.ToLower(p)) {
			return true
		}
	}
	return false
}

func ms(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func writeTable(w io.Writer, o options, rows []row, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"replicas": o.replicas, "rate": o.rate, "scenarios": rows})
	}
	fmt.Fprintf(w, "%d replicas, %d req/s through the balancer (%d%% streams), faults of %v, black-hole %v\n\n",
		o.replicas, o.rate, 40, o.faultLen, o.blackLen)
	fmt.Fprintln(w, "| scenario | served | refused | failed | errors during / after | p50 / p99 during | p99 after | recovered | max overspend (bound) | revoked token last accepted (bound) | usage sent / recorded / lost (bound) | audit verify | invariants |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		inv := "hold"
		if len(r.Violations) > 0 {
			inv = "BROKEN: " + strings.Join(r.Violations, "; ")
		}
		audit := "ok"
		if !r.AuditOK {
			audit = "FAILED"
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f%% / %.1f%% | %s / %s | %s | %s | $%.6f ($%.6f) | %s (%s) | %d / %d / %d (%d) | %s | %s |\n",
			r.Scenario, r.Served, r.Refused, r.Failed, 100*r.ErrDuring, 100*r.ErrAfter, ms(r.P50During), ms(r.P99During), ms(r.P99After),
			ms(r.Recovery), max(r.Overspend, 0), r.OverspendBound, ms(r.RevokedLast), ms(r.RevokedBound),
			r.UsageSent, r.UsageRecorded, r.UsageLost, r.UsageLostBound, audit, inv)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Budgets: $%g per token (role %s), $%g per workload and day (role %s), $%g per token (role %s, whose calls cost exactly their reservation, $%.6f); the bound is the dearest request's cost ($%.6f) per replica.\n\n",
		tightTokenUSD, roleTight, dailyUSD, roleDaily, edgeTokenUSD, roleEdge, edgeCallUSD(newUpstream("").price), maxRequestCost())
	for _, r := range rows {
		fmt.Fprintf(w, "- %s: most spent by one token $%.6f, by one workload's day $%.6f, by one edge token $%.6f; revocation feed age peaked at %.1f s, /readyz failed %d times; %s",
			r.Scenario, r.MaxTokenSpend, r.MaxDailySpend, r.MaxEdgeSpend, r.MaxFeedAge, r.NotReady, r.AuditNote)
		if len(r.Events) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(r.Events, "; "))
		}
		if r.Failures != "" {
			fmt.Fprintf(w, "; failures: %s", r.Failures)
		}
		fmt.Fprintln(w)
	}
	return nil
}
