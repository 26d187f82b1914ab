package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/postgres"
	"github.com/aicred/aicred/sqlite"
)

// twoStores opens two handles on one database, as two gateway processes
// would: the same SQLite file, or one PostgreSQL schema.
type twoStores func(tb testing.TB) (aicred.Store, aicred.Store)

func sqliteTwo(tb testing.TB) (aicred.Store, aicred.Store) {
	path := filepath.Join(tb.TempDir(), "aicred.db")
	return openSQLite(tb, path), openSQLite(tb, path)
}

func postgresTwo(tb testing.TB) (aicred.Store, aicred.Store) {
	base := os.Getenv("AICRED_TEST_POSTGRES")
	if base == "" {
		tb.Skip("AICRED_TEST_POSTGRES is not set: skipping the PostgreSQL case")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "aicred_gw_" + hex.EncodeToString(b[:])
	exec := func(q string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	tb.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	open := func() aicred.Store {
		s, err := postgres.Open(context.Background(), u.String())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(&lockedBuffer{}, nil)) }

func leased(tb testing.TB, st aicred.BudgetService, cfg LeaseConfig) *LeasedAdmission {
	tb.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	a := NewLeasedAdmission(st, cfg)
	tb.Cleanup(func() { a.Close(context.Background()) })
	return a
}

// TestLeasedAdmissionSharedBudget: two gateway processes (two
// LeasedAdmissions over two store handles) admit 200 concurrent requests
// each against one budget, settling each as it is admitted or all of
// them only at the end. Whatever the interleaving, what they settle in
// total stays within the budget plus one request's reservation (and what
// they hold reserved at once within the budget), and once both close the
// store's spend is exactly what they settled.
func TestLeasedAdmissionSharedBudget(t *testing.T) {
	backends := []struct {
		name string
		open twoStores
	}{{"sqlite", sqliteTwo}, {"postgres", postgresTwo}}
	budgets := []struct {
		name   string
		limits Limits
		scope  func(q AdmitRequest, now time.Time) string
	}{
		{"token", Limits{TokenUSD: 2}, func(q AdmitRequest, _ time.Time) string { return aicred.TokenBudgetScope(q.TokenID) }},
		{"workload", Limits{WorkloadDailyUSD: 2}, func(q AdmitRequest, now time.Time) string { return aicred.WorkloadDayScope(q.Workload, now) }},
	}
	for _, be := range backends {
		for _, bg := range budgets {
			for _, late := range []bool{false, true} {
				name := be.name + "/" + bg.name + "/settle-at-once"
				if late {
					name = be.name + "/" + bg.name + "/settle-after-all"
				}
				t.Run(name, func(t *testing.T) {
					sharedBudget(t, be.open, bg.limits, bg.scope, late)
				})
			}
		}
	}
}

func sharedBudget(t *testing.T, open twoStores, limits Limits, scopeOf func(AdmitRequest, time.Time) string, late bool) {
	s1, s2 := open(t)
	adms := []*LeasedAdmission{
		leased(t, s1, LeaseConfig{Holder: "gw-1", TTL: time.Minute}),
		leased(t, s2, LeaseConfig{Holder: "gw-2", TTL: time.Minute}),
	}
	const perProcess = 200
	type admitted struct {
		adm  *LeasedAdmission
		t    Ticket
		real float64
	}
	var (
		mu                            sync.Mutex
		held                          []admitted
		reserved, settled, maxReserve float64
		refused                       int
	)
	var wg sync.WaitGroup
	for p, adm := range adms {
		for i := range perProcess {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := mrand.New(mrand.NewPCG(uint64(p), uint64(i)))
				// Different tokens of one workload for the workload
				// budget; one token for the token budget.
				tok := "tok_shared"
				if limits.WorkloadDailyUSD > 0 {
					tok = "tok_" + string(rune('a'+i%26))
				}
				cost := 0.01 + 0.04*r.Float64()
				q := AdmitRequest{TokenID: tok, Workload: "https://issuer repo:acme/app", Limits: limits, CostUSD: cost, Tokens: 1000}
				tk, err := adm.Admit(context.Background(), q)
				if err != nil {
					if _, ok := err.(*AdmitError); !ok {
						t.Error(err)
					}
					mu.Lock()
					refused++
					mu.Unlock()
					return
				}
				a := admitted{adm, tk, cost * (0.3 + 0.7*r.Float64())}
				mu.Lock()
				reserved += cost
				settled += a.real
				maxReserve = max(maxReserve, cost)
				if late {
					held = append(held, a)
				}
				mu.Unlock()
				if !late {
					adm.Settle(context.Background(), tk, a.real, 500)
				}
			}()
		}
	}
	wg.Wait()
	limit := limits.TokenUSD + limits.WorkloadDailyUSD
	if late && reserved > limit+1e-9 {
		t.Fatalf("$%.4f reserved at once: more than the budget $%.2f", reserved, limit)
	}
	for _, a := range held {
		a.adm.Settle(context.Background(), a.t, a.real, 500)
	}
	admittedN := 2*perProcess - refused
	t.Logf("admitted %d, refused %d, reserved $%.4f, settled $%.4f of $%.2f", admittedN, refused, reserved, settled, limit)
	if settled > limit+maxReserve {
		t.Fatalf("settled $%.4f: more than the budget $%.2f plus one reservation $%.4f", settled, limit, maxReserve)
	}
	if admittedN == 0 || refused == 0 {
		t.Fatalf("admitted %d, refused %d: the budget should admit some and refuse others", admittedN, refused)
	}
	scope := scopeOf(AdmitRequest{TokenID: "tok_shared", Workload: "https://issuer repo:acme/app"}, time.Now())
	for _, adm := range adms {
		if err := adm.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := s1.GetBudget(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	if b.Leases != 0 || math.Abs(b.SpentUSD-settled) > 1e-6 {
		t.Fatalf("after Close the store has spent $%.6f with %d leases out; the processes settled $%.6f", b.SpentUSD, b.Leases, settled)
	}
}

// Environment of the lease helper process (TestLeaseHelperProcess).
const (
	envLeaseHelper = "AICRED_GATEWAY_LEASE_HELPER" // the store's path
	leaseHelperTTL = 300 * time.Millisecond
)

// TestLeaseHelperProcess is not a test: TestLeasedAdmissionDeadHolder
// runs the test binary again with envLeaseHelper set, and this admits one
// request (taking an allowance), says so, and waits to be killed.
func TestLeaseHelperProcess(t *testing.T) {
	path := os.Getenv(envLeaseHelper)
	if path == "" {
		t.Skip("helper process only")
	}
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	adm := NewLeasedAdmission(st, LeaseConfig{Holder: "doomed", TTL: leaseHelperTTL, Log: quietLog()})
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 10}, CostUSD: 0.1, Tokens: 10}
	if _, err := adm.Admit(context.Background(), q); err != nil { // takes a $2 allowance, never settles
		t.Fatal(err)
	}
	os.Stdout.WriteString("admitted\n")
	select {}
}

// TestLeasedAdmissionDeadHolder: a gateway process killed (SIGKILL)
// while holding an allowance leaves a lease that expires and is then
// charged in full; the survivor never gets it back as unspent.
func TestLeasedAdmissionDeadHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	live := openSQLite(t, path)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseHelperProcess$")
	cmd.Env = append(os.Environ(), envLeaseHelper+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "admitted\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	const ttl = leaseHelperTTL
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 10}, CostUSD: 0.1, Tokens: 10}
	scope := aicred.TokenBudgetScope("tok_1")
	b, err := live.GetBudget(context.Background(), scope)
	if err != nil || b.Leases != 1 || math.Abs(b.OutstandingUSD-2) > 1e-9 {
		t.Fatalf("the killed process's lease: %+v %v", b, err)
	}

	survivor := leased(t, live, LeaseConfig{Holder: "survivor", TTL: time.Minute})
	big := q
	big.CostUSD = 7.5 // fits in the $8 the dead lease leaves
	if _, err := survivor.Admit(context.Background(), big); err != nil {
		t.Fatalf("8 of 10 are left: %v", err)
	}
	time.Sleep(2 * ttl)
	more := q
	more.CostUSD = 0.6 // $0.5 is left; $2.5 had the dead lease been freed
	if _, err := survivor.Admit(context.Background(), more); err == nil {
		t.Fatal("the dead holder's allowance came back as unspent")
	} else if ae, ok := err.(*AdmitError); !ok || ae.Reason != RefusedTokenBudget {
		t.Fatalf("want a token budget refusal, got %v", err)
	}
	b, err = live.GetBudget(context.Background(), scope)
	if err != nil || math.Abs(b.SpentUSD-2) > 1e-9 || b.Leases != 1 {
		t.Fatalf("after expiry the dead lease must be spend ($2) and only the survivor's lease left: %+v %v", b, err)
	}
}

