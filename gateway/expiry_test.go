package gateway

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// Reservation expiry (see Admission): an expired reservation is charged
// in full and never makes room for new spend while its request may still
// be running; its in-flight slot is freed; a late Settle corrects the
// charge to the real cost (credit included) and frees nothing twice.

func wantRefused(t *testing.T, err error, reason string) {
	t.Helper()
	if ae, ok := err.(*AdmitError); !ok || ae.Reason != reason {
		t.Fatalf("got %v, want a %s refusal", err, reason)
	}
}

// TestMemoryExpiredReservationHoldsBudget is the review's probe: $1
// budget, $0.60 admitted, 11 minutes later another $0.60 must be refused.
func TestMemoryExpiredReservationHoldsBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		reason string
	}{
		{"token", Limits{TokenUSD: 1}, RefusedTokenBudget},
		{"workload", Limits{WorkloadDailyUSD: 1}, RefusedWorkloadBudget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			clk := &fakeClock{t: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
			adm := NewMemoryAdmission(0, clk.Now)
			q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: tc.limits, CostUSD: 0.6, Tokens: 100}
			t1, err := adm.Admit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(11 * time.Minute)
			_, err = adm.Admit(ctx, q)
			wantRefused(t, err, tc.reason)
			if s, r := adm.Spent("tok_1"); !near(s, 0.6) || r != 0 {
				t.Errorf("token spent %v reserved %v, want the expired 0.6 charged", s, r)
			}
			if s, r := adm.WorkloadSpent("w"); !near(s, 0.6) || r != 0 {
				t.Errorf("workload spent %v reserved %v, want the expired 0.6 charged", s, r)
			}
			adm.Settle(ctx, t1, 0.6, 100)
			if s, _ := adm.Spent("tok_1"); !near(s, 0.6) {
				t.Errorf("spent %v after the late settle at the reservation, want 0.6", s)
			}
		})
	}
}

// TestMemoryLateSettle: whatever the real cost, a late Settle leaves the
// spend at the real cost; the freed slot is not freed again; a second
// settle changes nothing.
func TestMemoryLateSettle(t *testing.T) {
	for _, real := range []float64{0.9, 0.6, 0.3, 0} {
		ctx := t.Context()
		clk := &fakeClock{t: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
		adm := NewMemoryAdmission(10*time.Minute, clk.Now)
		q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 3, WorkloadDailyUSD: 3, Concurrent: 1}, CostUSD: 0.6, Tokens: 100}
		t1, err := adm.Admit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(11 * time.Minute)
		t2, err := adm.Admit(ctx, q) // the expired slot was freed
		if err != nil {
			t.Fatalf("real %v: the expired reservation's slot was not freed: %v", real, err)
		}
		adm.Settle(ctx, t1, real, 50)
		adm.Settle(ctx, t1, real, 50)
		_, err = adm.Admit(ctx, q)
		wantRefused(t, err, RefusedConcurrency) // t2 is still in flight
		if s, r := adm.Spent("tok_1"); !near(s, real) || !near(r, 0.6) {
			t.Errorf("real %v: token spent %v reserved %v, want %v and 0.6", real, s, r, real)
		}
		if s, r := adm.WorkloadSpent("w"); !near(s, real) || !near(r, 0.6) {
			t.Errorf("real %v: workload spent %v reserved %v, want %v and 0.6", real, s, r, real)
		}
		adm.Settle(ctx, t2, 0.5, 50)
		adm.Settle(ctx, t2, 0.5, 50)
		if s, r := adm.Spent("tok_1"); !near(s, real+0.5) || r != 0 {
			t.Errorf("real %v: token spent %v reserved %v, want %v and 0", real, s, r, real+0.5)
		}
		if _, err := adm.Admit(ctx, q); err != nil {
			t.Errorf("real %v: nothing in flight, budget left: %v", real, err)
		}
	}
}

