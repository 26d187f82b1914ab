package storetest

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// UsageRecords returns n plausible usage records spread over days days
// from start, over a few workloads, roles, providers and models, some
// estimated and some failed, in time order as a gateway writes them. The
// same seed gives the same records.
func UsageRecords(seed uint64, n, days int, start time.Time) []aicred.UsageRecord {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	models := []struct{ provider, model string }{
		{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"anthropic", "claude-sonnet-4"}, {"anthropic", "claude-haiku-4"}, {"gemini", "gemini-2.5-pro"},
	}
	roles := []string{"trainer", "chat-bot", "eval"}
	outcomes := []string{aicred.OutcomeOK, aicred.OutcomeOK, aicred.OutcomeOK, aicred.OutcomeOK, aicred.OutcomeUpstreamError,
		aicred.OutcomeNoUsage, aicred.OutcomeClientClosed}
	span := time.Duration(days) * 24 * time.Hour
	out := make([]aicred.UsageRecord, n)
	for i := range out {
		m := models[r.IntN(len(models))]
		wl := r.IntN(6)
		u := aicred.Usage{InputTokens: r.Int64N(4000), CachedTokens: r.Int64N(500), OutputTokens: r.Int64N(1500)}
		if m.provider == "anthropic" {
			u.CacheWriteTokens = r.Int64N(300)
			u.CacheWrite1hTokens = u.CacheWriteTokens / 3
		}
		oc := outcomes[r.IntN(len(outcomes))]
		status := 200
		if oc == aicred.OutcomeUpstreamError {
			status = 429
		}
		out[i] = aicred.UsageRecord{
			Time:        start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Microsecond),
			TokenID:     fmt.Sprintf("tok_%04d", r.IntN(200)),
			Workload:    fmt.Sprintf("https://token.actions.githubusercontent.com repo:acme/svc-%d:ref:refs/heads/main", wl),
			Role:        roles[wl%len(roles)],
			Environment: "prod",
			Provider:    m.provider,
			Model:       m.model,
			Operation:   "chat",
			Stream:      r.IntN(2) == 0,
			Usage:       u,
			CostUSD:     float64(u.InputTokens)*2.5e-6 + float64(u.OutputTokens)*1e-5,
			Estimated:   oc == aicred.OutcomeNoUsage,
			Status:      status,
			Outcome:     oc,
			Latency:     time.Duration(r.Int64N(int64(3 * time.Second))),
			SourceIP:    fmt.Sprintf("10.0.%d.%d", wl, r.IntN(250)),
			UserAgent:   "OpenAI/Python 1.40.0",
		}
		out[i].UpstreamRequestID = fmt.Sprintf("req_%x", r.Uint64())
		if i%13 != 0 {
			// The held key the gateway injected; none when refused early.
			out[i].CredentialID = fmt.Sprintf("hc_%s_%d", m.provider, wl%2)
		}
		if i%11 == 5 {
			// A model priced per image: units, no tokens.
			out[i].Operation, out[i].Usage = "images", aicred.Usage{Units: int64(i%4 + 1), Unit: aicred.UnitImage}
		}
	}
	slices.SortStableFunc(out, func(x, y aicred.UsageRecord) int { return x.Time.Compare(y.Time) })
	for i := range out {
		if i%7 != 3 {
			// The recorder's idempotency key, time-ordered as its UUIDv7s
			// are; some records have none.
			out[i].ID = fmt.Sprintf("%016x-%08x-%04x", out[i].Time.UnixNano(), i, r.Uint32()&0xffff)
		}
	}
	return out
}

