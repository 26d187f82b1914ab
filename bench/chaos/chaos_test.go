//go:build chaos

package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChaosShort runs every scenario in a short form (60 req/s, faults of
// 4 s, PostgreSQL black-holed 10 s, its restart emulated in the fault
// proxies) and fails on any broken invariant. .ci/run runs it:
//
//	go test -tags chaos -run Chaos ./bench/chaos
func TestChaosShort(t *testing.T) {
	if os.Getenv("AICRED_TEST_POSTGRES") == "" {
		t.Skip("AICRED_TEST_POSTGRES not set")
	}
	o := defaultOptions()
	o.short = true
	o.rate = 60
	o.faultLen = 4 * time.Second
	o.blackLen = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	var progress strings.Builder
	rows, err := runAll(ctx, o, &progress)
	t.Log(progress.String())
	var table strings.Builder
	if werr := writeTable(&table, o, rows, "md"); werr != nil {
		t.Fatal(werr)
	}
	t.Logf("%v\n%s", time.Since(start).Round(time.Second), table.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(scenarios(o)) {
		t.Fatalf("%d scenarios ran, want %d", len(rows), len(scenarios(o)))
	}
	for _, r := range rows {
		for _, v := range r.Violations {
			t.Errorf("%s: %s", r.Scenario, v)
		}
		if r.Served == 0 {
			t.Errorf("%s: nothing served", r.Scenario)
		}
	}
}