// lockStore holds SQLite's write lock from another connection, as a busy
// or wedged writer would, until the returned func is called.
func lockStore(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
	}
}

// TestLeasedAdmissionStoreDown: with the store unreachable, a request the
// allowance in hand covers is admitted; one that needs a new allowance is
// refused with ErrUnavailable (the gateway's 503), not admitted.
func TestLeasedAdmissionStoreDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	st := openSQLite(t, path, sqlite.BusyTimeout(200*time.Millisecond))
	const retry = 50 * time.Millisecond
	adm := leased(t, st, LeaseConfig{TTL: time.Minute, DryRetry: retry})
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 10}, CostUSD: 0.01, Tokens: 10}
	tk, err := adm.Admit(context.Background(), q) // takes $1
	if err != nil {
		t.Fatal(err)
	}
	adm.Settle(context.Background(), tk, 0.01, 10)

	unlock := lockStore(t, path)
	small := q
	small.CostUSD = 0.5
	if tk, err = adm.Admit(context.Background(), small); err != nil {
		t.Fatalf("the allowance in hand covers it: %v", err)
	}
	adm.Settle(context.Background(), tk, 0.5, 10)
	big := q
	big.CostUSD = 5
	// Many requests short of allowance at once: one waits for the store,
	// the others fail with it instead of each waiting in turn.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := adm.Admit(context.Background(), big)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if _, isRefusal := err.(*AdmitError); err == nil || isRefusal || aicred.KindOf(err) != aicred.ErrUnavailable {
			t.Fatalf("store down, allowance short: want ErrUnavailable, got %v", err)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("20 requests took %s to be refused: they queued on the store's 200ms timeout one by one", took)
	}
	unlock()
	time.Sleep(2 * retry)
	if tk, err = adm.Admit(context.Background(), big); err != nil {
		t.Fatalf("store back: %v", err)
	}
	adm.Settle(context.Background(), tk, 5, 10)
}

