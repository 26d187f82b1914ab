package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred/broker"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withRole configures the fixture's gateway with one role ("chat-role",
// the fixture tokens' role) and an Admission the test can inspect.
func withRole(budget broker.Budget, rate broker.RateLimits, adm **MemoryAdmission) func(*Config) {
	return func(c *Config) {
		role := &broker.Role{Name: "chat-role", Budget: budget, Rate: rate}
		c.Roles = func(name string) (*broker.Role, bool) { return role, name == role.Name }
		*adm = NewMemoryAdmission(0, nil)
		c.Admission = *adm
	}
}

// exactUsage answers as the provider would with usage equal to the
// gateway's worst case (input its bytes plus the overhead, output max_tokens), so
// that the real cost equals the reservation.
func exactUsage(anthropic bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var q struct {
			MaxTokens int64 `json:"max_tokens"`
		}
		_ = json.Unmarshal(body, &q)
		in := int64(len(body)) + textOverheadTokens
		w.Header().Set("Content-Type", "application/json")
		if anthropic {
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":%d,"output_tokens":%d}}`, in, q.MaxTokens)
			return
		}
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, in, q.MaxTokens, in+q.MaxTokens)
	}
}

// reservation is the worst case the gateway reserves for body.
func reservation(t testing.TB, provider, model, body string) float64 {
	p, ok := DefaultPrices().Lookup(provider, model)
	if !ok {
		t.Fatalf("no price for %s/%s", provider, model)
	}
	f, err := parseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	x := &exchange{body: []byte(body), facts: f, price: p}
	return p.worstInput().Cost(x.estimate())
}

func (f *fixture) postH(t *testing.T, path, token, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const (
	oaiBody = `{"model":"gpt-4o-mini","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`
	antBody = `{"model":"claude-haiku-4-5","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`
)

func checkRefusal(t *testing.T, anthropic bool, body, wantCode string) {
	t.Helper()
	if anthropic {
		anthropicShaped(t, body)
		var e struct{ Error struct{ Type string } }
		_ = json.Unmarshal([]byte(body), &e)
		if e.Error.Type != "rate_limit_error" {
			t.Errorf("anthropic error type %q, want rate_limit_error", e.Error.Type)
		}
		return
	}
	openAIShaped(t, body)
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal([]byte(body), &e)
	if e.Error.Code != wantCode {
		t.Errorf("openai error code %q, want %q", e.Error.Code, wantCode)
	}
}

func TestBudgetRefusedBeforeUpstream(t *testing.T) {
	for _, tc := range []struct {
		name, path, body, provider, model string
		anthropic                         bool
	}{
		{"openai", "/v1/chat/completions", oaiBody, "openai", "gpt-4o-mini", false},
		{"anthropic", "/v1/messages", antBody, "anthropic", "claude-haiku-4-5", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var adm *MemoryAdmission
			r := reservation(t, tc.provider, tc.model, tc.body)
			f := newFixture(t, 200, withRole(broker.Budget{PerTokenUSD: r * 0.99}, broker.RateLimits{}, &adm))
			f.openai, f.anthropic = exactUsage(false), exactUsage(true)
			st, body, h := f.postH(t, tc.path, f.token, tc.body)
			if st != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429: %s", st, body)
			}
			checkRefusal(t, tc.anthropic, body, "insufficient_quota")
			if h.Get("Retry-After") != "" {
				t.Errorf("Retry-After %q on a spent token budget (waiting does not help)", h.Get("Retry-After"))
			}
			if n := f.upstreamCalls(); n != 0 {
				t.Errorf("upstream called %d times", n)
			}
			if s, res := adm.Spent(f.grantID); s != 0 || res != 0 {
				t.Errorf("spent %v reserved %v after a refusal", s, res)
			}
		})
	}
}

