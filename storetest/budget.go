package storetest

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

func take(tb testing.TB, s aicred.Store, scope string, limit, want float64, ttl time.Duration) aicred.Allowance {
	tb.Helper()
	return must(s.TakeAllowance(ctx(tb), aicred.AllowanceRequest{Scope: scope, LimitUSD: limit, WantUSD: want, Holder: "storetest", TTL: ttl}))(tb)
}

func nearUSD(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func wantBudget(tb testing.TB, s aicred.Store, scope string, spent, out float64, leases int) {
	tb.Helper()
	bg := must(s.GetBudget(ctx(tb), scope))(tb)
	if !nearUSD(bg.SpentUSD, spent) || !nearUSD(bg.OutstandingUSD, out) || bg.Leases != leases {
		tb.Fatalf("budget %s: spent %v, outstanding %v in %d leases; want %v, %v in %d", scope, bg.SpentUSD, bg.OutstandingUSD, bg.Leases, spent, out, leases)
	}
}

func testBudgetTakeReturn(t *testing.T, b Backend) {
	s := open(t, b)
	scope := aicred.TokenBudgetScope(GrantID())
	a1 := take(t, s, scope, 10, 4, time.Minute)
	if a1.LeaseID == "" || !nearUSD(a1.GrantedUSD, 4) || !nearUSD(a1.LeftUSD, 6) || a1.Holder != "storetest" {
		t.Fatalf("first allowance: %+v", a1)
	}
	if d := time.Until(a1.ExpiresAt); d < 50*time.Second || d > 70*time.Second {
		t.Fatalf("expires in %s, want about a minute", d)
	}
	a2 := take(t, s, scope, 10, 8, time.Minute) // only 6 left
	if !nearUSD(a2.GrantedUSD, 6) || !nearUSD(a2.LeftUSD, 0) {
		t.Fatalf("second allowance: %+v", a2)
	}
	if a3 := take(t, s, scope, 10, 0.01, time.Minute); a3.GrantedUSD != 0 || a3.LeaseID != "" {
		t.Fatalf("a spent budget granted %+v", a3)
	}
	wantBudget(t, s, scope, 0, 10, 2)

	// Returning converts the lease into spend and frees the rest.
	if err := s.ReturnAllowance(ctx(t), a1.LeaseID, 1.25); err != nil {
		t.Fatal(err)
	}
	wantBudget(t, s, scope, 1.25, 6, 1)
	wantKind(t, s.ReturnAllowance(ctx(t), a1.LeaseID, 1.25), aicred.ErrNotFound)
	if a4 := take(t, s, scope, 10, 100, time.Minute); !nearUSD(a4.GrantedUSD, 2.75) {
		t.Fatalf("after a return: %+v, want the 2.75 released", a4)
	}
	// The real cost counts even above the grant.
	if err := s.ReturnAllowance(ctx(t), a2.LeaseID, 6.5); err != nil {
		t.Fatal(err)
	}
	wantBudget(t, s, scope, 7.75, 2.75, 1)

	// A lower limit (the role changed) grants nothing while spend and
	// leases exceed it; a higher one grants the difference.
	if a := take(t, s, scope, 5, 1, time.Minute); a.GrantedUSD != 0 {
		t.Fatalf("lowered limit granted %+v", a)
	}
	if a := take(t, s, scope, 20, 100, time.Minute); !nearUSD(a.GrantedUSD, 9.5) {
		t.Fatalf("raised limit granted %+v, want 9.5", a)
	}
	if bg := must(s.GetBudget(ctx(t), scope))(t); bg.LimitUSD != 20 {
		t.Fatalf("limit %v, want 20", bg.LimitUSD)
	}

	// Renewing keeps the grant and moves the expiry.
	a5 := take(t, s, aicred.WorkloadDayScope("https://issuer repo:acme/app", epoch), 1, 0.5, time.Minute)
	r := must(s.RenewAllowance(ctx(t), a5.LeaseID, time.Hour))(t)
	if r.LeaseID != a5.LeaseID || r.Scope != a5.Scope || !nearUSD(r.GrantedUSD, 0.5) || !nearUSD(r.LeftUSD, 0.5) ||
		time.Until(r.ExpiresAt) < 50*time.Minute || r.Holder != "storetest" {
		t.Fatalf("renewed: %+v", r)
	}
	// Budgets are independent.
	wantBudget(t, s, a5.Scope, 0, 0.5, 1)
}

func testBudgetInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	ok := aicred.AllowanceRequest{Scope: aicred.TokenBudgetScope("tok_1"), LimitUSD: 1, WantUSD: 1, Holder: "h", TTL: time.Minute}
	bad := []func(q *aicred.AllowanceRequest){
		func(q *aicred.AllowanceRequest) { q.Scope = "" },
		func(q *aicred.AllowanceRequest) { q.Scope = "token:" },
		func(q *aicred.AllowanceRequest) { q.Scope = "tenant:x" },
		func(q *aicred.AllowanceRequest) { q.Scope = "workload:https://i sub" },
		func(q *aicred.AllowanceRequest) { q.Scope = "workload:https://i sub:2025-13-01" },
		func(q *aicred.AllowanceRequest) { q.LimitUSD = -1 },
		func(q *aicred.AllowanceRequest) { q.WantUSD = math.NaN() },
		func(q *aicred.AllowanceRequest) { q.LimitUSD = math.Inf(1) },
		func(q *aicred.AllowanceRequest) { q.Holder = "" },
		func(q *aicred.AllowanceRequest) { q.TTL = 0 },
	}
	for _, mut := range bad {
		q := ok
		mut(&q)
		_, err := s.TakeAllowance(ctx(t), q)
		wantKind(t, err, aicred.ErrInvalid)
	}
	_, err := s.GetBudget(ctx(t), ok.Scope)
	wantKind(t, err, aicred.ErrNotFound)
	a := must(s.TakeAllowance(ctx(t), ok))(t)
	wantKind(t, s.ReturnAllowance(ctx(t), a.LeaseID, -1), aicred.ErrInvalid)
	wantKind(t, s.ReturnAllowance(ctx(t), a.LeaseID, math.NaN()), aicred.ErrInvalid)
	wantKind(t, s.ReturnAllowance(ctx(t), "lease_nope", 0), aicred.ErrNotFound)
	_, err = s.RenewAllowance(ctx(t), a.LeaseID, 0)
	wantKind(t, err, aicred.ErrInvalid)
	_, err = s.RenewAllowance(ctx(t), "lease_nope", time.Minute)
	wantKind(t, err, aicred.ErrNotFound)
	// A rejected call changed nothing.
	wantBudget(t, s, ok.Scope, 0, 1, 1)
}

