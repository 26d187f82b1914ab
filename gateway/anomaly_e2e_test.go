package gateway

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
)

// anomalyHeld is a HeldStore in memory (this file keeps its own fixture:
// the shared one is changing under other work).
type anomalyHeld map[string]*aicred.HeldCredential

func (m anomalyHeld) GetHeldCredential(_ context.Context, id string) (*aicred.HeldCredential, error) {
	if h, ok := m[id]; ok {
		return h, nil
	}
	return nil, aicred.Errorf(aicred.ErrNotFound, "held %s: not found", id)
}

// TestAnomalySuspendsThroughGateway: a workload with a quiet history
// sends a burst of expensive requests through a real gateway; the
// detector raises spend_spike, the role's suspend list revokes the
// workload's tokens, and the next request is refused 401 before upstream.
func TestAnomalySuspendsThroughGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := provider.NewGen(41)
	heldKey := "sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74)

	// The provider: every answer reports 100k input and 100k output
	// tokens of gpt-4o, $1.25 a request.
	upstreamCalls := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+heldKey {
			t.Errorf("upstream: held key not received")
		}
		_, _ = io.Copy(io.Discard, r.Body)
		upstreamCalls++
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06",
"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":100000,"completion_tokens":100000,"total_tokens":200000}}`)
	}))
	defer up.Close()

	master := make([]byte, seal.KeySize)
	_, _ = rand.Read(master)
	ring, err := seal.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	s := aicred.NewSecret(heldKey)
	h := &aicred.HeldCredential{ID: "hc_openai", Provider: "openai", Fingerprint: s.Fingerprint()}
	if h.Sealed, h.KeyID, err = ring.Seal(s, h.AAD()); err != nil {
		t.Fatal(err)
	}

	tokens := broker.NewMemoryTokenStore(nil)
	token := provider.FormatToken(provider.TokenPrefixWorkload, g.Alnum(provider.TokenRandomLen))
	grant := &aicred.Grant{
		ID: "tok_" + g.Hex(24), TokenHash: aicred.HashToken(token), Class: aicred.TokenWorkload,
		Issuer: "https://issuer.test", Subject: "batch-job", Role: "batch",
		Scope: []string{"chat", "model:gpt-4o*", "provider:openai"}, Credentials: []string{"hc_openai"},
		ExpiresAt: time.Now().Add(time.Hour),
	}
	if err := tokens.IssueGrant(ctx, grant); err != nil {
		t.Fatal(err)
	}
	role := &broker.Role{Name: "batch", Anomaly: broker.AnomalyPolicy{Suspend: []string{broker.AnomalySpendSpike}}}
	roles := func(name string) (*broker.Role, bool) { return role, name == role.Name }

	det, err := NewDetector(DetectorConfig{Revoker: tokens, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	if err := det.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	// A quiet history: a cent a minute for ten minutes.
	workload := grant.Issuer + " " + grant.Subject
	for m := 10; m > 0; m-- {
		r := UsageRecord{Time: time.Now().Add(-time.Duration(m) * time.Minute), TokenID: grant.ID, Workload: workload, Role: "batch",
			Provider: "openai", Model: "gpt-4o", CostUSD: 0.01, Usage: Usage{InputTokens: 500, OutputTokens: 500}, SourceIP: "127.0.0.1", UserAgent: "batch/1"}
		_ = det.RecordUsage(ctx, r)
	}

	rec := &MemoryRecorder{}
	gw, err := New(Config{
		Tokens: tokens, Held: anomalyHeld{h.ID: h}, Opener: ring,
		Upstreams: map[string]string{"openai": up.URL},
		Usage:     Recorders{rec, det}, Refusals: det, Roles: roles,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	call := func() int {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o","max_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("User-Agent", "batch/1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	// The burst: the first request alone ($1.25) is over the floor and
	// over five times the baseline.
	// The suspension is asynchronous: it may land before the second.
	burst := 0
	for i := range 3 {
		switch st := call(); {
		case st == http.StatusOK:
			burst++
		case i == 0 || st != http.StatusUnauthorized:
			t.Fatalf("burst request %d: status %d", i, st)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, err := tokens.LookupGrant(ctx, grant.TokenHash)
		if err != nil {
			t.Fatal(err)
		}
		if !g.RevokedAt.IsZero() {
			if !strings.Contains(g.RevokeReason, "spend_spike") {
				t.Errorf("revoke reason %q", g.RevokeReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not suspended; stats %+v", det.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := upstreamCalls
	if st := call(); st != http.StatusUnauthorized {
		t.Fatalf("after suspension: status %d, want 401", st)
	}
	if upstreamCalls != before {
		t.Error("the refused request reached upstream")
	}
	if recs := rec.Records(); len(recs) != burst || recs[0].CostUSD != 1.25 {
		t.Errorf("usage records %+v", recs)
	}
	// The revoked token keeps knocking: past 20 refusals in a minute
	// from one address, the refusal hook raises auth_failures.
	for range 20 {
		call()
	}
	deadline = time.Now().Add(5 * time.Second)
	for det.Stats().Alerts[AlertAuthFailures] == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := det.Stats()
	if st.Alerts[AlertSpendSpike] != 1 || st.Alerts[AlertAuthFailures] != 1 || st.Suspensions != 1 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}