func TestSettleLowersSpendToRealCost(t *testing.T) {
	var adm *MemoryAdmission
	f := newFixture(t, 201, withRole(broker.Budget{PerTokenUSD: 10, PerWorkloadDailyUSD: 100}, broker.RateLimits{}, &adm))
	// The real usage: 10 prompt tokens, 20 completion tokens, far below
	// the reservation of max_tokens 1000.
	f.openai = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`)
	}
	r := reservation(t, "openai", "gpt-4o-mini", oaiBody)
	if st, body, _ := f.postH(t, "/v1/chat/completions", f.token, oaiBody); st != 200 {
		t.Fatalf("status %d: %s", st, body)
	}
	recs := f.waitRecords(t, 1)
	spent, reserved := adm.Spent(f.grantID)
	if reserved != 0 || !near(spent, recs[0].CostUSD) || recs[0].CostUSD >= r {
		t.Errorf("spent %v reserved %v; record %v, reservation %v", spent, reserved, recs[0].CostUSD, r)
	}
	ws, wr := adm.WorkloadSpent("https://issuer.test workload-a")
	if wr != 0 || !near(ws, recs[0].CostUSD) {
		t.Errorf("workload spent %v reserved %v", ws, wr)
	}
}

func TestSettleOnUpstreamFailures(t *testing.T) {
	var adm *MemoryAdmission
	f := newFixture(t, 202, withRole(broker.Budget{PerTokenUSD: 10}, broker.RateLimits{Concurrent: 1}, &adm))
	f.openai = func(w http.ResponseWriter, _ *http.Request) { http.Error(w, `{"error":{}}`, 500) }
	for i := range 3 { // Concurrent 1: a reservation left behind would refuse the next
		if st, body, _ := f.postH(t, "/v1/chat/completions", f.token, oaiBody); st != 500 {
			t.Fatalf("status %d: %s", st, body)
		}
		f.waitRecords(t, i+1)
	}
	if s, r := adm.Spent(f.grantID); s != 0 || r != 0 {
		t.Errorf("an upstream error (not billed): spent %v reserved %v", s, r)
	}
}

// TestReservationExpires: a reservation past its TTL is charged in full
// (the request may still be streaming), never released to make room, and
// its in-flight slot is freed; its late settlement corrects the charge to
// the real cost without freeing the slot again.
func TestReservationExpires(t *testing.T) {
	ctx := t.Context()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
	adm := NewMemoryAdmission(10*time.Minute, clk.Now)
	q := AdmitRequest{TokenID: "tok_1", Workload: "w", Limits: Limits{TokenUSD: 2, Concurrent: 1}, CostUSD: 0.6, Tokens: 100}
	t1, err := adm.Admit(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Admit(ctx, q); err == nil {
		t.Fatal("admitted over Concurrent: 1")
	}
	clk.Add(9 * time.Minute)
	if _, err := adm.Admit(ctx, q); err == nil {
		t.Fatal("in-flight slot freed before its TTL")
	}
	clk.Add(time.Minute)
	t2, err := adm.Admit(ctx, q) // the slot is free, the $0.6 charged
	if err != nil {
		t.Fatalf("expired reservation's slot still held: %v", err)
	}
	if s, r := adm.Spent("tok_1"); !near(s, 0.6) || !near(r, 0.6) {
		t.Errorf("spent %v reserved %v, want 0.6 (the expired one, charged) and 0.6", s, r)
	}
	// The first request finally settles: its real cost replaces the
	// charge, and the reservation that expired is not released twice.
	adm.Settle(ctx, t1, 0.3, 50)
	if s, r := adm.Spent("tok_1"); !near(s, 0.3) || !near(r, 0.6) {
		t.Errorf("spent %v reserved %v, want 0.3 and 0.6", s, r)
	}
	adm.Settle(ctx, t2, 0.5, 50)
	adm.Settle(ctx, t2, 0.5, 50) // a second settle of the same ticket changes nothing
	adm.Settle(ctx, t1, 0.3, 50)
	if s, r := adm.Spent("tok_1"); r != 0 || !near(s, 0.8) {
		t.Errorf("spent %v reserved %v, want 0.8 and 0", s, r)
	}
}

func TestRateLimits(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		limits Limits
		tokens int64
		reason string
		// then frees capacity: settle the first ticket or wait.
		free func(a *MemoryAdmission, clk *fakeClock, first Ticket)
	}{
		{"requests per minute", Limits{RequestsPerMinute: 2}, 10, RefusedRequestRate,
			func(_ *MemoryAdmission, clk *fakeClock, _ Ticket) { clk.Add(30 * time.Second) }},
		{"tokens per minute", Limits{TokensPerMinute: 1000}, 400, RefusedTokenRate,
			// Unused reserved tokens are given back on settle.
			func(a *MemoryAdmission, _ *fakeClock, first Ticket) { a.Settle(ctx, first, 0, 100) }},
		{"tokens per minute refill", Limits{TokensPerMinute: 1000}, 400, RefusedTokenRate,
			func(_ *MemoryAdmission, clk *fakeClock, _ Ticket) { clk.Add(13 * time.Second) }},
		{"concurrent", Limits{Concurrent: 2}, 10, RefusedConcurrency,
			func(a *MemoryAdmission, _ *fakeClock, first Ticket) { a.Settle(ctx, first, 0, 10) }},
		{"token budget", Limits{TokenUSD: 1}, 10, RefusedTokenBudget,
			func(a *MemoryAdmission, _ *fakeClock, first Ticket) { a.Settle(ctx, first, 0.1, 10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
			a := NewMemoryAdmission(0, clk.Now)
			q := AdmitRequest{TokenID: "tok", Workload: "w", Limits: tc.limits, CostUSD: 0.4, Tokens: tc.tokens}
			first, err := a.Admit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Admit(ctx, q); err != nil {
				t.Fatal(err)
			}
			_, err = a.Admit(ctx, q)
			ae, ok := err.(*AdmitError)
			if !ok || ae.Reason != tc.reason {
				t.Fatalf("third request: %v, want %s", err, tc.reason)
			}
			if tc.reason != RefusedTokenBudget && ae.RetryAfter <= 0 {
				t.Errorf("no Retry-After for %s", tc.reason)
			}
			// Another token is not affected.
			q2 := q
			q2.TokenID, q2.Workload = "tok2", "w2"
			if _, err := a.Admit(ctx, q2); err != nil {
				t.Errorf("another token refused: %v", err)
			}
			tc.free(a, clk, first)
			if _, err := a.Admit(ctx, q); err != nil {
				t.Errorf("after freeing capacity: %v", err)
			}
		})
	}
}

func TestRateLimitThroughGateway(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		anthropic        bool
	}{
		{"openai", "/v1/chat/completions", oaiBody, false},
		{"anthropic", "/v1/messages", antBody, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var adm *MemoryAdmission
			f := newFixture(t, 203, withRole(broker.Budget{}, broker.RateLimits{RequestsPerMinute: 1}, &adm))
			f.openai, f.anthropic = exactUsage(false), exactUsage(true)
			if st, body, _ := f.postH(t, tc.path, f.token, tc.body); st != 200 {
				t.Fatalf("status %d: %s", st, body)
			}
			st, body, h := f.postH(t, tc.path, f.token, tc.body)
			if st != 429 {
				t.Fatalf("status %d, want 429: %s", st, body)
			}
			checkRefusal(t, tc.anthropic, body, "rate_limit_exceeded")
			if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
				t.Errorf("Retry-After %q", h.Get("Retry-After"))
			}
			if n := f.upstreamCalls(); n != 1 {
				t.Errorf("upstream called %d times, want 1", n)
			}
		})
	}
}

func TestWorkloadDailyBudgetAcrossTokens(t *testing.T) {
	var adm *MemoryAdmission
	r := reservation(t, "openai", "gpt-4o-mini", oaiBody)
	f := newFixture(t, 204, withRole(broker.Budget{PerTokenUSD: 10 * r, PerWorkloadDailyUSD: 1.5 * r}, broker.RateLimits{}, &adm))
	f.openai = exactUsage(false)
	second, secondID := f.issue(t, nil2gen(205), []string{"chat", "model:gpt-4o-mini", "provider:openai"})
	if st, body, _ := f.postH(t, "/v1/chat/completions", f.token, oaiBody); st != 200 {
		t.Fatalf("first token: status %d: %s", st, body)
	}
	f.waitRecords(t, 1)
	st, body, h := f.postH(t, "/v1/chat/completions", second, oaiBody)
	if st != 429 {
		t.Fatalf("second token of the same workload: status %d, want 429: %s", st, body)
	}
	checkRefusal(t, false, body, "insufficient_quota")
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 86400 {
		t.Errorf("Retry-After %q, want the seconds until UTC midnight", h.Get("Retry-After"))
	}
	if n := f.upstreamCalls(); n != 1 {
		t.Errorf("upstream called %d times", n)
	}
	if s, _ := adm.Spent(secondID); s != 0 {
		t.Errorf("second token charged %v", s)
	}
	if ws, _ := adm.WorkloadSpent("https://issuer.test workload-a"); !near(ws, r) {
		t.Errorf("workload spent %v, want %v", ws, r)
	}
}

func TestWorkloadDailyBudgetResetsAtUTCMidnight(t *testing.T) {
	ctx := t.Context()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 23, 59, 0, 0, time.UTC)}
	a := NewMemoryAdmission(0, clk.Now)
	q := AdmitRequest{TokenID: "a", Workload: "w", Limits: Limits{WorkloadDailyUSD: 1}, CostUSD: 0.6}
	t1, err := a.Admit(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	a.Settle(ctx, t1, 0.6, 0)
	q.TokenID = "b"
	_, err = a.Admit(ctx, q)
	if ae, ok := err.(*AdmitError); !ok || ae.Reason != RefusedWorkloadBudget || ae.RetryAfter != time.Minute {
		t.Fatalf("got %v, want a workload refusal with a minute to wait", err)
	}
	clk.Add(time.Minute)
	if _, err := a.Admit(ctx, q); err != nil {
		t.Fatalf("a new UTC day: %v", err)
	}
}

// TestConcurrentBudget: 200 concurrent requests against one budget
// overspend by at most one request's reservation, and the refused ones
// never reach the provider.
func TestConcurrentBudget(t *testing.T) {
	var adm *MemoryAdmission
	const n = 200
	bodies := make([]string, n)
	var maxRes, sumRes float64
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"model":"gpt-4o-mini","max_tokens":%d,"messages":[{"role":"user","content":"request %d"}]}`, 500+i*37%2000, i)
		r := reservation(t, "openai", "gpt-4o-mini", bodies[i])
		maxRes = max(maxRes, r)
		sumRes += r
	}
	budget := sumRes / 7 // about 30 of the 200 fit
	f := newFixture(t, 206, withRole(broker.Budget{PerTokenUSD: budget}, broker.RateLimits{}, &adm))
	var upstream atomic.Int64
	exact := exactUsage(false)
	f.openai = func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		time.Sleep(2 * time.Millisecond) // keep requests in flight together
		exact(w, r)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", f.srv.URL+"/v1/chat/completions", strings.NewReader(bodies[i]))
			req.Header.Set("Authorization", "Bearer "+f.token)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				refused.Add(1)
				checkRefusal(t, false, string(b), "insufficient_quota")
			default:
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
		}()
	}
	close(start)
	wg.Wait()
	recs := f.waitRecords(t, int(ok.Load()))
	var charged float64
	for _, r := range recs {
		charged += r.CostUSD
	}
	t.Logf("admitted %d, refused %d, charged %.6f of %.6f (max reservation %.6f)", ok.Load(), refused.Load(), charged, budget, maxRes)
	if ok.Load() == 0 || refused.Load() == 0 || ok.Load()+refused.Load() != n {
		t.Errorf("admitted %d, refused %d", ok.Load(), refused.Load())
	}
	if charged > budget+maxRes {
		t.Errorf("charged %v over budget %v + one reservation %v", charged, budget, maxRes)
	}
	if got := upstream.Load(); got != ok.Load() {
		t.Errorf("upstream saw %d requests, %d were admitted", got, ok.Load())
	}
	if s, r := adm.Spent(f.grantID); r != 0 || !near(s, charged) {
		t.Errorf("admission: spent %v reserved %v, records %v", s, r, charged)
	}
}