// summarize is the reference: what SummarizeUsage must answer, computed
// in Go.
func summarize(recs []aicred.UsageRecord, q aicred.UsageQuery) []aicred.UsageSummary {
	groups := map[string]*aicred.UsageSummary{}
	nanos := map[string]*[2]int64{} // cost and estimated cost
	var keys []string
	for _, r := range recs {
		f := q.Filter
		if (!f.Since.IsZero() && r.Time.Before(f.Since)) || (!f.Until.IsZero() && !r.Time.Before(f.Until)) ||
			(f.TokenID != "" && r.TokenID != f.TokenID) || (f.CredentialID != "" && r.CredentialID != f.CredentialID) ||
			(f.Workload != "" && r.Workload != f.Workload) ||
			(f.Role != "" && r.Role != f.Role) || (f.Provider != "" && r.Provider != f.Provider) || (f.Model != "" && r.Model != f.Model) {
			continue
		}
		var g aicred.UsageSummary
		var key []string
		for _, by := range q.By {
			switch by {
			case aicred.GroupWorkload:
				g.Workload = r.Workload
				key = append(key, r.Workload)
			case aicred.GroupRole:
				g.Role = r.Role
				key = append(key, r.Role)
			case aicred.GroupModel:
				g.Model = r.Model
				key = append(key, r.Model)
			case aicred.GroupProvider:
				g.Provider = r.Provider
				key = append(key, r.Provider)
			case aicred.GroupDay:
				g.Day = aicred.UsageDay(r.Time)
				key = append(key, g.Day)
			}
		}
		k := strings.Join(key, "\x00")
		if groups[k] == nil {
			groups[k] = &g
			nanos[k] = &[2]int64{}
			keys = append(keys, k)
		}
		one := aicred.UsageSummary{Requests: 1, InputTokens: r.Usage.InputTokens, CachedTokens: r.Usage.CachedTokens,
			CacheWriteTokens: r.Usage.CacheWriteTokens, OutputTokens: r.Usage.OutputTokens}
		n := aicred.UsageCostNanos(r.CostUSD)
		nanos[k][0] += n
		if r.Estimated {
			nanos[k][1] += n
		}
		if r.Outcome != aicred.OutcomeOK {
			one.Errors = 1
		}
		groups[k].Add(one)
	}
	if len(q.By) == 0 && len(keys) == 0 {
		return []aicred.UsageSummary{{}}
	}
	slices.Sort(keys) // "\x00" sorts before every other byte: column by column order
	out := make([]aicred.UsageSummary, len(keys))
	for i, k := range keys {
		out[i] = *groups[k]
		// Costs are totalled in whole nano-dollars (aicred.UsageService).
		out[i].CostUSD, out[i].EstimatedUSD = aicred.USDOfNano(nanos[k][0]), aicred.USDOfNano(nanos[k][1])
	}
	return out
}

