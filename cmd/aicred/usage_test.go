package main

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/sqlite"
)

// recordTestUsage writes usage records through the store, as the
// gateway's StoreRecorder does.
func recordTestUsage(t *testing.T, path string, now time.Time) []aicred.UsageRecord {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := func(ago time.Duration, workload, role, model string, cost float64, outcome string) aicred.UsageRecord {
		return aicred.UsageRecord{Time: now.Add(-ago), TokenID: "tok_" + role, Workload: workload, Role: role,
			Provider: "openai", Model: model, Usage: aicred.Usage{InputTokens: 1000, CachedTokens: 100, OutputTokens: 250},
			CostUSD: cost, Estimated: outcome == aicred.OutcomeNoUsage, Status: 200, Outcome: outcome}
	}
	recs := []aicred.UsageRecord{
		rec(time.Hour, "gh repo:acme/train", "trainer", "gpt-4o", 0.50, aicred.OutcomeOK),
		rec(2*time.Hour, "gh repo:acme/train", "trainer", "gpt-4o", 0.25, aicred.OutcomeNoUsage),
		rec(3*time.Hour, "gh repo:acme/train", "trainer", "gpt-4o-mini", 0.01, aicred.OutcomeOK),
		rec(4*time.Hour, "k8s ns/bot", "chat-bot", "gpt-4o-mini", 0.02, aicred.OutcomeUpstreamError),
		rec(10*24*time.Hour, "k8s ns/bot", "chat-bot", "gpt-4o-mini", 9.00, aicred.OutcomeOK), // outside --since 7d
	}
	if err := st.RecordUsage(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestUsageCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", path)
	recordTestUsage(t, path, time.Now())

	type out struct {
		By     []string              `json:"by"`
		Groups []aicred.UsageSummary `json:"groups"`
		Total  aicred.UsageSummary   `json:"total"`
	}
	jsonOf := func(args ...string) out {
		t.Helper()
		r := runCLI(t, "", append([]string{"usage", "--format", "json"}, args...)...)
		if r.code != exitOK {
			t.Fatalf("usage %v: exit %d: %s", args, r.code, r.stderr)
		}
		var o out
		if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		return o
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

	tests := []struct {
		name     string
		args     []string
		groups   int
		requests int64
		cost     float64
		check    func(t *testing.T, o out)
	}{
		{"everything by model", []string{"--by", "model"}, 2, 5, 9.78, func(t *testing.T, o out) {
			if o.Groups[0].Model != "gpt-4o" || o.Groups[0].Requests != 2 || !near(o.Groups[0].EstimatedUSD, 0.25) {
				t.Fatalf("first group %+v", o.Groups[0])
			}
		}},
		{"last week by workload and role", []string{"--since", "7d", "--by", "workload,role"}, 2, 4, 0.78, func(t *testing.T, o out) {
			if o.Groups[1].Workload != "k8s ns/bot" || o.Groups[1].Role != "chat-bot" || o.Groups[1].Errors != 1 {
				t.Fatalf("second group %+v", o.Groups[1])
			}
		}},
		{"one workload by day", []string{"--since", "7d", "--workload", "gh repo:acme/train", "--by", "day"}, 0, 3, 0.76, nil},
		{"one model, one total", []string{"--model", "gpt-4o-mini", "--by", ""}, 1, 3, 9.03, nil},
		{"role and provider filters", []string{"--role", "trainer", "--provider", "openai", "--until", time.Now().Add(-90 * time.Minute).Format(time.RFC3339)}, 2, 2, 0.26, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := jsonOf(tc.args...)
			if tc.groups > 0 && len(o.Groups) != tc.groups {
				t.Fatalf("%d groups, want %d: %+v", len(o.Groups), tc.groups, o.Groups)
			}
			if o.Total.Requests != tc.requests || !near(o.Total.CostUSD, tc.cost) || o.Total.InputTokens != 1000*tc.requests {
				t.Fatalf("total %+v, want %d requests costing %v", o.Total, tc.requests, tc.cost)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}

	r := runCLI(t, "", "usage", "--since", "7d", "--by", "model")
	if r.code != exitOK {
		t.Fatalf("text: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header, two models and a total:\n%s", r.stdout)
	}
	for i, want := range [][]string{
		{"MODEL", "REQUESTS", "COST USD", "ERRORS"},
		{"gpt-4o", "2", "0.7500", "0.2500"},
		{"gpt-4o-mini", "2", "0.0300", "1"},
		{"TOTAL", "4", "0.7800", "0.2500", "1"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Fatalf("line %d %q lacks %q:\n%s", i, lines[i], w, r.stdout)
			}
		}
	}

	for _, bad := range [][]string{
		{"--by", "token"},
		{"--by", "model,model"},
		{"--since", "yesterday"},
		{"--since", "-3d"},
		{"--since", "1d", "--until", "2d"},
		{"--format", "csv"},
	} {
		if r := runCLI(t, "", append([]string{"usage"}, bad...)...); r.code != exitError || r.stderr == "" {
			t.Fatalf("usage %v: exit %d, stderr %q", bad, r.code, r.stderr)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"7d", now.AddDate(0, 0, -7), false},
		{"0d", now, false},
		{"36h", now.Add(-36 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-05-01T10:00:00+02:00", time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), false},
		{"d", time.Time{}, true},
		{"1.5d", time.Time{}, true},
		{"-1h", time.Time{}, true},
		{"1d12h", time.Time{}, true},
		{"tomorrow", time.Time{}, true},
	}
	for _, tc := range tests {
		got, err := parseWhen(tc.in, now)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("%q: %v, %v; want %v (bad %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"7d", "36h", "2026-05-01", "2026-05-01T10:00:00Z", "", "1d12h", "99999999999d"} {
		f.Add(s)
	}
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now)
		if err != nil {
			return
		}
		// Durations and days only ever reach back.
		if strings.HasSuffix(strings.TrimSpace(s), "d") && got.After(now) {
			t.Fatalf("%q: %v is after now", s, got)
		}
	})
}