// BenchmarkAdmitSettle is the admission cost of one request with every
// limit on.
func BenchmarkAdmitSettle(b *testing.B) {
	ctx := b.Context()
	a := NewMemoryAdmission(0, nil)
	q := AdmitRequest{TokenID: "tok_1", Workload: "iss sub", TokenExpires: time.Now().Add(time.Hour),
		Limits:  Limits{TokenUSD: 1e12, WorkloadDailyUSD: 1e12, RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, Concurrent: 1 << 20},
		CostUSD: 0.001, Tokens: 1000}
	b.ReportAllocs()
	for b.Loop() {
		t, err := a.Admit(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		a.Settle(ctx, t, 0.0005, 500)
	}
}

func BenchmarkAdmitSettleParallel(b *testing.B) {
	ctx := b.Context()
	a := NewMemoryAdmission(0, nil)
	var id atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		q := AdmitRequest{TokenID: fmt.Sprint("tok_", id.Add(1)), Workload: "iss sub", TokenExpires: time.Now().Add(time.Hour),
			Limits:  Limits{TokenUSD: 1e12, WorkloadDailyUSD: 1e12, RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, Concurrent: 1 << 20},
			CostUSD: 0.001, Tokens: 1000}
		for pb.Next() {
			t, err := a.Admit(ctx, q)
			if err != nil {
				b.Error(err)
				return
			}
			a.Settle(ctx, t, 0.0005, 500)
		}
	})
}