func sameSummaries(tb testing.TB, got, want []aicred.UsageSummary) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%d groups, want %d:\ngot  %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
		if !near(g.CostUSD, w.CostUSD) || !near(g.EstimatedUSD, w.EstimatedUSD) {
			tb.Fatalf("group %d: cost %v (estimated %v), want %v (%v)", i, g.CostUSD, g.EstimatedUSD, w.CostUSD, w.EstimatedUSD)
		}
		g.CostUSD, g.EstimatedUSD = w.CostUSD, w.EstimatedUSD
		if g != w {
			tb.Fatalf("group %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}
}

func recordUsage(tb testing.TB, s aicred.Store, recs []aicred.UsageRecord) {
	tb.Helper()
	for i := 0; i < len(recs); i += 500 {
		if err := s.RecordUsage(ctx(tb), recs[i:min(i+500, len(recs))]); err != nil {
			tb.Fatal(err)
		}
	}
}

func testUsageRecordList(t *testing.T, b Backend) {
	s := open(t, b)
	recs := UsageRecords(1, 1200, 5, epoch)
	recordUsage(t, s, recs)
	want := slices.Clone(recs)
	slices.SortStableFunc(want, func(x, y aicred.UsageRecord) int { return x.Time.Compare(y.Time) })

	all := must(s.ListUsage(ctx(t), aicred.UsageFilter{}))(t)
	if len(all) != len(want) {
		t.Fatalf("%d records, want %d", len(all), len(want))
	}
	for i := range all {
		if !all[i].Time.Equal(want[i].Time) {
			t.Fatalf("record %d at %s, want %s: not in time order", i, all[i].Time, want[i].Time)
		}
	}
	// Every field comes back as written: find each record by its
	// upstream request id, which the generator makes unique.
	byReq := map[string]aicred.UsageRecord{}
	for _, r := range recs {
		byReq[r.UpstreamRequestID] = r
	}
	for _, r := range all {
		w := byReq[r.UpstreamRequestID]
		if r.Time.Location() != time.UTC {
			t.Fatalf("time in %s, want UTC", r.Time.Location())
		}
		w.Time, r.Time = w.Time.UTC(), r.Time.UTC()
		if r != w {
			t.Fatalf("round trip:\ngot  %+v\nwant %+v", r, w)
		}
	}

	page := must(s.ListUsage(ctx(t), aicred.UsageFilter{Limit: 100, Offset: 250}))(t)
	if len(page) != 100 || page[0].UpstreamRequestID != all[250].UpstreamRequestID || page[99].UpstreamRequestID != all[349].UpstreamRequestID {
		t.Fatalf("page of %d records does not match the whole list at 250", len(page))
	}
	tail := must(s.ListUsage(ctx(t), aicred.UsageFilter{Offset: 1150}))(t)
	if len(tail) != 50 {
		t.Fatalf("offset without limit: %d records, want 50", len(tail))
	}

	since, until := epoch.Add(24*time.Hour), epoch.Add(48*time.Hour)
	for _, f := range []aicred.UsageFilter{
		{Since: since, Until: until},
		{Workload: recs[0].Workload},
		{Role: "eval", Provider: "anthropic"},
		{Model: "gpt-4o", Since: since},
		{TokenID: recs[7].TokenID},
		{CredentialID: "hc_openai_1"},
		{CredentialID: "hc_anthropic_0", Since: since},
	} {
		got := must(s.ListUsage(ctx(t), f))(t)
		n := 0
		for _, r := range want {
			if (f.Since.IsZero() || !r.Time.Before(f.Since)) && (f.Until.IsZero() || r.Time.Before(f.Until)) &&
				(f.Workload == "" || r.Workload == f.Workload) && (f.Role == "" || r.Role == f.Role) &&
				(f.Provider == "" || r.Provider == f.Provider) && (f.Model == "" || r.Model == f.Model) &&
				(f.TokenID == "" || r.TokenID == f.TokenID) && (f.CredentialID == "" || r.CredentialID == f.CredentialID) {
				n++
			}
		}
		if len(got) != n || n == 0 {
			t.Fatalf("filter %+v: %d records, want %d (> 0)", f, len(got), n)
		}
	}
}

// testUsageIdempotent: a batch written again (a retry after a lost
// COMMIT answer), partly or whole, adds nothing twice, to the records or
// to the daily rollup; records without an ID are written each time.
func testUsageIdempotent(t *testing.T, b Backend) {
	s := open(t, b)
	recs := UsageRecords(9, 600, 3, epoch)
	recordUsage(t, s, recs[:400])
	// The retry: the first 400 again (in another order), with the next
	// 200 and a record repeated inside the batch.
	retry := slices.Concat(recs[200:600], recs[:200], recs[450:451])
	slices.Reverse(retry[:100])
	recordUsage(t, s, retry)

	var noID []aicred.UsageRecord
	for _, r := range recs[:600] {
		if r.ID == "" {
			noID = append(noID, r)
		}
	}
	// Records without an ID in the first 400 were written twice.
	want := slices.Clone(recs)
	for _, r := range recs[:400] {
		if r.ID == "" {
			want = append(want, r)
		}
	}
	if len(noID) == 0 || len(noID) == len(recs) {
		t.Fatalf("test data: %d of %d records without an id", len(noID), len(recs))
	}
	all := must(s.ListUsage(ctx(t), aicred.UsageFilter{}))(t)
	if len(all) != len(want) {
		t.Fatalf("%d records after the retry, want %d", len(all), len(want))
	}
	ids := map[string]int{}
	for _, r := range all {
		if r.ID != "" {
			ids[r.ID]++
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("record %s stored %d times", id, n)
		}
	}
	// Whole days come from the rollup, which must agree with the records.
	for _, q := range []aicred.UsageQuery{
		{By: aicred.UsageGroups[:]},
		{By: []aicred.UsageGroup{aicred.GroupWorkload, aicred.GroupModel}},
	} {
		sameSummaries(t, must(s.SummarizeUsage(ctx(t), q))(t), summarize(want, q))
	}

	// A batch made only of records already stored writes nothing.
	recordUsage(t, s, recs[10:20:20])
	if n := len(must(s.ListUsage(ctx(t), aicred.UsageFilter{}))(t)); n != len(want)+countNoID(recs[10:20]) {
		t.Fatalf("%d records after a third write, want %d", n, len(want)+countNoID(recs[10:20]))
	}
}

func countNoID(recs []aicred.UsageRecord) int {
	n := 0
	for _, r := range recs {
		if r.ID == "" {
			n++
		}
	}
	return n
}

func testUsageSummaries(t *testing.T, b Backend) {
	s := open(t, b)
	recs := UsageRecords(2, 3000, 7, epoch)
	recordUsage(t, s, recs)
	wl := recs[0].Workload
	tests := []struct {
		name string
		q    aicred.UsageQuery
	}{
		{"total", aicred.UsageQuery{}},
		{"by model", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupModel}}},
		{"by day", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupDay}}},
		{"by workload and day", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupWorkload, aicred.GroupDay}}},
		{"by day and workload", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupDay, aicred.GroupWorkload}}},
		{"every group", aicred.UsageQuery{By: aicred.UsageGroups[:]}},
		{"role by provider", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupProvider}, Filter: aicred.UsageFilter{Role: "trainer"}}},
		{"one workload by model over two days", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupModel},
			Filter: aicred.UsageFilter{Workload: wl, Since: epoch.Add(36 * time.Hour), Until: epoch.Add(84 * time.Hour)}}},
		{"provider and model filters", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupRole},
			Filter: aicred.UsageFilter{Provider: "anthropic", Model: "claude-haiku-4"}}},
		{"one held credential by workload", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupWorkload},
			Filter: aicred.UsageFilter{CredentialID: "hc_openai_0"}}},
		{"nothing matches", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupModel}, Filter: aicred.UsageFilter{Model: "no-such-model"}}},
		{"total of nothing", aicred.UsageQuery{Filter: aicred.UsageFilter{Since: epoch.Add(-48 * time.Hour), Until: epoch.Add(-24 * time.Hour)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := must(s.SummarizeUsage(ctx(t), tc.q))(t)
			want := summarize(recs, tc.q)
			if tc.name == "nothing matches" {
				want = nil
			}
			sameSummaries(t, got, want)
		})
	}
	t.Run("rollup matches records", func(t *testing.T) { testUsageRollup(t, b) })
	// Summaries over the same records split across two handles (two
	// processes) see both.
	if b.Reopen != nil {
		s2 := b.Reopen(t, s)
		defer s2.Close()
		more := UsageRecords(3, 100, 1, epoch.Add(10*24*time.Hour))
		recordUsage(t, s2, more)
		sameSummaries(t, must(s.SummarizeUsage(ctx(t), aicred.UsageQuery{}))(t), summarize(append(recs, more...), aicred.UsageQuery{}))
	}
}

func testUsageInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	good := UsageRecords(4, 3, 1, epoch)
	bad := []func(r *aicred.UsageRecord){
		func(r *aicred.UsageRecord) { r.Time = time.Time{} },
		func(r *aicred.UsageRecord) { r.TokenID = "" },
		func(r *aicred.UsageRecord) { r.Provider = "" },
		func(r *aicred.UsageRecord) { r.Outcome = "" },
		func(r *aicred.UsageRecord) { r.Usage.OutputTokens = -1 },
		func(r *aicred.UsageRecord) { r.CostUSD = math.NaN() },
		func(r *aicred.UsageRecord) { r.CostUSD = -0.01 },
		func(r *aicred.UsageRecord) { r.CostUSD = math.Inf(1) },
		func(r *aicred.UsageRecord) { r.CostUSD = 2e9 }, // over a billion dollars: past the nano-dollar totals
		func(r *aicred.UsageRecord) { r.Latency = -time.Second },
		func(r *aicred.UsageRecord) { r.Usage.CacheWriteTokens, r.Usage.CacheWrite1hTokens = 1, 2 },
		func(r *aicred.UsageRecord) { r.Usage.Units, r.Usage.Unit = -1, aicred.UnitImage },
		func(r *aicred.UsageRecord) { r.Usage.Units = 3 },
		func(r *aicred.UsageRecord) { r.Usage.Units, r.Usage.Unit = 3, "pixel" },
	}
	for i, mut := range bad {
		batch := slices.Clone(good)
		mut(&batch[2])
		wantKind(t, s.RecordUsage(ctx(t), batch), aicred.ErrInvalid)
		if n := len(must(s.ListUsage(ctx(t), aicred.UsageFilter{}))(t)); n != 0 {
			t.Fatalf("case %d: a rejected batch wrote %d records", i, n)
		}
	}
	if err := s.RecordUsage(ctx(t), nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	// Text that is not valid UTF-8 or holds NUL is stored, replaced.
	odd := good[0]
	odd.UserAgent, odd.Model = "curl\x00/8", "m\xffx"
	if err := s.RecordUsage(ctx(t), []aicred.UsageRecord{odd}); err != nil {
		t.Fatal(err)
	}
	got := must(s.ListUsage(ctx(t), aicred.UsageFilter{}))(t)
	if len(got) != 1 || got[0].UserAgent != aicred.StorableText(odd.UserAgent) || got[0].Model != aicred.StorableText(odd.Model) {
		t.Fatalf("odd text: %+v", got)
	}

	for _, f := range []aicred.UsageFilter{{Limit: -1}, {Offset: -1}, {Since: epoch, Until: epoch}, {Since: epoch, Until: epoch.Add(-time.Hour)}} {
		_, err := s.ListUsage(ctx(t), f)
		wantKind(t, err, aicred.ErrInvalid)
		_, err = s.SummarizeUsage(ctx(t), aicred.UsageQuery{Filter: f})
		if f.Limit >= 0 && f.Offset >= 0 { // SummarizeUsage ignores paging only when valid
			wantKind(t, err, aicred.ErrInvalid)
		}
	}
	for _, by := range [][]aicred.UsageGroup{{"token_id"}, {"model; DROP TABLE usage_records"}, {aicred.GroupDay, aicred.GroupDay}} {
		_, err := s.SummarizeUsage(ctx(t), aicred.UsageQuery{By: by})
		wantKind(t, err, aicred.ErrInvalid)
	}
}