// TestLeasedAdmissionRatesIdleAndClose: rate limits and concurrency stay
// per process (MemoryAdmission); an idle allowance is returned with its
// spend; after Close nothing budgeted is admitted.
func TestLeasedAdmissionRatesIdleAndClose(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "aicred.db"))
	adm := leased(t, st, LeaseConfig{TTL: time.Minute, Idle: 100 * time.Millisecond, Tick: 20 * time.Millisecond})
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 10, Concurrent: 1}, CostUSD: 0.2, Tokens: 10}
	tk, err := adm.Admit(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Admit(context.Background(), q); err == nil {
		t.Fatal("a second concurrent request passed Concurrent: 1")
	} else if ae, ok := err.(*AdmitError); !ok || ae.Reason != RefusedConcurrency {
		t.Fatalf("want a concurrency refusal, got %v", err)
	}
	// The refused request released its budget reservation.
	if g, _, r := adm.Held(aicred.TokenBudgetScope("tok_1")); g != 4 || math.Abs(r-0.2) > 1e-12 {
		t.Fatalf("held %v, reserved %v; want 4 (20 x 0.2) and 0.2", g, r)
	}
	adm.Settle(context.Background(), tk, 0.15, 5)
	waitFor(t, "the idle allowance to be returned", func() bool {
		b, err := st.GetBudget(context.Background(), aicred.TokenBudgetScope("tok_1"))
		return err == nil && b.Leases == 0 && math.Abs(b.SpentUSD-0.15) < 1e-9
	})
	if err := adm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Admit(context.Background(), q); aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("after Close: %v", err)
	}
}