func TestUnknownRoleRefused(t *testing.T) {
	f := newFixture(t, 207, func(c *Config) {
		c.Roles = func(string) (*broker.Role, bool) { return nil, false }
	})
	f.openai = exactUsage(false)
	st, body, _ := f.postH(t, "/v1/chat/completions", f.token, oaiBody)
	if st != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %s", st, body)
	}
	openAIShaped(t, body)
	if n := f.upstreamCalls(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
}

// BenchmarkStagesAdmitted is BenchmarkStages with every limit on and the
// reservation settled, as the meter does.
func BenchmarkStagesAdmitted(b *testing.B) {
	var adm *MemoryAdmission
	f := newFixture(b, 99, withRole(broker.Budget{PerTokenUSD: 1e12, PerWorkloadDailyUSD: 1e12},
		broker.RateLimits{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, Concurrent: 1 << 20}, &adm))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(benchBody+"}"))
		req.Header.Set("Authorization", "Bearer "+f.token)
		x := &exchange{w: httptest.NewRecorder(), r: req, route: &route{surface: openAI, operation: "chat"}}
		for _, s := range f.gw.stages {
			if err := s.serve(x); err != nil {
				b.Fatal(err)
			}
		}
		if x.adm == nil {
			b.Fatal("not admitted")
		}
		x.settle(x.ticket.CostUSD/2, Usage{InputTokens: 10, OutputTokens: 10})
	}
}
