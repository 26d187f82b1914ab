package aicred_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

func TestParseUsageGroups(t *testing.T) {
	tests := []struct {
		in      string
		want    []aicred.UsageGroup
		invalid bool
	}{
		{"", nil, false},
		{"model", []aicred.UsageGroup{aicred.GroupModel}, false},
		{" workload , day ", []aicred.UsageGroup{aicred.GroupWorkload, aicred.GroupDay}, false},
		{"role,,provider", []aicred.UsageGroup{aicred.GroupRole, aicred.GroupProvider}, false},
		{"model,model", nil, true},
		{"token", nil, true},
		{"Model", nil, true},
	}
	for _, tc := range tests {
		got, err := aicred.ParseUsageGroups(tc.in)
		if tc.invalid {
			if aicred.KindOf(err) != aicred.ErrInvalid {
				t.Errorf("%q: want an invalid error, got %v", tc.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseUsageGroups(f *testing.F) {
	for _, s := range []string{"", "model,day", "workload,role,model,provider,day", "x,,y", "day,day"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := aicred.ParseUsageGroups(s)
		if err != nil {
			if aicred.KindOf(err) != aicred.ErrInvalid {
				t.Fatalf("error of kind %s", aicred.KindOf(err))
			}
			return
		}
		// What parses is a valid query, and prints back to itself.
		if err := (aicred.UsageQuery{By: got}).Validate(); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, g := range got {
			parts = append(parts, string(g))
		}
		again, err := aicred.ParseUsageGroups(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip: %v, %v", again, err)
		}
	})
}

func TestBudgetScopes(t *testing.T) {
	day := time.Date(2026, 3, 4, 23, 59, 0, 0, time.FixedZone("x", -5*3600)) // 2026-03-05 in UTC
	tests := []struct {
		scope string
		ok    bool
	}{
		{aicred.TokenBudgetScope("tok_abc"), true},
		{aicred.WorkloadDayScope("https://token.actions.githubusercontent.com repo:acme/app:ref:refs/heads/main", day), true},
		{"workload:https://i sub:2026-03-05", true},
		{"token:", false},
		{"workload:2026-03-05", false},
		{"workload::2026-03-05", false},
		{"workload:https://i sub:2026-3-5", false},
		{"workload:https://i sub", false},
		{"user:x", false},
		{"token:a\x00b", false},
		{"token:" + strings.Repeat("a", 2000), false},
	}
	for _, tc := range tests {
		if got := aicred.ValidBudgetScope(tc.scope); got != tc.ok {
			t.Errorf("%q: valid %v, want %v", tc.scope, got, tc.ok)
		}
	}
	if s := aicred.WorkloadDayScope("w", day); !strings.HasSuffix(s, ":2026-03-05") {
		t.Errorf("day scope %q: want the UTC date", s)
	}
}

func FuzzValidBudgetScope(f *testing.F) {
	for _, s := range []string{"token:x", "workload:a b:2026-01-01", "workload::", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !aicred.ValidBudgetScope(s) {
			return
		}
		// A valid scope is storable text and a request with it validates.
		q := aicred.AllowanceRequest{Scope: s, LimitUSD: 1, WantUSD: 1, Holder: "h", TTL: time.Second}
		if aicred.StorableText(s) != s || q.Validate() != nil {
			t.Fatalf("%q: valid scope, invalid request", s)
		}
	})
}

func TestUsageRecordValidate(t *testing.T) {
	ok := aicred.UsageRecord{Time: time.Unix(1e9, 0), TokenID: "tok_1", Provider: "openai", Outcome: aicred.OutcomeOK, CostUSD: 0.01}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, mut := range []func(r *aicred.UsageRecord){
		func(r *aicred.UsageRecord) { r.Time = time.Time{} },
		func(r *aicred.UsageRecord) { r.TokenID = "" },
		func(r *aicred.UsageRecord) { r.Provider = "" },
		func(r *aicred.UsageRecord) { r.Outcome = "" },
		func(r *aicred.UsageRecord) { r.Usage.CachedTokens = -1 },
		func(r *aicred.UsageRecord) { r.CostUSD = math.Inf(-1) },
	} {
		r := ok
		mut(&r)
		if aicred.KindOf(r.Validate()) != aicred.ErrInvalid {
			t.Errorf("case %d: not invalid", i)
		}
	}
}

func TestNanoUSD(t *testing.T) {
	for _, v := range []float64{0, 1e-9, 0.1, 0.3, 2.5e-6, 123.456789123, 999_999_999} {
		if got := aicred.USDOfNano(aicred.NanoUSD(v)); math.Abs(got-v) > 5e-10*math.Max(1, v*1e-6) {
			t.Errorf("%v: round trip %v", v, got)
		}
	}
	// Nano-dollars add exactly where float dollars do not.
	if aicred.NanoUSD(0.1)+aicred.NanoUSD(0.2) != aicred.NanoUSD(0.3) {
		t.Error("0.1 + 0.2 != 0.3 in nano-dollars")
	}
}