// TestMemoryLateSettleAcrossMidnight: an expired reservation is charged
// to the day it expires in; a late credit goes back only to that day, an
// excess to the day the settlement comes in.
func TestMemoryLateSettleAcrossMidnight(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name          string
		real          float64
		start         time.Time
		today, before float64 // the workload's spend today after the late settle; before it
	}{
		// Admitted 23:55, expires 00:05 (charged today), settled 00:20.
		{"charged today, credit", 0.2, time.Date(2026, 1, 2, 23, 55, 0, 0, time.UTC), 0.2, 0.6},
		{"charged today, excess", 0.9, time.Date(2026, 1, 2, 23, 55, 0, 0, time.UTC), 0.9, 0.6},
		// Admitted 23:30, expires 23:40 (charged yesterday), settled 00:20.
		{"charged yesterday, credit", 0.2, time.Date(2026, 1, 2, 23, 30, 0, 0, time.UTC), 0, 0},
		{"charged yesterday, excess", 0.9, time.Date(2026, 1, 2, 23, 30, 0, 0, time.UTC), 0.3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: tc.start}
			adm := NewMemoryAdmission(10*time.Minute, clk.Now)
			q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{WorkloadDailyUSD: 1}, CostUSD: 0.6}
			t1, err := adm.Admit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(11 * time.Minute)
			other := q
			other.TokenID, other.Workload, other.CostUSD = "tok_2", "w2", 0.01
			if _, err := adm.Admit(ctx, other); err != nil { // sweeps: charges t1
				t.Fatal(err)
			}
			clk.t = time.Date(2026, 1, 3, 0, 20, 0, 0, time.UTC)
			if _, err := adm.Admit(ctx, other); err != nil {
				t.Fatal(err)
			}
			if _, err := adm.Admit(ctx, AdmitRequest{TokenID: "tok_3", Workload: "w", Limits: Limits{WorkloadDailyUSD: 1}}); err != nil {
				t.Fatal(err) // rolls w to today
			}
			if s, _ := adm.WorkloadSpent("w"); !near(s, tc.before) {
				t.Fatalf("today's spend %v before the late settle, want %v", s, tc.before)
			}
			adm.Settle(ctx, t1, tc.real, 0)
			if s, _ := adm.WorkloadSpent("w"); math.Abs(s-tc.today) > 1e-9 {
				t.Errorf("today's spend %v after the late settle, want %v", s, tc.today)
			}
			if s, _ := adm.Spent("tok_1"); !near(s, tc.real) {
				t.Errorf("token spend %v, want the real %v (a lifetime budget)", s, tc.real)
			}
		})
	}
}

// TestMemoryLateSettleForgotten: a settlement later than lateKeep after
// the expiry is ignored: the reservation stays charged.
func TestMemoryLateSettleForgotten(t *testing.T) {
	ctx := t.Context()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
	adm := NewMemoryAdmission(10*time.Minute, clk.Now)
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 3}, CostUSD: 0.6}
	t1, err := adm.Admit(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	other := AdmitRequest{TokenID: "tok_2", Workload: "w2", Limits: Limits{TokenUSD: 3}, CostUSD: 0.01}
	clk.Add(11 * time.Minute)
	adm.Admit(ctx, other) // charges t1
	clk.Add(lateKeep(10*time.Minute) + time.Minute)
	adm.Admit(ctx, other) // forgets it
	adm.mu.Lock()
	_, kept := adm.expired[t1.ID]
	adm.mu.Unlock()
	if kept {
		t.Fatal("the expired reservation is still remembered")
	}
	adm.Settle(ctx, t1, 0.1, 0)
	if s, r := adm.Spent("tok_1"); !near(s, 0.6) || r != 0 {
		t.Errorf("spent %v reserved %v, want 0.6 (the reservation) and 0", s, r)
	}
}

// leasedClock returns a LeasedAdmission on a fresh SQLite store with a
// fake clock; maintenance runs only when the test calls tick. Its leases
// live a day, so that the store (on the real clock) keeps them while the
// fake clock moves an hour or so.
func leasedClock(t *testing.T) (*LeasedAdmission, aicred.BudgetService, *fakeClock) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "aicred.db"))
	clk := &fakeClock{t: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
	adm := leased(t, st, LeaseConfig{TTL: 24 * time.Hour, Tick: 24 * time.Hour, Idle: time.Minute, ReservationTTL: 10 * time.Minute, Now: clk.Now})
	return adm, st, clk
}

// TestLeasedExpiredReservationHoldsBudget: the probe with leases; the
// expired reservation is spend, so the second request is refused.
func TestLeasedExpiredReservationHoldsBudget(t *testing.T) {
	ctx := t.Context()
	adm, _, clk := leasedClock(t)
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 1}, CostUSD: 0.6, Tokens: 100}
	if _, err := adm.Admit(ctx, q); err != nil {
		t.Fatal(err)
	}
	clk.Add(11 * time.Minute)
	adm.tick(ctx)
	if g, s, r := adm.Held(aicred.TokenBudgetScope("tok_1")); g != 1 || !near(s, 0.6) || r != 0 {
		t.Fatalf("held %v spent %v reserved %v, want 1, 0.6 (charged at expiry), 0", g, s, r)
	}
	_, err := adm.Admit(ctx, q)
	wantRefused(t, err, RefusedTokenBudget)
}

