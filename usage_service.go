package aicred

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// UsageService keeps the gateway's usage records and answers questions
// about spend. Records are metering, not state changes of what aicred
// governs: they are not written to the audit log (the usage table is its
// own append-only record), which keeps a busy gateway off the audit
// chain's single writer lock.
type UsageService interface {
	// RecordUsage appends records in one transaction. Callers batch (the
	// gateway's StoreRecorder writes up to a few hundred per call). A
	// record whose ID is already in the store (or earlier in recs) is
	// skipped, in the records and in the daily rollup alike, so a batch
	// may be retried safely after an error that left its fate unknown.
	// Records without an ID are always written.
	// Errors: ErrInvalid (a malformed record; nothing is written).
	RecordUsage(ctx context.Context, recs []UsageRecord) error

	// SummarizeUsage totals the records matching q, one row per distinct
	// combination of q.By (one row in all when By is empty), ordered by
	// the group values in the order By names them (byte order).
	//
	// Stores keep a daily rollup (table usage_daily: one row per UTC day,
	// workload, role, provider, model, operation and held credential),
	// written in the same transaction as each RecordUsage batch. The
	// whole UTC days of q's range are answered from it, the partial days
	// at either end from the records (SplitUsageDays), and a query by
	// token id from the records alone, so the answer is the same whichever
	// way it is computed. Costs are totalled in whole nano-dollars
	// (UsageCostNanos of each record), so sums do not depend on the order
	// of addition.
	// Errors: ErrInvalid (an unknown group, a repeated group, Until not
	// after Since).
	SummarizeUsage(ctx context.Context, q UsageQuery) ([]UsageSummary, error)

	// ListUsage returns raw records matching f, oldest first.
	// Errors: ErrInvalid (a negative limit or offset, Until not after
	// Since).
	ListUsage(ctx context.Context, f UsageFilter) ([]UsageRecord, error)
}

// A UsageFilter selects usage records. Empty fields match everything; the
// time range is [Since, Until).
type UsageFilter struct {
	Since, Until time.Time
	TokenID      string
	CredentialID string // the held credential used (UsageRecord.CredentialID)
	Workload     string
	Role         string
	Provider     string
	Model        string
	// Limit caps the records returned (0: no cap); Offset skips the
	// first ones. SummarizeUsage ignores both.
	Limit, Offset int
}

// Validate checks f. Errors: ErrInvalid.
func (f UsageFilter) Validate() error {
	if f.Limit < 0 || f.Offset < 0 {
		return Errorf(ErrInvalid, "usage filter: negative limit or offset")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return Errorf(ErrInvalid, "usage filter: until (%s) must be after since (%s)",
			f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	return nil
}

// A UsageGroup is a dimension usage can be totalled by.
type UsageGroup string

// Usage groups. GroupDay is the record's UTC date.
const (
	GroupWorkload UsageGroup = "workload"
	GroupRole     UsageGroup = "role"
	GroupModel    UsageGroup = "model"
	GroupProvider UsageGroup = "provider"
	GroupDay      UsageGroup = "day"
)

// UsageGroups lists every group, in the order the CLI documents them.
var UsageGroups = [...]UsageGroup{GroupWorkload, GroupRole, GroupModel, GroupProvider, GroupDay}

// ParseUsageGroups reads a comma-separated list of groups ("model,day").
// Errors: ErrInvalid (an unknown or repeated group).
func ParseUsageGroups(s string) ([]UsageGroup, error) {
	var out []UsageGroup
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, UsageGroup(f))
		}
	}
	return out, validGroups(out)
}

func validGroups(by []UsageGroup) error {
	seen := map[UsageGroup]bool{}
	for _, g := range by {
		ok := false
		for _, k := range UsageGroups {
			ok = ok || g == k
		}
		if !ok {
			return Errorf(ErrInvalid, "usage: unknown group %q (want workload, role, model, provider or day)", g)
		}
		if seen[g] {
			return Errorf(ErrInvalid, "usage: group %q named twice", g)
		}
		seen[g] = true
	}
	return nil
}