// testBudgetExpiry: a lease neither returned nor renewed is charged in
// full; it is never released as unspent, and cannot be revived.
func testBudgetExpiry(t *testing.T, b Backend) {
	s := open(t, b)
	scope := aicred.TokenBudgetScope(GrantID())
	// Long enough for the renewal to come first on a loaded machine.
	const ttl = 600 * time.Millisecond
	dead := take(t, s, scope, 10, 3, ttl)
	alive := take(t, s, scope, 10, 2, ttl)
	must(s.RenewAllowance(ctx(t), alive.LeaseID, time.Minute))(t)
	time.Sleep(ttl + 200*time.Millisecond)

	_, err := s.RenewAllowance(ctx(t), dead.LeaseID, time.Minute)
	wantKind(t, err, aicred.ErrNotFound)
	// Not yet charged: it still counts as outstanding.
	wantBudget(t, s, scope, 0, 5, 2)
	a := take(t, s, scope, 10, 100, time.Minute)
	if !nearUSD(a.GrantedUSD, 5) {
		t.Fatalf("granted %v after the dead lease expired, want 5 (10 - 3 charged - 2 renewed)", a.GrantedUSD)
	}
	wantBudget(t, s, scope, 3, 7, 2)
	wantKind(t, s.ReturnAllowance(ctx(t), dead.LeaseID, 0), aicred.ErrNotFound)
	if err := s.ReturnAllowance(ctx(t), alive.LeaseID, 0.5); err != nil {
		t.Fatalf("the renewed lease: %v", err)
	}
	wantBudget(t, s, scope, 3.5, 5, 1)

	// A holder returning after expiry but before anyone charged it is
	// believed: nobody else counted it as free.
	late := take(t, aicred.Store(s), aicred.TokenBudgetScope(GrantID()), 1, 1, 100*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	if err := s.ReturnAllowance(ctx(t), late.LeaseID, 0.25); err != nil {
		t.Fatal(err)
	}
	wantBudget(t, s, late.Scope, 0.25, 0, 0)
}

// testBudgetConcurrent: goroutines on two store handles (two processes)
// race for one budget, returning some leases with part spent and keeping
// others. However they interleave, what is spent plus what is leased
// never exceeds the limit, and they exhaust it exactly.
func testBudgetConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	stores := []aicred.Store{s}
	if b.Reopen != nil {
		s2 := b.Reopen(t, s)
		t.Cleanup(func() { s2.Close() })
		stores = append(stores, s2)
	}
	scope := aicred.WorkloadDayScope("https://issuer repo:acme/race", time.Now())
	const limit, workers = 25.0, 16
	var (
		mu               sync.Mutex
		spent, held      float64
		grants, refusals int
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%len(stores)]
			r := mrand.New(mrand.NewPCG(uint64(w), 1))
			for {
				want := 0.1 + r.Float64()
				a, err := st.TakeAllowance(ctx(t), aicred.AllowanceRequest{Scope: scope, LimitUSD: limit, WantUSD: want,
					Holder: fmt.Sprintf("worker-%d", w), TTL: time.Minute})
				if err != nil {
					errs <- err
					return
				}
				if a.GrantedUSD == 0 {
					mu.Lock()
					refusals++
					mu.Unlock()
					return
				}
				var used float64
				keep := r.IntN(2) == 0
				if !keep {
					used = math.Round(a.GrantedUSD*r.Float64()*1e6) / 1e6
					if err := st.ReturnAllowance(ctx(t), a.LeaseID, used); err != nil {
						errs <- err
						return
					}
				}
				mu.Lock()
				grants++
				if keep {
					held += a.GrantedUSD
				} else {
					spent += used
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if spent+held > limit+1e-6 {
		t.Fatalf("spent %v + leased %v exceeds the limit %v", spent, held, limit)
	}
	if limit-(spent+held) > 1e-6 {
		t.Fatalf("spent %v + leased %v: the budget was not exhausted (limit %v)", spent, held, limit)
	}
	bg := must(s.GetBudget(ctx(t), scope))(t)
	if math.Abs(bg.SpentUSD-spent) > 1e-6 || math.Abs(bg.OutstandingUSD-held) > 1e-6 {
		t.Fatalf("store says spent %v, leased %v; workers saw %v, %v", bg.SpentUSD, bg.OutstandingUSD, spent, held)
	}
	t.Logf("%d grants, %d refusals across %d handles", grants, refusals, len(stores))
}
