package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// Pruner is what a store offers for its retention settings (`aicred
// serve` runs it periodically).
type Pruner interface {
	Prune(ctx context.Context, grantsBefore, usageBefore, budgetsBefore time.Time) (grants, usage, budgets int64, err error)
}

func testPrune(t *testing.T, b Backend) {
	s := open(t, b)
	p, ok := s.(Pruner)
	if !ok {
		t.Fatalf("%T cannot prune", s)
	}
	now := time.Now()
	old, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "w", role: "r", policy: "p",
		issued: -3 * time.Hour, expires: -2 * time.Hour})
	recent, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "w", role: "r", policy: "p",
		issued: -time.Hour, expires: -time.Minute})
	live, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "w", role: "r", policy: "p", expires: time.Hour})
	for _, g := range []*aicred.Grant{old, recent, live} {
		issue(t, s, g)
	}
	recs := UsageRecords(7, 20, 1, now.Add(-48*time.Hour)) // within a day, two days ago
	recs = append(recs, UsageRecords(8, 5, 1, now.Add(-time.Hour))...)
	recordUsage(t, s, recs)
	idle := aicred.TokenBudgetScope(GrantID())
	a := take(t, s, idle, 10, 1, time.Minute)
	must(0, s.ReturnAllowance(ctx(t), a.LeaseID, 0.5))(t)
	held := aicred.TokenBudgetScope(GrantID())
	take(t, s, held, 10, 1, time.Minute) // outstanding: kept
	time.Sleep(10 * time.Millisecond)

	g, u, bg := must3(p.Prune(ctx(t), now.Add(-time.Hour), now.Add(-24*time.Hour), time.Now()))(t)
	if g != 1 || u != 20 || bg != 1 {
		t.Fatalf("pruned %d grants, %d usage records, %d budgets; want 1, 20, 1", g, u, bg)
	}
	wantKind(t, func() error { _, err := s.LookupGrant(ctx(t), old.TokenHash); return err }(), aicred.ErrNotFound)
	for _, keep := range []*aicred.Grant{recent, live} {
		must(s.LookupGrant(ctx(t), keep.TokenHash))(t)
	}
	if left := must(s.ListUsage(ctx(t), aicred.UsageFilter{}))(t); len(left) != 5 {
		t.Fatalf("%d usage records left, want 5", len(left))
	}
	wantKind(t, func() error { _, err := s.GetBudget(ctx(t), idle); return err }(), aicred.ErrNotFound)
	wantBudget(t, s, held, 0, 1, 1)

	// One audit record says what was pruned; the chain holds.
	evs := allAudit(t, s)
	last := evs[len(evs)-1]
	if last.Action != audit.ActionStorePruned || last.Data["grants"] != "1" || last.Data["usage_records"] != "20" || last.Data["budgets"] != "1" {
		t.Fatalf("last audit record %+v", last)
	}
	verifyOK(t, s)

	// Nothing left to prune: no record; a zero time prunes nothing.
	n := len(evs)
	g, u, bg = must3(p.Prune(ctx(t), now.Add(-time.Hour), time.Time{}, time.Time{}))(t)
	if g+u+bg != 0 || len(allAudit(t, s)) != n {
		t.Fatalf("second prune: %d %d %d, %d records (was %d)", g, u, bg, len(allAudit(t, s)), n)
	}
}

// must3 is must for three results.
func must3[T, U, V any](v T, u U, w V, err error) func(testing.TB) (T, U, V) {
	return func(tb testing.TB) (T, U, V) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v, u, w
	}
}