// TestLeasedLateSettle: a late Settle's real cost, above or below the
// reservation, even above the allowance, reaches the store's spend; the
// pool keeps its lease for it while otherwise idle; a second settle
// changes nothing; the slot freed at expiry is not freed again.
func TestLeasedLateSettle(t *testing.T) {
	for _, real := range []float64{1.5, 0.9, 0.6, 0.3} {
		ctx := t.Context()
		adm, st, clk := leasedClock(t)
		limits := Limits{TokenUSD: 10, WorkloadDailyUSD: 10, Concurrent: 1}
		q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: limits, CostUSD: 0.6, Tokens: 100}
		scopes := []string{aicred.TokenBudgetScope("tok_1"), aicred.WorkloadDayScope("w", clk.Now())}
		t1, err := adm.Admit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(11 * time.Minute)
		adm.tick(ctx)
		small := q
		small.CostUSD = 0.1
		t2, err := adm.Admit(ctx, small) // the expired slot was freed
		if err != nil {
			t.Fatalf("real %v: %v", real, err)
		}
		adm.Settle(ctx, t2, 0.1, 10)
		clk.Add(5 * time.Minute) // idle long past Idle: only the late settlement keeps the lease
		adm.tick(ctx)
		for _, sc := range scopes {
			if g, s, _ := adm.Held(sc); g != 10 || !near(s, 0.7) {
				t.Fatalf("real %v: %s: held %v spent %v, want the lease kept with 0.7 spent", real, sc, g, s)
			}
		}
		t3, err := adm.Admit(ctx, small) // in flight while t1 settles late
		if err != nil {
			t.Fatalf("real %v: %v", real, err)
		}
		adm.Settle(ctx, t1, real, 100)
		adm.Settle(ctx, t1, real, 100)
		_, err = adm.Admit(ctx, small)
		wantRefused(t, err, RefusedConcurrency) // t3's slot, not freed by t1's late settle
		adm.Settle(ctx, t3, 0.1, 10)
		want := real + 0.2
		for _, sc := range scopes {
			if _, s, r := adm.Held(sc); math.Abs(s-want) > 1e-9 || r != 0 {
				t.Errorf("real %v: %s: spent %v reserved %v, want %v and 0", real, sc, s, r, want)
			}
		}
		clk.Add(5 * time.Minute)
		adm.tick(ctx) // idle now: the lease goes back with the spend
		for _, sc := range scopes {
			b, err := st.GetBudget(ctx, sc)
			if err != nil || b.Leases != 0 || math.Abs(b.SpentUSD-want) > 1e-9 {
				t.Errorf("real %v: %s in the store: %+v %v, want $%v spent and no lease", real, sc, b, err, want)
			}
		}
	}
}

// TestLeasedLateSettleForgotten: past LateSettle the pool stops waiting,
// its lease goes back with the reservation charged, and a settlement
// after that changes nothing.
func TestLeasedLateSettleForgotten(t *testing.T) {
	ctx := t.Context()
	adm, st, clk := leasedClock(t)
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 1}, CostUSD: 0.6, Tokens: 100}
	t1, err := adm.Admit(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(11 * time.Minute)
	adm.tick(ctx)
	clk.Add(adm.cfg.LateSettle + time.Minute)
	adm.tick(ctx) // forgets t1
	adm.tick(ctx) // returns the idle lease
	scope := aicred.TokenBudgetScope("tok_1")
	b, err := st.GetBudget(ctx, scope)
	if err != nil || b.Leases != 0 || math.Abs(b.SpentUSD-0.6) > 1e-9 {
		t.Fatalf("store: %+v %v, want $0.6 spent and no lease", b, err)
	}
	adm.Settle(ctx, t1, 0.1, 10)
	if g, s, r := adm.Held(scope); g != 0 || s != 0 || r != 0 {
		t.Errorf("held %v spent %v reserved %v after a settlement too late", g, s, r)
	}
}

// TestLeasedCloseWithLateReservation: Close returns a lease kept for a
// late settlement, with the reservation charged; a Settle after Close
// changes nothing.
func TestLeasedCloseWithLateReservation(t *testing.T) {
	ctx := t.Context()
	adm, st, clk := leasedClock(t)
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 1}, CostUSD: 0.6, Tokens: 100}
	t1, err := adm.Admit(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(11 * time.Minute)
	adm.tick(ctx)
	if err := adm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	adm.Settle(ctx, t1, 0.9, 10)
	b, err := st.GetBudget(ctx, aicred.TokenBudgetScope("tok_1"))
	if err != nil || b.Leases != 0 || math.Abs(b.SpentUSD-0.6) > 1e-9 {
		t.Fatalf("store: %+v %v, want $0.6 spent and no lease", b, err)
	}
}