// testUsageCanary sends usage and a budget lease through the store for a
// token that exists and checks that the token is in nothing the store
// wrote: records and budgets name the token by its id, never carry it.
func testUsageCanary(t *testing.T, b Backend) {
	if b.Dump == nil {
		t.Skip("backend cannot dump what it wrote")
	}
	s := open(t, b)
	g, tok := NewGrant(t, "https://issuer.example", "repo:acme/app", "trainer", "ci")
	if err := s.IssueGrant(ctx(t), g); err != nil {
		t.Fatal(err)
	}
	recs := UsageRecords(5, 20, 1, epoch)
	for i := range recs {
		recs[i].TokenID, recs[i].Workload = g.ID, g.Issuer+" "+g.Subject
	}
	recordUsage(t, s, recs)
	a := must(s.TakeAllowance(ctx(t), aicred.AllowanceRequest{Scope: aicred.TokenBudgetScope(g.ID), LimitUSD: 5, WantUSD: 1, Holder: "gw-1", TTL: time.Minute}))(t)
	if err := s.ReturnAllowance(ctx(t), a.LeaseID, 0.5); err != nil {
		t.Fatal(err)
	}
	dump := b.Dump(t, s)
	if !strings.Contains(string(dump), g.ID) {
		t.Fatal("the dump does not hold the token id: it is not looking at the data")
	}
	AssertNoSecrets(t, dump, aicred.NewSecret(tok))
}

// rollupRecords returns n random records over days UTC days from start
// (a midnight), some exactly at midnight or a microsecond before, with
// costs of arbitrary fractions of a nano-dollar (half a nano-dollar
// among them).
func rollupRecords(r *mrand.Rand, n, days int, start time.Time) []aicred.UsageRecord {
	models := []struct{ provider, model string }{{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"anthropic", "claude-haiku-4"}, {"gemini", "gemini-2.5-pro"}}
	out := make([]aicred.UsageRecord, n)
	for i := range out {
		m := models[r.IntN(len(models))]
		at := start.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour)))).Truncate(time.Microsecond)
		switch r.IntN(10) {
		case 0:
			at = start.AddDate(0, 0, r.IntN(days+1)) // midnight
		case 1:
			at = start.AddDate(0, 0, 1+r.IntN(days)).Add(-time.Microsecond)
		}
		cost := r.Float64() * 0.05
		switch r.IntN(8) {
		case 0:
			cost = (float64(r.IntN(1000)) + 0.5) / 1e9
		case 1:
			cost = 0
		}
		oc := []string{aicred.OutcomeOK, aicred.OutcomeOK, aicred.OutcomeUpstreamError, aicred.OutcomeNoUsage}[r.IntN(4)]
		out[i] = aicred.UsageRecord{Time: at, TokenID: fmt.Sprintf("tok_%d", r.IntN(6)), Workload: fmt.Sprintf("wl-%d", r.IntN(4)),
			Role: []string{"chat", "eval", ""}[r.IntN(3)], Provider: m.provider, Model: m.model, Operation: []string{"chat", "embeddings"}[r.IntN(2)],
			Usage:   aicred.Usage{InputTokens: r.Int64N(5000), CachedTokens: r.Int64N(100), CacheWriteTokens: r.Int64N(50), OutputTokens: r.Int64N(900)},
			CostUSD: cost, Estimated: oc == aicred.OutcomeNoUsage, Status: 200, Outcome: oc, CredentialID: []string{"", "hc_a", "hc_b"}[r.IntN(3)]}
	}
	return out
}

