package gateway

import (
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/aicred/aicred/broker"
)

// Perplexity's Sonar models charge a search fee per request on top of
// their tokens: the shipped table holds the fee at the largest search
// context size, the reservation includes it (a budget of less than the
// worst case is refused before Perplexity), and the recorded cost is the
// tokens reported plus the fee, whatever context size the request asked
// for or Perplexity reports.
func TestPerRequestFeeCharged(t *testing.T) {
	p, ok := DefaultPrices().Lookup("perplexity", "sonar-pro")
	if !ok || p.PerRequest != 0.014 {
		t.Fatalf("sonar-pro in the shipped table: %+v %v", p, ok)
	}
	if _, ok := DefaultPrices().Lookup("perplexity", "sonar-deep-research"); ok {
		t.Fatal("sonar-deep-research is priced: its citation tokens and searches are not bounded")
	}
	body := `{"model":"sonar-pro","messages":[{"role":"user","content":"latest on RFC 8693"}],"max_tokens":100}`
	r := reservation(t, "perplexity", "sonar-pro", body)
	if r < 0.014 {
		t.Fatalf("reservation %v does not hold the search fee", r)
	}
	pp := newProviderUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// Perplexity's answer: usage with the search context size used.
		fmt.Fprint(w, `{"id":"pplx-1","model":"sonar-pro","object":"chat.completion","created":1,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"..."},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050,"search_context_size":"low","cost":{"request_cost":0.006,"total_cost":0.00975}}}`)
	})
	for _, tc := range []struct {
		name   string
		budget float64
		status int
	}{
		{"budget below the worst case", r * 0.99, http.StatusTooManyRequests},
		{"budget at the worst case", r, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var adm *MemoryAdmission
			f := newFixture(t, 410, func(c *Config) {
				withRole(broker.Budget{PerTokenUSD: tc.budget}, broker.RateLimits{}, &adm)(c)
				c.Upstreams["perplexity"] = pp.URL
			})
			g := nil2gen(411)
			f.addHeld(t, "hc_pplx", "perplexity", "api-key", "pplx-"+g.Alnum(48))
			tok, id := f.issue(t, g, []string{"chat", "model:sonar-pro", "provider:perplexity"})
			pp.mu.Lock()
			before := len(pp.seen)
			pp.mu.Unlock()
			st, out, _ := f.postH(t, "/perplexity/v1/chat/completions", tok, body)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, out)
			}
			if st != http.StatusOK {
				pp.mu.Lock()
				defer pp.mu.Unlock()
				if len(pp.seen) != before {
					t.Fatal("a refused request reached Perplexity")
				}
				return
			}
			recs := f.waitRecords(t, 1)
			want := (1000*3+50*15)/1e6 + 0.014
			if math.Abs(recs[0].CostUSD-want) > 1e-12 {
				t.Fatalf("recorded %+v, want cost %v", recs, want)
			}
			if spent, _ := adm.Spent(id); math.Abs(spent-want) > 1e-12 {
				t.Fatalf("budget spent %v, want %v", spent, want)
			}
		})
	}
}
