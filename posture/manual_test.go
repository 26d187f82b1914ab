package posture

import (
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// TestManualToken: a held credential whose role's tokens were issued by
// hand is flagged under NHI10, medium while such a token is valid, low
// once all have lapsed, and not at all past the 30-day window or for
// credentials the tokens cannot use.
func TestManualToken(t *testing.T) {
	mk := builder(7)
	now := testNow()
	held := func(d *aicred.CredentialDetail) { d.Held = true }
	used := mk("openai", "project-key", verified(aicred.Live), held)
	other := mk("anthropic", "api-key", verified(aicred.Live), held)
	grant := func(id, workload string, issued time.Time, ttl time.Duration, revoked bool) aicred.Grant {
		g := aicred.Grant{ID: id, Class: aicred.TokenWorkload, Issuer: "aicred:manual", Subject: workload,
			Role: "dev", Credentials: []string{"hc_used"}, IssuedAt: issued, ExpiresAt: issued.Add(ttl)}
		if revoked {
			g.RevokedAt = issued.Add(time.Minute)
		}
		return g
	}
	heldIDs := map[string]aicred.Fingerprint{"hc_used": used.Fingerprint, "hc_other": other.Fingerprint}
	cases := []struct {
		name   string
		grants []aicred.Grant
		want   Severity
		reason string
	}{
		{name: "none"},
		{name: "one valid", grants: []aicred.Grant{grant("tok_1", "laptop", now.Add(-5*time.Minute), 15*time.Minute, false)},
			want: Medium, reason: "1 token issued by hand in the last 30 days may use it (1 still valid), for laptop."},
		{name: "lapsed and revoked", grants: []aicred.Grant{
			grant("tok_1", "laptop", now.Add(-3*day), time.Hour, false),
			grant("tok_2", "ci-debug", now.Add(-10*time.Minute), time.Hour, true)},
			want: Low, reason: "2 tokens issued by hand in the last 30 days may use it (0 still valid), for ci-debug, laptop."},
		{name: "older than the window", grants: []aicred.Grant{grant("tok_1", "laptop", now.Add(-31*day), time.Hour, false)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := EvaluateInventory(Inventory{Credentials: []aicred.CredentialDetail{used, other}, HandIssued: c.grants, Held: heldIDs}, Config{}, now)
			for _, cp := range r.Credentials {
				var ev *Evidence
				for i := range cp.Findings {
					if cp.Findings[i].Check == "AIC-NHI10-MANUAL-TOKEN" {
						ev = &cp.Findings[i]
					}
				}
				if cp.Fingerprint == other.Fingerprint {
					if ev != nil {
						t.Errorf("flagged a credential no hand-issued token may use: %s", ev.Reason)
					}
					continue
				}
				switch {
				case c.want == None && ev != nil:
					t.Errorf("fired: %s", ev.Reason)
				case c.want != None && ev == nil:
					t.Errorf("did not fire")
				case ev != nil && (ev.Severity != c.want || ev.Reason != c.reason || ev.NHI != NHI10):
					t.Errorf("got %s %s %q, want %s %q", ev.NHI, ev.Severity, ev.Reason, c.want, c.reason)
				}
			}
			if c.want != None {
				for _, item := range r.NHI {
					if item.ID == string(NHI10) && item.Credentials != 1 {
						t.Errorf("NHI10 counts %d credentials, want 1", item.Credentials)
					}
				}
			}
		})
	}
	// Evaluate without tokens is EvaluateInventory without tokens.
	a := Evaluate([]aicred.CredentialDetail{used}, Config{}, now)
	b := EvaluateInventory(Inventory{Credentials: []aicred.CredentialDetail{used}}, Config{}, now)
	if len(a.Credentials[0].Findings) != len(b.Credentials[0].Findings) || strings.Contains(a.Credentials[0].KindName, "manual") {
		t.Error("Evaluate and EvaluateInventory disagree without tokens")
	}
}