// A UsageQuery totals the records matching Filter by the groups in By.
type UsageQuery struct {
	Filter UsageFilter
	By     []UsageGroup
}

// Validate checks q. Errors: ErrInvalid.
func (q UsageQuery) Validate() error {
	if err := q.Filter.Validate(); err != nil {
		return err
	}
	return validGroups(q.By)
}

// A UsageSummary totals the records of one group. Only the fields named
// by the query's By are set among Workload, Role, Model, Provider and Day.
type UsageSummary struct {
	Workload string `json:"workload,omitempty"`
	Role     string `json:"role,omitempty"`
	Model    string `json:"model,omitempty"`
	Provider string `json:"provider,omitempty"`
	Day      string `json:"day,omitempty"` // YYYY-MM-DD, UTC

	Requests         int64   `json:"requests"`
	InputTokens      int64   `json:"input_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	// EstimatedUSD is the part of CostUSD charged at the worst case
	// because no usage came back.
	EstimatedUSD float64 `json:"estimated_usd"`
	// Errors counts requests whose outcome is not OutcomeOK.
	Errors int64 `json:"errors"`
}

// Add adds o's totals to s (the group fields are left alone).
func (s *UsageSummary) Add(o UsageSummary) {
	s.Requests += o.Requests
	s.InputTokens += o.InputTokens
	s.CachedTokens += o.CachedTokens
	s.CacheWriteTokens += o.CacheWriteTokens
	s.OutputTokens += o.OutputTokens
	s.CostUSD += o.CostUSD
	s.EstimatedUSD += o.EstimatedUSD
	s.Errors += o.Errors
}

// MaxUsageRecordID bounds UsageRecord.ID.
const MaxUsageRecordID = 64

// printableASCII reports whether s holds only printable ASCII.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Validate checks what a store needs of a record: a time, a token id, a
// provider and an outcome, no negative counts, a finite non-negative
// cost, an ID of at most MaxUsageRecordID printable ASCII characters.
// Errors: ErrInvalid.
func (r *UsageRecord) Validate() error {
	bad := func(what string) error {
		return Errorf(ErrInvalid, "usage record (token %q at %s): %s", r.TokenID, r.Time.UTC().Format(time.RFC3339), what)
	}
	switch {
	case r.Time.IsZero():
		return bad("no time")
	case r.TokenID == "":
		return bad("no token id")
	case r.Provider == "":
		return bad("no provider")
	case r.Outcome == "":
		return bad("no outcome")
	case r.Usage.InputTokens < 0 || r.Usage.CachedTokens < 0 || r.Usage.CacheWriteTokens < 0 ||
		r.Usage.CacheWrite1hTokens < 0 || r.Usage.OutputTokens < 0:
		return bad("negative token count")
	case r.Usage.Units < 0:
		return bad("negative unit count")
	case r.Usage.Units > 0 && r.Usage.Unit != UnitImage && r.Usage.Unit != UnitSecond && r.Usage.Unit != UnitCharacter && r.Usage.Unit != UnitByte:
		return bad("units without a known unit")
	case r.Usage.CacheWrite1hTokens > r.Usage.CacheWriteTokens:
		return bad("more one-hour cache writes than cache writes")
	case math.IsNaN(r.CostUSD) || math.IsInf(r.CostUSD, 0) || r.CostUSD < 0:
		return bad(fmt.Sprintf("cost %v", r.CostUSD))
	case r.CostUSD > maxUSD:
		return bad(fmt.Sprintf("cost %v over %v dollars", r.CostUSD, float64(maxUSD)))
	case r.Latency < 0:
		return bad("negative latency")
	case len(r.ID) > MaxUsageRecordID || !printableASCII(r.ID):
		return bad("id is not up to 64 printable ASCII characters")
	}
	return nil
}

// UsageDay is the UTC date of t, as usage summaries and daily budget
// scopes name it.
func UsageDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Field is the member of u that group g fills.
func (u *UsageSummary) Field(g UsageGroup) *string {
	switch g {
	case GroupWorkload:
		return &u.Workload
	case GroupRole:
		return &u.Role
	case GroupModel:
		return &u.Model
	case GroupProvider:
		return &u.Provider
	default:
		return &u.Day
	}
}

// UsageCostNanos is a record's cost in whole nano-dollars, as usage
// summaries and the daily rollup total it: floor(cost*1e9 + 0.5) in
// IEEE double arithmetic, which SQLite and PostgreSQL compute the same
// way from the stored cost (half a nano-dollar rounds up). Costs are
// non-negative and at most a billion dollars (Validate), so it fits.
func UsageCostNanos(usd float64) int64 {
	return int64(math.Floor(float64(usd*1e9) + 0.5)) // the conversion keeps the multiply and add unfused
}

// A UsageSplit divides a filter's time range into the whole UTC days a
// store answers from its daily rollup and the partial days it answers
// from the records.
type UsageSplit struct {
	// Rollup says whether whole days are read from the rollup, those
	// from FromDay (inclusive) to ToDay (exclusive), YYYY-MM-DD; ""
	// leaves that end open.
	Rollup         bool
	FromDay, ToDay string
	// Raw are the filters (the query's, with Since and Until narrowed)
	// of the partial days, answered from the records.
	Raw []UsageFilter
}

// SplitUsageDays splits f for a store keeping a daily rollup. A filter
// by token id (the rollup does not keep tokens), or a range within one
// day, is answered from the records alone.
func SplitUsageDays(f UsageFilter) UsageSplit {
	if f.TokenID != "" {
		return UsageSplit{Raw: []UsageFilter{f}}
	}
	midnight := func(t time.Time) time.Time {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	var lo, hi time.Time // whole days [lo, hi); zero: open
	if !f.Since.IsZero() {
		if lo = midnight(f.Since); lo.Before(f.Since) {
			lo = lo.AddDate(0, 0, 1)
		}
	}
	if !f.Until.IsZero() {
		hi = midnight(f.Until)
	}
	if !lo.IsZero() && !hi.IsZero() && !lo.Before(hi) {
		return UsageSplit{Raw: []UsageFilter{f}}
	}
	sp := UsageSplit{Rollup: true}
	if !lo.IsZero() {
		sp.FromDay = UsageDay(lo)
		if !lo.Equal(f.Since) {
			head := f
			head.Until = lo
			sp.Raw = append(sp.Raw, head)
		}
	}
	if !hi.IsZero() {
		sp.ToDay = UsageDay(hi)
		if !hi.Equal(f.Until) {
			tail := f
			tail.Since = hi
			sp.Raw = append(sp.Raw, tail)
		}
	}
	return sp
}

// UsageTotals adds up the summaries of one query read from several
// parts (a store's rollup and its records), keeping costs in
// nano-dollars until the end.
type UsageTotals struct {
	by     []UsageGroup
	groups map[string]*usageTotal
}

type usageTotal struct {
	s               UsageSummary
	costN, estCostN int64
}

// NewUsageTotals returns empty totals for groups by.
func NewUsageTotals(by []UsageGroup) *UsageTotals {
	return &UsageTotals{by: by, groups: map[string]*usageTotal{}}
}

// Add adds one part's row: group holds the values of the groups, in the
// order By names them; s its counts (its costs are ignored); costN and
// estCostN its cost and estimated cost in nano-dollars.
func (t *UsageTotals) Add(group []string, s UsageSummary, costN, estCostN int64) {
	k := strings.Join(group, "\x00") // "\x00" sorts first: column by column order
	g := t.groups[k]
	if g == nil {
		g = &usageTotal{}
		for i, by := range t.by {
			*g.s.Field(by) = group[i]
		}
		t.groups[k] = g
	}
	s.CostUSD, s.EstimatedUSD = 0, 0
	g.s.Add(s)
	g.costN += costN
	g.estCostN += estCostN
}

// Summaries returns the totals ordered by group values. With no groups
// there is one row, zero when nothing was added.
func (t *UsageTotals) Summaries() []UsageSummary {
	if len(t.by) == 0 && len(t.groups) == 0 {
		return []UsageSummary{{}}
	}
	keys := make([]string, 0, len(t.groups))
	for k := range t.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []UsageSummary
	for _, k := range keys {
		g := t.groups[k]
		g.s.CostUSD, g.s.EstimatedUSD = USDOfNano(g.costN), USDOfNano(g.estCostN)
		out = append(out, g.s)
	}
	return out
}

// DedupeUsageRecords returns recs without the records whose ID an earlier
// record in recs already has (the first is kept; records without an ID
// are all kept). It returns recs itself when nothing is dropped. Stores
// call it before writing a batch, so that the records a write reports as
// inserted are exactly the ones to add to the daily rollup.
func DedupeUsageRecords(recs []UsageRecord) []UsageRecord {
	seen := make(map[string]struct{}, len(recs))
	var out []UsageRecord
	for i := range recs {
		id := recs[i].ID
		if id != "" {
			if _, dup := seen[id]; dup {
				if out == nil {
					out = append(make([]UsageRecord, 0, len(recs)-1), recs[:i]...)
				}
				continue
			}
			seen[id] = struct{}{}
		}
		if out != nil {
			out = append(out, recs[i])
		}
	}
	if out == nil {
		return recs
	}
	return out
}

// KeepInsertedUsage returns the records of recs (already deduplicated)
// that a store's insert took: those without an ID, and those whose ID is
// in inserted.
func KeepInsertedUsage(recs []UsageRecord, inserted map[string]struct{}) []UsageRecord {
	out := recs[:0:0]
	for i := range recs {
		if recs[i].ID == "" {
			out = append(out, recs[i])
		} else if _, ok := inserted[recs[i].ID]; ok {
			out = append(out, recs[i])
		}
	}
	return out
}

// A UsageDayGroup totals the records of one row of a store's daily
// rollup (usage_daily): one UTC day, workload, role, provider, model,
// operation and held credential, the names as StorableText keeps them.
// Costs are nano-dollars, each record's rounded by UsageCostNanos.
type UsageDayGroup struct {
	Day, Workload, Role, Provider, Model, Operation, CredentialID string

	Requests, Errors                                          int64
	InputTokens, CachedTokens, CacheWriteTokens, OutputTokens int64
	Units, CostNanos, Estimated, EstimatedNanos               int64
	First, Last                                               time.Time
}

// UsageDayGroups totals recs by rollup row, in key order (so that stores
// upserting several rows take their locks in one order and cannot
// deadlock).
func UsageDayGroups(recs []UsageRecord) []UsageDayGroup {
	type key struct{ day, workload, role, provider, model, operation, credential string }
	index := map[key]int{}
	var out []UsageDayGroup
	for i := range recs {
		r := &recs[i]
		k := key{UsageDay(r.Time), StorableText(r.Workload), StorableText(r.Role), StorableText(r.Provider),
			StorableText(r.Model), StorableText(r.Operation), StorableText(r.CredentialID)}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, UsageDayGroup{Day: k.day, Workload: k.workload, Role: k.role, Provider: k.provider,
				Model: k.model, Operation: k.operation, CredentialID: k.credential, First: r.Time, Last: r.Time})
		}
		g := &out[j]
		n := UsageCostNanos(r.CostUSD)
		g.Requests++
		if r.Outcome != OutcomeOK {
			g.Errors++
		}
		g.InputTokens += r.Usage.InputTokens
		g.CachedTokens += r.Usage.CachedTokens
		g.CacheWriteTokens += r.Usage.CacheWriteTokens
		g.OutputTokens += r.Usage.OutputTokens
		g.Units += r.Usage.Units
		g.CostNanos += n
		if r.Estimated {
			g.Estimated++
			g.EstimatedNanos += n
		}
		if r.Time.Before(g.First) {
			g.First = r.Time
		}
		if r.Time.After(g.Last) {
			g.Last = r.Time
		}
	}
	slices.SortFunc(out, func(a, b UsageDayGroup) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Role, b.Role),
			cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Operation, b.Operation),
			cmp.Compare(a.CredentialID, b.CredentialID))
	})
	return out
}