// testUsageRollup: summaries read from the daily rollup equal those
// computed from the records, for random records written in random
// batches (through two handles when the backend has them) and random
// queries: whole days, partial days, open ends, filters the rollup keeps
// and the token filter it does not.
func testUsageRollup(t *testing.T, b Backend) {
	r := mrand.New(mrand.NewPCG(20, 26))
	s := open(t, b)
	writers := []aicred.Store{s}
	if b.Reopen != nil {
		s2 := b.Reopen(t, s)
		defer s2.Close()
		writers = append(writers, s2)
	}
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	const days = 6
	recs := rollupRecords(r, 4000, days, start)
	for i := 0; i < len(recs); {
		n := 1 + r.IntN(300)
		if err := writers[r.IntN(len(writers))].RecordUsage(ctx(t), recs[i:min(i+n, len(recs))]); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	bound := func() time.Time {
		switch r.IntN(4) {
		case 0:
			return time.Time{}
		case 1, 2:
			return start.AddDate(0, 0, r.IntN(days+2)-1) // a midnight, one day either side too
		default:
			return start.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour))))
		}
	}
	pick := func(vals ...string) string {
		if r.IntN(5) == 0 {
			return vals[r.IntN(len(vals))]
		}
		return ""
	}
	for i := range 60 {
		q := aicred.UsageQuery{Filter: aicred.UsageFilter{Since: bound(), Until: bound(),
			Workload: pick("wl-0", "wl-3"), Role: pick("chat", ""), Provider: pick("openai", "gemini"), Model: pick("gpt-4o", "claude-haiku-4"),
			CredentialID: pick("hc_a", "hc_b")}}
		if i%4 == 3 {
			q.Filter.TokenID = pick("tok_1", "tok_5")
		}
		if !q.Filter.Since.IsZero() && !q.Filter.Until.IsZero() && !q.Filter.Until.After(q.Filter.Since) {
			q.Filter.Since, q.Filter.Until = q.Filter.Until, q.Filter.Since
			if q.Filter.Since.Equal(q.Filter.Until) {
				q.Filter.Until = time.Time{}
			}
		}
		for _, p := range r.Perm(len(aicred.UsageGroups))[:r.IntN(len(aicred.UsageGroups)+1)] {
			q.By = append(q.By, aicred.UsageGroups[p])
		}
		got := must(s.SummarizeUsage(ctx(t), q))(t)
		want := summarize(recs, q)
		if len(q.By) > 0 && len(want) == 1 && want[0].Requests == 0 {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d %+v:\ngot  %+v\nwant %+v", i, q, got, want)
		}
		if q.Filter.TokenID != "" {
			continue
		}
		// The same query answered from the records alone (a token filter
		// always is), one token at a time, adds up to the same.
		tot := aicred.NewUsageTotals(q.By)
		for tok := range 6 {
			tq := q
			tq.Filter.TokenID = fmt.Sprintf("tok_%d", tok)
			for _, u := range must(s.SummarizeUsage(ctx(t), tq))(t) {
				var vals []string
				for _, g := range q.By {
					vals = append(vals, *u.Field(g))
				}
				if u.Requests > 0 || len(q.By) > 0 {
					tot.Add(vals, u, aicred.NanoUSD(u.CostUSD), aicred.NanoUSD(u.EstimatedUSD))
				}
			}
		}
		if raw := tot.Summaries(); !slices.Equal(got, raw) && !(len(got) == 0 && len(raw) == 0) {
			t.Fatalf("query %d %+v from the records:\ngot  %+v\nwant %+v", i, q, raw, got)
		}
	}
}
