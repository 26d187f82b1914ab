package posture

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture/posturetest"
)

// smallInventory: a live leaked OpenAI key, a dead Groq key in a .env, a
// clean held Mistral key and an unchecked OpenAI admin key in a notebook.
func smallInventory() []aicred.CredentialDetail {
	mk := builder(3)
	now := testNow()
	live, dead := verified(aicred.Live), verified(aicred.Dead)
	a := mk("openai", "project-key", live, seenAt(aicred.SourceGit, "src/app.py", now.Add(-40*day)),
		authored(time.Date(2025, 11, 3, 0, 0, 0, 0, time.UTC)),
		set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-200 * day) }))
	b := mk("groq", "api-key", dead, seenAt(aicred.SourceFile, ".env", time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)))
	c := mk("mistral", "api-key", live, set(func(d *aicred.CredentialDetail) { d.Held = true }))
	d := mk("openai", "admin-key", seenAt(aicred.SourceNotebook, "eval.ipynb", time.Date(2025, 9, 20, 0, 0, 0, 0, time.UTC)))
	return []aicred.CredentialDetail{b, c, d, a}
}

func TestEvaluate(t *testing.T) {
	inv := smallInventory()
	r := Evaluate(inv, Config{}, testNow())
	tt := r.Totals
	if tt.Credentials != 4 || tt.Affected != 3 || tt.Clean != 1 || tt.Live != 2 || tt.LiveLeaked != 1 || tt.Held != 1 {
		t.Errorf("totals %+v", tt)
	}
	if tt.BySeverity.Critical != 1 || tt.BySeverity.High != 1 || tt.BySeverity.Info != 1 || tt.BySeverity.Total() != tt.Affected {
		t.Errorf("by severity %+v", tt.BySeverity)
	}
	if tt.FindingsBySeverity.Total() != tt.Findings {
		t.Errorf("findings %d vs %+v", tt.Findings, tt.FindingsBySeverity)
	}
	// Ranking: the live leaked key first, the clean key last with risk 0.
	first, last := r.Credentials[0], r.Credentials[3]
	if first.Fingerprint != inv[3].Fingerprint || first.Worst != Critical || first.Findings[0].Severity != Critical {
		t.Errorf("first %s %s %+v", first.Provider, first.Kind, first.Findings)
	}
	if last.Fingerprint != inv[1].Fingerprint || last.Risk != 0 || len(last.Findings) != 0 {
		t.Errorf("last %+v", last)
	}
	for i := 1; i < len(r.Credentials); i++ {
		if r.Credentials[i].Risk > r.Credentials[i-1].Risk {
			t.Errorf("not ranked: %d after %d", r.Credentials[i].Risk, r.Credentials[i-1].Risk)
		}
	}
	for _, c := range r.Credentials[:3] {
		if c.Risk < 1 || c.Risk > 100 {
			t.Errorf("risk %d", c.Risk)
		}
	}
	if first.AgeDays != 200 || first.AgeFrom != "created_at" || len(first.Locations) != 1 || first.Locations[0].Path != "src/app.py" {
		t.Errorf("evidence of first: %+v", first)
	}

	if len(r.NHI) != 10 || len(r.CSF) != 5 {
		t.Fatalf("%d NHI items, %d CSF", len(r.NHI), len(r.CSF))
	}
	nhi2 := r.NHI[1]
	if nhi2.ID != "NHI2" || nhi2.Credentials != 3 || nhi2.BySeverity.Critical != 1 || nhi2.BySeverity.High != 1 ||
		nhi2.BySeverity.Info != 1 || nhi2.Worst != Critical || !slices.Contains(nhi2.Checks, "AIC-NHI2-LEAK") {
		t.Errorf("NHI2 %+v", nhi2)
	}
	if r.CSF[0].ID != "PR.AA-01" || r.CSF[0].Credentials != 3 {
		t.Errorf("PR.AA-01 %+v", r.CSF[0])
	}
	if len(r.Providers) != 3 || r.Providers[0].Provider != "openai" || r.Providers[0].Credentials != 2 || r.Providers[0].Name != "OpenAI" {
		t.Errorf("providers %+v", r.Providers)
	}
	if m := r.Providers[2]; m.Provider != "mistral" || m.Clean != 1 {
		t.Errorf("clean provider last: %+v", m)
	}

	// Leak timeline: notebook in September, git author date in November,
	// October filled in; the .env is not a leak.
	want := []MonthCount{{"2025-09", 1, 0, 1}, {"2025-10", 0, 0, 0}, {"2025-11", 1, 1, 1}}
	if !slices.Equal(r.Leaks.Months, want) || r.Leaks.Total != 2 || r.Leaks.Earlier != 0 {
		t.Errorf("timeline %+v", r.Leaks)
	}
	short := Evaluate(inv, Config{TimelineMonths: 2}, testNow())
	if len(short.Leaks.Months) != 2 || short.Leaks.Months[0].Month != "2025-10" || short.Leaks.Earlier != 1 {
		t.Errorf("short timeline %+v", short.Leaks)
	}
}

func TestEvaluatePolicy(t *testing.T) {
	inv := smallInventory()
	r := Evaluate(inv, Config{
		Disable:  []string{"AIC-NHI2-LEAK"},
		Severity: map[string]Severity{"AIC-NHI2-PLAINTEXT": High},
	}, testNow())
	if !slices.Equal(r.Disabled, []string{"AIC-NHI2-LEAK"}) {
		t.Errorf("disabled %v", r.Disabled)
	}
	for _, c := range r.Checks {
		if c.ID == "AIC-NHI2-LEAK" {
			t.Error("disabled check listed")
		}
		if c.ID == "AIC-NHI2-PLAINTEXT" && c.Severity != High {
			t.Errorf("pinned check severity %s", c.Severity)
		}
	}
	for _, c := range r.Credentials {
		for _, f := range c.Findings {
			if f.Check == "AIC-NHI2-LEAK" {
				t.Error("disabled check fired")
			}
			if f.Check == "AIC-NHI2-PLAINTEXT" && f.Severity != High {
				t.Errorf("pinned severity ignored: %s (dead key would be info)", f.Severity)
			}
		}
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	now := testNow()
	inv := posturetest.Inventory(7, 400, now)
	a, _ := json.Marshal(Evaluate(inv, Config{}, now))
	shuffled := slices.Clone(inv)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b, _ := json.Marshal(Evaluate(shuffled, Config{}, now))
	c, _ := json.Marshal(Evaluate(inv, DefaultConfig(), now))
	if string(a) != string(b) {
		t.Error("the order of the inventory changes the report")
	}
	if string(a) != string(c) {
		t.Error("Config{} and DefaultConfig() differ")
	}
	// Evaluate leaves its input alone.
	again, _ := json.Marshal(Evaluate(inv, Config{}, now))
	if string(a) != string(again) {
		t.Error("second evaluation differs")
	}
}

func TestEvaluateEmpty(t *testing.T) {
	r := Evaluate(nil, Config{}, testNow())
	if r.Totals.Credentials != 0 || len(r.NHI) != 10 || len(r.CSF) != 5 || len(r.Leaks.Months) != 0 || r.Credentials == nil {
		t.Errorf("%+v", r)
	}
	if len(r.Checks) != len(Checks(Config{})) {
		t.Errorf("%d checks", len(r.Checks))
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkEvaluateOnly10k(b *testing.B) {
	now := testNow()
	inv := posturetest.Inventory(1, 10_000, now)
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(inv, Config{}, now)
	}
}