// BenchmarkLeasedAdmitSettle: Admit + Settle against an allowance in
// hand (no store round trip), with rate limits on, as the gateway's hot
// path runs it.
func BenchmarkLeasedAdmitSettle(b *testing.B) {
	st := openSQLite(b, filepath.Join(b.TempDir(), "aicred.db"))
	adm := leased(b, st, LeaseConfig{TTL: time.Minute, SliceFraction: 0.5})
	q := AdmitRequest{TokenID: "tok_1", TokenExpires: time.Now().Add(time.Hour), Workload: "https://issuer repo:acme/app",
		Limits: Limits{TokenUSD: 1e6, WorkloadDailyUSD: 1e6, RequestsPerMinute: 1e9, Concurrent: 1e6}, CostUSD: 1e-6, Tokens: 100}
	ctx := context.Background()
	tk, err := adm.Admit(ctx, q) // warm: take the allowances
	if err != nil {
		b.Fatal(err)
	}
	adm.Settle(ctx, tk, 1e-6, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tk, err := adm.Admit(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		adm.Settle(ctx, tk, 1e-6, 100)
	}
}

// BenchmarkLeasedAdmitSettleParallel: the same from every core, tokens of
// one workload sharing its daily allowance.
func BenchmarkLeasedAdmitSettleParallel(b *testing.B) {
	st := openSQLite(b, filepath.Join(b.TempDir(), "aicred.db"))
	adm := leased(b, st, LeaseConfig{TTL: time.Minute, SliceFraction: 0.5})
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		q := AdmitRequest{TokenID: "tok_" + string(rune('a'+next.Add(1)%26)), TokenExpires: time.Now().Add(time.Hour),
			Workload: "https://issuer repo:acme/app", Limits: Limits{TokenUSD: 1e6, WorkloadDailyUSD: 1e6, RequestsPerMinute: 1e9},
			CostUSD: 1e-6, Tokens: 100}
		for pb.Next() {
			tk, err := adm.Admit(ctx, q)
			if err != nil {
				b.Error(err)
				return
			}
			adm.Settle(ctx, tk, 1e-6, 100)
		}
	})
}

// TestGatewayWithStoreBudgets runs the gateway as `aicred serve` would
// with a shared store: budgets through a LeasedAdmission, usage through a
// StoreRecorder. With the store locked, a request the allowance in hand
// covers goes through; one that needs a new allowance gets the
// provider's 503 shape and never reaches upstream. Afterwards the store
// holds every usage record and the budget's spend is their cost.
func TestGatewayWithStoreBudgets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	st := openSQLite(t, path, sqlite.BusyTimeout(50*time.Millisecond))
	adm := leased(t, st, LeaseConfig{TTL: time.Minute})
	rec := NewStoreRecorder(st, StoreRecorderConfig{Log: quietLog()})
	f := newFixture(t, 31, func(c *Config) {
		role := &broker.Role{Name: "chat-role", Budget: broker.Budget{PerTokenUSD: 0.05}}
		c.Roles = func(name string) (*broker.Role, bool) { return role, name == role.Name }
		c.Admission, c.Usage = adm, rec
	})
	f.openai = exactUsage(false)
	small := reservation(t, "openai", "gpt-4o-mini", oaiBody)
	// Three completions of up to the model's most output (16384 tokens).
	bigBody := strings.Replace(oaiBody, `"max_tokens":1000`, `"max_tokens":16384,"n":3`, 1)
	if big := reservation(t, "openai", "gpt-4o-mini", bigBody); big < 0.02 || 20*small > 0.02 {
		t.Fatalf("reservations %v and %v: the test needs the big one above the first allowance (max(10%% of the limit, 20 small ones))", small, big)
	}

	if st, body := f.post(t, "/v1/chat/completions", f.token, oaiBody); st != 200 {
		t.Fatalf("store up: %d %s", st, body)
	}
	unlock := lockStore(t, path)
	if st, body := f.post(t, "/v1/chat/completions", f.token, oaiBody); st != 200 {
		t.Fatalf("store locked, allowance in hand: %d %s", st, body)
	}
	status, body := f.post(t, "/v1/chat/completions", f.token, bigBody)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("store locked, allowance short: %d %s", status, body)
	}
	openAIShaped(t, body)
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	if calls != 2 {
		t.Fatalf("upstream called %d times, want 2: a request refused for want of an allowance must not reach it", calls)
	}
	unlock()

	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := adm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := st.ListUsage(context.Background(), aicred.UsageFilter{TokenID: f.grantID})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d usage records in the store, want 2 (%v)", len(recs), err)
	}
	b, err := st.GetBudget(context.Background(), aicred.TokenBudgetScope(f.grantID))
	if err != nil || b.Leases != 0 || math.Abs(b.SpentUSD-(recs[0].CostUSD+recs[1].CostUSD)) > 1e-9 {
		t.Fatalf("budget %+v (%v): want the two records' cost spent and no lease out", b, err)
	}
}

