package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// Benchmark sizes: the target is every page under 200 ms of
// server time with 10,000 credentials and 1,000,000 usage records.
const (
	benchCredentials = 10_000
	benchUsage       = 1_000_000
	benchWorkloads   = 200
	benchDays        = 30
)

func seedBench(path string) (aicred.Fingerprint, error) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer st.Close()
	g := provider.NewGen(99)
	now := time.Now()
	var first aicred.Fingerprint
	var obs []aicred.Observation
	for i := range benchCredentials {
		s := aicred.NewSecret("sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74))
		if i == 0 {
			first = s.Fingerprint()
		}
		for j := range 1 + i%2 {
			obs = append(obs, aicred.Observation{Provider: "openai", Kind: "project-key", Redacted: s.Redacted(), Capabilities: []aicred.Capability{aicred.CapInference},
				Sighting: aicred.Sighting{Fingerprint: s.Fingerprint(), Rule: "openai-project-key", Origin: fmt.Sprintf("https://github.com/acme/repo%d", i%300),
					Source: aicred.SourceGit, Path: fmt.Sprintf("src/app%d/settings%d.py", i%50, j), Line: 10, Commit: g.Hex(40), AuthorDate: now.Add(-time.Duration(i%400) * 24 * time.Hour)}})
		}
		if len(obs) >= 1000 {
			if _, err := st.RecordSightings(ctx, obs); err != nil {
				return "", err
			}
			obs = obs[:0]
		}
	}
	if _, err := st.RecordSightings(ctx, obs); err != nil {
		return "", err
	}
	models := []string{"gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "claude-sonnet-4-5"}
	recs := make([]aicred.UsageRecord, 0, 10_000)
	span := time.Duration(benchDays) * 24 * time.Hour
	for i := range benchUsage {
		m := models[i%len(models)]
		prov := "openai"
		if i%len(models) >= 2 {
			prov = "anthropic"
		}
		recs = append(recs, aicred.UsageRecord{Time: now.Add(-span * time.Duration(i) / benchUsage), TokenID: fmt.Sprintf("tok_%06d", i%5000),
			Workload: fmt.Sprintf("https://issuer.test workload-%03d", i%benchWorkloads), Role: "chat", Provider: prov, Model: m,
			Usage: aicred.Usage{InputTokens: 1200, OutputTokens: 300}, CostUSD: 0.004, Status: 200, Outcome: aicred.OutcomeOK})
		if len(recs) == cap(recs) {
			if err := st.RecordUsage(ctx, recs); err != nil {
				return "", err
			}
			recs = recs[:0]
		}
	}
	return first, st.RecordUsage(ctx, recs)
}

// BenchmarkPages measures the server time of each page: one request
// through the console's handler, logged in, with the seeded store. The
// posture is evaluated at most every PostureTTL; "overview (posture
// evaluated)" measures a page that evaluates it afresh.
func BenchmarkPages(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	fp, err := seedBench(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	bc := &broker.Config{Roles: []broker.Role{{Name: "chat", Providers: []string{"openai"}, Credentials: []string{"hc_x"}, Budget: broker.Budget{PerWorkloadDailyUSD: 10}}}}
	con, err := New(Options{Store: st, Broker: bc, Log: quiet, PostureTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	id, err := con.sessions.start(context.Background(), &session{actor: "admin:tok_bench", name: "bench", canWrite: true})
	if err != nil {
		b.Fatal(err)
	}
	h := con.Handler()
	get := func(b *testing.B, path string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %.300s", path, rec.Code, rec.Body.String())
		}
	}
	get(b, "/ui/") // evaluates the posture once
	pages := []struct{ name, path string }{
		{"overview", "/ui/"}, {"inventory", "/ui/inventory"}, {"inventory-search", "/ui/inventory?q=app7&sort=age"},
		{"credential", "/ui/credentials/" + string(fp)}, {"posture", "/ui/posture"},
		{"usage-30d", "/ui/usage?days=30"}, {"usage-7d", "/ui/usage?days=7"}, {"alerts", "/ui/alerts"}, {"tokens", "/ui/tokens"},
		{"config", "/ui/config"}, {"audit", "/ui/audit"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				get(b, p.path)
			}
		})
	}
	// The posture is evaluated in the background (no page waits for it
	// once the console is warm); this is that evaluation's own time.
	b.Run("posture-evaluation-background", func(b *testing.B) {
		for b.Loop() {
			if _, err := con.posture.evaluate(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