// TestLeasedAdmissionOverrun: a request that costs more than its
// reservation (and than the allowance in hand) is charged in full: a
// spent lease is retired to the store while another carries the excess,
// and the store's spend ends equal to what was settled.
func TestLeasedAdmissionOverrun(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "aicred.db"))
	adm := leased(t, st, LeaseConfig{TTL: time.Minute, Idle: time.Minute, Tick: 10 * time.Millisecond})
	scope := aicred.TokenBudgetScope("tok_1")
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 10}, CostUSD: 0.1, Tokens: 10}
	tk, err := adm.Admit(context.Background(), q) // a $2 allowance
	if err != nil {
		t.Fatal(err)
	}
	adm.Settle(context.Background(), tk, 2.5, 10)                 // $0.5 more than the allowance
	if tk, err = adm.Admit(context.Background(), q); err != nil { // a second $2
		t.Fatal(err)
	}
	adm.Settle(context.Background(), tk, 0.1, 10)
	waitFor(t, "the spent allowance to be retired", func() bool {
		b, err := st.GetBudget(context.Background(), scope)
		return err == nil && b.Leases == 1 && math.Abs(b.SpentUSD-2) < 1e-9
	})
	if err := adm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := st.GetBudget(context.Background(), scope)
	if err != nil || b.Leases != 0 || math.Abs(b.SpentUSD-2.6) > 1e-9 {
		t.Fatalf("after Close: %+v %v; want $2.60 spent, no lease", b, err)
	}
}

// silentStore is a store behind a black-holed network while silent is
// set: every call waits, answering nothing, until its context ends.
type silentStore struct {
	aicred.BudgetService
	silent atomic.Bool
	renews atomic.Int64
}

func (s *silentStore) wait(ctx context.Context) error {
	if !s.silent.Load() {
		return nil
	}
	<-ctx.Done()
	return aicred.Errorf(aicred.ErrUnavailable, "silent store: %w", ctx.Err())
}

func (s *silentStore) TakeAllowance(ctx context.Context, q aicred.AllowanceRequest) (aicred.Allowance, error) {
	if err := s.wait(ctx); err != nil {
		return aicred.Allowance{}, err
	}
	return s.BudgetService.TakeAllowance(ctx, q)
}

func (s *silentStore) ReturnAllowance(ctx context.Context, id string, spent float64) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.BudgetService.ReturnAllowance(ctx, id, spent)
}

func (s *silentStore) RenewAllowance(ctx context.Context, id string, ttl time.Duration) (aicred.Allowance, error) {
	if err := s.wait(ctx); err != nil {
		return aicred.Allowance{}, err
	}
	s.renews.Add(1)
	return s.BudgetService.RenewAllowance(ctx, id, ttl)
}

// TestLeasedAdmissionSilentStore: with the store black-holed (it
// answers nothing and refuses nothing, as the chaos harness found), a
// request short of allowance fails closed within StoreTimeout even when
// its own context has no deadline, and the maintenance loop is not held:
// once the store answers again, leases are renewed.
func TestLeasedAdmissionSilentStore(t *testing.T) {
	st := &silentStore{BudgetService: openSQLite(t, filepath.Join(t.TempDir(), "aicred.db"))}
	const timeout = 100 * time.Millisecond
	adm := leased(t, st, LeaseConfig{TTL: time.Second, Tick: 50 * time.Millisecond, Idle: time.Minute,
		StoreTimeout: timeout, DryRetry: 10 * time.Millisecond})
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 10}, CostUSD: 0.01, Tokens: 10}
	tk, err := adm.Admit(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	adm.Settle(context.Background(), tk, 0.01, 10)

	st.silent.Store(true)
	big := q
	big.CostUSD = 5
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := adm.Admit(context.Background(), big)
		errc <- err
	}()
	select {
	case err = <-errc:
	case <-time.After(20 * timeout):
		t.Fatalf("a request waited more than %v on a silent store (StoreTimeout %v)", 20*timeout, timeout)
	}
	if _, refused := err.(*AdmitError); err == nil || refused || aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("silent store, allowance short: want ErrUnavailable after %v, got %v", time.Since(start), err)
	}
	time.Sleep(600 * time.Millisecond) // a renewal falls due (at TTL/2) and fails
	st.silent.Store(false)
	before := st.renews.Load()
	deadline := time.Now().Add(2 * time.Second)
	for st.renews.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no lease renewed after the store answered again: the maintenance loop is stuck")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if tk, err = adm.Admit(context.Background(), big); err != nil {
		t.Fatalf("store back: %v", err)
	}
	adm.Settle(context.Background(), tk, 5, 10)
}
